//! Copies are counted once, by the master, over every station, whatever happens to the logs
//! (`docs/protocol.md` §5.9, `docs/policy.md` "Copies: the quota rule"). Each test reproduces
//! one way an outside review beat the quota of the old design (counts taken from whatever the
//! audit logs held, by station and seq); real KDC, master, stations and client.

use burnstand_audit::Record;
use nix::sys::signal::Signal;

use crate::lab::{text, wait_for, Lab, Policy, Running};

fn quota_of_big(copies: u32) -> Lab {
    Lab::start_with_policy(&Policy {
        big_copies: Some(copies),
        ..Policy::default()
    })
}

/// A station kept reserved: `user` burns `sample` (no limit) and is stopped (SIGSTOP) once the
/// burn started, so the master's reservation lasts until [`Hold::release`]. BIND hands out the
/// first free station, so holding one steers the next user to the other.
pub(crate) struct Hold {
    client: Running,
    /// The master's name of the held station (`dvd-1`, `dvd-2`).
    pub(crate) station: String,
}

pub(crate) fn hold_a_station(lab: &Lab, user: &str) -> Hold {
    let client = lab.spawn(user, &["burn", "sample"]);
    lab.wait_for_burn_start(user);
    client.signal(Signal::SIGSTOP);
    let principal = lab.principal(user);
    let bind = lab.wait_for_master_record("the holder's bind", |r| {
        r.event == "bind" && r.get_str("principal") == Some(principal.as_str())
    });
    Hold {
        client,
        station: bind
            .get_str("station")
            .expect("bind names its station")
            .to_owned(),
    }
}

impl Hold {
    pub(crate) fn release(self) {
        self.client.signal(Signal::SIGCONT);
        let (status, stdout, stderr) = self.client.wait();
        assert!(status.success(), "{stdout}\n{stderr}");
    }
}

/// The master's records of `event` about `user`'s copies of `big`.
fn big_records(lab: &Lab, event: &str, user: &str) -> Vec<Record> {
    let principal = lab.principal(user);
    lab.master_records()
        .into_iter()
        .filter(|r| {
            r.event == event
                && r.get_str("user") == Some(principal.as_str())
                && r.get_str("sha256") == Some(lab.big.sha256.as_str())
        })
        .collect()
}

/// The master's station name of the station whose log holds `user`'s burn.start.
fn bind_station(lab: &Lab, user: &str) -> String {
    let principal = lab.principal(user);
    let binds: Vec<String> = lab
        .master_records()
        .into_iter()
        .filter(|r| r.event == "bind" && r.get_str("principal") == Some(principal.as_str()))
        .filter_map(|r| r.get_str("station").map(str::to_owned))
        .collect();
    binds.last().cloned().expect("a bind of this user")
}

/// `burnstand ARGS` as `user` must succeed.
fn burns(lab: &Lab, user: &str, args: &[&str]) {
    let out = lab.run(user, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr),
        lab.logs()
    );
}

/// `burnstand ARGS` as `user` must fail; its stderr.
fn refused(lab: &Lab, user: &str, args: &[&str]) -> String {
    let out = lab.run(user, args);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    text(&out.stderr)
}

/// Waits until every station's log holds at least `n` records of a control link coming up.
fn wait_for_control_links(lab: &Lab, n: usize) {
    for log in &lab.station_audits {
        wait_for(
            &format!("{n} control links up at {}", log.display()),
            || {
                let ups = crate::lab::read_records(log)
                    .iter()
                    .filter(|r| r.event == "control.link" && r.get_str("state") == Some("up"))
                    .count();
                (ups >= n).then_some(())
            },
        );
    }
}

/// Lines of the master's logs (first run and restart) that say a sync with station
/// `station` (master's name) reached the end of that station's log.
fn syncs_done(lab: &Lab, station: &str) -> usize {
    ["master.log", "master-2.log"]
        .iter()
        .map(|name| std::fs::read_to_string(lab.dir.path().join(name)).unwrap_or_default())
        .map(|log| {
            log.lines()
                .filter(|l| l.contains("recorded up to its log's end") && l.contains(station))
                .count()
        })
        .sum()
}

/// Item 1 of the review: the master counted copies from its audit log, so rotating it (moved
/// aside, a new one started) gave every user a fresh quota. Now the count is in the ledger
/// (`state_dir/ledger.sqlite`), which a rotation does not touch.
#[test]
fn moving_the_masters_audit_log_aside_does_not_reset_a_quota() {
    let mut lab = quota_of_big(1);
    // alice's copy goes to the second station, so the station she gets next has no record of
    // it in its own log: only the master can refuse her then.
    let hold = hold_a_station(&lab, "bob");
    burns(&lab, "alice", &["burn", "big"]);
    let first = bind_station(&lab, "alice");
    assert_ne!(first, hold.station);
    hold.release();
    assert_eq!(big_records(&lab, "copy.grant", "alice").len(), 1);
    assert_eq!(big_records(&lab, "burn.receipt", "alice").len(), 1);

    lab.stop_master();
    let aside = lab.master_audit.with_extension("jsonl.1");
    std::fs::rename(&lab.master_audit, &aside).expect("move the master's log aside");
    lab.restart_master();
    // Both stations linked to the new master (a station without its link refuses limited
    // images for that reason instead).
    wait_for_control_links(&lab, 2);

    let stderr = refused(&lab, "alice", &["burn", "big"]);
    assert!(
        stderr.contains("the master refused the copy: quota used up: 1 of 1 copies of big"),
        "{stderr}\n{}",
        lab.logs()
    );
    assert_ne!(
        bind_station(&lab, "alice"),
        first,
        "asked the other station"
    );
    // The new log holds no copy of alice's: the count came from the ledger.
    assert!(big_records(&lab, "copy.grant", "alice").is_empty());
    assert!(big_records(&lab, "burn.receipt", "alice").is_empty());
    let alice = lab.principal("alice");
    let starts = lab
        .station_records()
        .into_iter()
        .filter(|r| r.event == "burn.start" && r.get_str("user") == Some(alice.as_str()))
        .count();
    assert_eq!(starts, 1, "nothing more was written");
}

/// Item 2: a station's log moved aside (its seq starts again at 1). The master's position in
/// that station's log no longer matches, so it asks for every receipt again; receipts are
/// counted by copy id, so nothing counts twice and the copy from the old log still counts.
#[test]
fn moving_a_stations_log_aside_neither_double_counts_nor_loses_a_copy() {
    let mut lab = quota_of_big(2);
    burns(&lab, "alice", &["burn", "big"]);
    assert_eq!(bind_station(&lab, "alice"), "dvd-1");
    let old = big_records(&lab, "burn.receipt", "alice");
    assert_eq!(old.len(), 1);

    lab.kill_station(1);
    let log = lab.station_audits[0].clone();
    std::fs::rename(&log, log.with_extension("jsonl.1")).expect("move the station's log aside");
    lab.restart_station(1);
    wait_for_control_links(&lab, 1);

    // The next copy lands on the same station, in its new log.
    burns(&lab, "alice", &["burn", "big"]);
    assert_eq!(bind_station(&lab, "alice"), "dvd-1");
    let receipts = big_records(&lab, "burn.receipt", "alice");
    assert_eq!(receipts.len(), 2);
    // The two logs start alike, so the two receipts usually have the same seq (7 in this
    // lab): a count by (station, seq) would take the second copy for the first.
    let new_seq = receipts[1].get_u64("station_seq").expect("station_seq");
    let old_seq = old[0].get_u64("station_seq").expect("station_seq");

    // Restart it once more: the master syncs from its newest position in that station's log,
    // over receipts of both logs.
    let before = syncs_done(&lab, "dvd-1");
    lab.kill_station(1);
    lab.restart_station(1);
    wait_for("the master's sync with the restarted station", || {
        (syncs_done(&lab, "dvd-1") > before).then_some(())
    });

    // The third copy is refused on either station, and the master counts exactly 2.
    let stderr = refused(&lab, "alice", &["burn", "big"]);
    assert!(
        stderr.contains("quota used up: 2 of 2 copies of big"),
        "{stderr}\n{}",
        lab.logs()
    );
    let receipts = big_records(&lab, "burn.receipt", "alice");
    let mut ids: Vec<&str> = receipts
        .iter()
        .filter_map(|r| r.get_str("copy_id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (receipts.len(), ids.len()),
        (2, 2),
        "one receipt per copy (seqs {old_seq} and {new_seq}): {receipts:?}"
    );
    assert_eq!(big_records(&lab, "copy.grant", "alice").len(), 2);
}

/// Item 3: two stations presenting one station id would share receipts and positions. The
/// master refuses the second one's control link, audits `station.conflict`, and never
/// reserves it for a user while the conflict lasts, also not between its retries (the lab
/// sets `station_retry_after` to 1 s, far below the link's back-off).
#[test]
fn a_station_presenting_another_stations_id_gets_no_users() {
    let lab = Lab::start_with_policy(&Policy {
        shared_station_id: Some("one-id-for-two"),
        master_limits: "station_retry_after = \"1s\"".into(),
        ..Policy::default()
    });
    let conflict =
        lab.wait_for_master_record("station.conflict", |r| r.event == "station.conflict");
    assert_eq!(conflict.get_str("station_id"), Some("one-id-for-two"));
    let loser = conflict.get_str("station_name").expect("name").to_owned();
    let winner = conflict.get_str("other_station").expect("other").to_owned();
    assert_ne!(loser, winner);

    // With the good station reserved, every BIND is refused: the other one is not offered,
    // through several of the master's attempts to link it.
    let hold = hold_a_station(&lab, "alice");
    assert_eq!(hold.station, winner);
    let conflicts = || {
        lab.master_records()
            .iter()
            .filter(|r| r.event == "station.conflict")
            .count()
    };
    let seen = conflicts();
    let attempts = std::cell::Cell::new(0);
    wait_for("two more attempts to link the conflicting station", || {
        let out = lab.run("bob", &["status"]);
        attempts.set(attempts.get() + 1);
        assert_ne!(
            out.status.code(),
            Some(0),
            "BIND {} got a station: {}\n{}",
            attempts.get(),
            text(&out.stdout),
            lab.logs()
        );
        (conflicts() >= seen + 2).then_some(())
    });
    // Not one of bob's BINDs reserved anything (bind.deny records are budgeted per
    // principal, so their count is not the number of attempts; a `bind` would be there).
    let bob = lab.principal("bob");
    assert!(attempts.get() >= 1);
    let bound = lab
        .master_records()
        .into_iter()
        .filter(|r| r.event == "bind" && r.get_str("principal") == Some(bob.as_str()))
        .count();
    assert_eq!(bound, 0);
    hold.release();

    // Free again: users get the good station, one after the other.
    for user in ["bob", "carol", "dave"] {
        burns(&lab, user, &["status"]);
    }
    let binds: Vec<String> = lab
        .master_records()
        .into_iter()
        .filter(|r| r.event == "bind")
        .filter_map(|r| r.get_str("station").map(str::to_owned))
        .collect();
    assert_eq!(binds.len(), 4, "{binds:?}");
    assert!(binds.iter().all(|s| *s == winner), "{binds:?}");
}

/// Item 4: quotas hold across stations used at the same time. Two entitled users, one copy
/// each, burn at once on the two stations and both succeed; a user cannot add a copy on a
/// second station in parallel with the first; a `--copies 2` BURN beyond the quota is refused
/// before anything is written.
#[test]
fn two_users_burn_at_once_on_two_stations_within_their_own_quotas() {
    let lab = quota_of_big(1);
    let alice = lab.spawn("alice", &["burn", "big"]);
    lab.wait_for_burn_start("alice");
    // alice's client is stopped while her copy burns: her reservation lasts, bob gets the
    // other station while hers is still burning.
    alice.signal(Signal::SIGSTOP);
    let bob = lab.spawn("bob", &["burn", "big"]);
    lab.wait_for_burn_start("bob");
    alice.signal(Signal::SIGCONT);
    for (user, client) in [("alice", alice), ("bob", bob)] {
        let (status, stdout, stderr) = client.wait();
        assert!(
            status.success(),
            "{user}: {stdout}\n{stderr}\n{}",
            lab.logs()
        );
    }
    let grants: Vec<(String, String)> = lab
        .master_records()
        .into_iter()
        .filter(|r| r.event == "copy.grant")
        .map(|r| {
            (
                r.get_str("user").unwrap_or("").to_owned(),
                r.get_str("station_name").unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        [
            (lab.principal("alice"), "dvd-1".to_owned()),
            (lab.principal("bob"), "dvd-2".to_owned())
        ]
    );

    // carol, quota 1, asks for two copies at once: refused before anything is written.
    // One station, one BURN of two copies (`--drives 1`; a job would ask per copy).
    let stderr = refused(
        &lab,
        "carol",
        &["burn", "big", "--copies", "2", "--drives", "1"],
    );
    assert!(
        stderr.contains("you asked for 2 copies of \"big\" but your quota allows 1 more"),
        "{stderr}"
    );
    assert!(big_records(&lab, "copy.grant", "carol").is_empty());
}

/// Item 4, one user: a BURN of two copies on one station, while the user's other copy is on
/// the other station's log only. The station's own count allows both; the master, counting
/// every station, grants the first and refuses the second with the quota's reason.
#[test]
fn a_multi_copy_burn_stops_at_the_quota_counted_over_every_station() {
    let lab = quota_of_big(2);
    burns(&lab, "alice", &["burn", "big"]);
    assert_eq!(bind_station(&lab, "alice"), "dvd-1");
    let hold = hold_a_station(&lab, "bob");
    assert_eq!(hold.station, "dvd-1");

    // One BURN of two copies on the free station (`--drives 1`: not a job).
    let out = lab.run("alice", &["burn", "big", "--copies", "2", "--drives", "1"]);
    hold.release();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the master refused the copy: quota used up: 2 of 2 copies of big"),
        "{stderr}\n{}",
        lab.logs()
    );
    assert_eq!(bind_station(&lab, "alice"), "dvd-2");

    // Exactly one copy of that BURN was granted and written.
    let grants = big_records(&lab, "copy.grant", "alice");
    let second: Vec<&Record> = grants
        .iter()
        .filter(|r| r.get_str("station_name") == Some("dvd-2"))
        .collect();
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert_eq!(second.len(), 1, "{grants:?}");
    assert_eq!(
        (second[0].get_u64("copy"), second[0].get_u64("copies")),
        (Some(1), Some(2))
    );
    let alice = lab.principal("alice");
    let starts: Vec<Record> = lab
        .station_records()
        .into_iter()
        .filter(|r| r.event == "burn.start" && r.get_str("user") == Some(alice.as_str()))
        .collect();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert_eq!(
        starts
            .iter()
            .filter(|r| r.get_str("copy_id") == second[0].get_str("copy_id"))
            .count(),
        1
    );
}

/// Issue 16, "a rotated log still verifies and quotas are unchanged": both daemons rotate their
/// logs every 4 KiB; after a burn, rotations and restarts of every daemon, the copy still
/// counts, and every log verifies end to end over its segments.
#[test]
fn rotated_logs_still_verify_and_leave_quotas_unchanged() {
    let rotating = "[audit]\nrotate_bytes = 4096\n".to_owned();
    let mut lab = Lab::start_with_policy(&Policy {
        big_copies: Some(1),
        master_extra: rotating.clone(),
        station_extra: rotating,
        ..Policy::default()
    });
    burns(&lab, "alice", &["burn", "big"]);
    // More burns (no limit on `sample`) until the logs have rotated.
    for _ in 0..4 {
        burns(&lab, "bob", &["burn", "sample"]);
    }
    assert!(
        !burnstand_audit::segments_of(&lab.master_audit)
            .expect("segments")
            .is_empty(),
        "the master's log rotated"
    );
    assert!(
        lab.station_audits
            .iter()
            .any(|log| !burnstand_audit::segments_of(log)
                .expect("segments")
                .is_empty()),
        "a station's log rotated"
    );

    lab.stop_master();
    for n in 1..=2 {
        lab.kill_station(n);
        lab.restart_station(n);
    }
    lab.restart_master();
    // Every station's link came up again (counted over all segments of its log).
    for log in &lab.station_audits {
        wait_for(&format!("control links up at {}", log.display()), || {
            let mut ups = 0;
            let _ = burnstand_audit::scan_log(log, None, |r, _| {
                if r.event == "control.link" && r.get_str("state") == Some("up") {
                    ups += 1;
                }
            });
            (ups >= 2).then_some(())
        });
    }

    let stderr = refused(&lab, "alice", &["burn", "big"]);
    assert!(
        stderr.contains("quota used up: 1 of 1 copies of big"),
        "{stderr}\n{}",
        lab.logs()
    );
    for log in std::iter::once(&lab.master_audit).chain(&lab.station_audits) {
        let report = burnstand_audit::verify_log(log, None).expect("verify");
        assert!(report.is_ok(), "{}: {report}", log.display());
        assert_eq!(report.first_seq, 1, "{report}");
    }
}
