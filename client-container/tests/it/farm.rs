//! The burner farm end to end (issue: wait queue, live farm state, one reservation for
//! several commands): the real `burnstand` against the real master and two real stations.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::lab::{text, wait_for, Lab, Policy, REALM};

/// A farm that notices a hung station within a second, and admins.
fn farm_policy(extra: &str) -> Policy {
    Policy {
        master_extra: format!(
            "admin = [\"dave@{REALM}\"]\n\n[farm]\nheartbeat = \"500ms\"\nheartbeat_misses = 6\n{extra}"
        ),
        ..Policy::default()
    }
}

/// `burnstand list --json` as `user`: the counts of the one station type.
fn counts(lab: &Lab, user: &str) -> Value {
    let out = lab.run(user, &["--json", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("list --json");
    report["station_types"][0]["counts"].clone()
}

fn wait_for_counts(lab: &Lab, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, || {
        let c = counts(lab, "dave");
        if pred(&c) {
            Some(c)
        } else {
            std::thread::sleep(Duration::from_millis(100));
            None
        }
    })
}

/// `burnstand reserve` as `user` (with `args`); returns its stdout.
fn reserve(lab: &Lab, user: &str, args: &[&str]) -> String {
    let mut all = vec!["reserve"];
    all.extend_from_slice(args);
    let out = lab.run(user, &all);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn release(lab: &Lab, user: &str) {
    let out = lab.run(user, &["release"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The station the master's `bind` records give `user` (the newest).
fn bound_station(lab: &Lab, user: &str) -> Option<String> {
    let principal = lab.principal(user);
    lab.master_records()
        .iter()
        .rev()
        .find(|r| r.event == "bind" && r.get_str("principal") == Some(principal.as_str()))
        .and_then(|r| r.get_str("station").map(str::to_owned))
}

#[test]
fn the_third_user_waits_sees_position_one_and_gets_the_first_freed_station() {
    let lab = Lab::start_with_policy(&farm_policy(""));
    let alice = reserve(&lab, "alice", &[]);
    assert!(alice.contains("reserved dvd-1 (room 2.11)"), "{alice}");
    reserve(&lab, "bob", &[]);
    let c = counts(&lab, "dave");
    assert_eq!(
        (c["total"].as_u64(), c["free"].as_u64(), c["busy"].as_u64()),
        (Some(2), Some(0), Some(2))
    );
    let carol = lab.spawn("carol", &["burn", "sample", "--wait"]);
    wait_for_counts(&lab, "carol waiting", |c| c["waiting"] == 1);
    let stderr_path = lab.dir.path().join("carol-burn-sample---wait.err");
    wait_for("carol's position on her screen", || {
        std::fs::read_to_string(&stderr_path)
            .ok()
            .filter(|s| s.contains("position 1 of 1"))
    });
    release(&lab, "alice");
    let (status, stdout, stderr) = carol.wait();
    assert!(status.success(), "{stdout}\n{stderr}\n{}", lab.logs());
    assert!(
        stdout.contains("verified") || stderr.contains("verified"),
        "{stdout}\n{stderr}"
    );
    assert_eq!(bound_station(&lab, "carol").as_deref(), Some("dvd-1"));
    let c = counts(&lab, "dave");
    assert_eq!(
        (c["busy"].as_u64(), c["waiting"].as_u64()),
        (Some(1), Some(0))
    );
    release(&lab, "bob");
}

#[test]
fn ctrl_c_while_waiting_leaves_the_queue() {
    let lab = Lab::start_with_policy(&farm_policy(""));
    reserve(&lab, "alice", &[]);
    reserve(&lab, "bob", &[]);
    let carol = lab.spawn("carol", &["burn", "sample", "--wait"]);
    wait_for_counts(&lab, "carol waiting", |c| c["waiting"] == 1);
    carol.signal(Signal::SIGINT);
    let (status, _, stderr) = carol.wait();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("left the queue"), "{stderr}");
    assert_eq!(counts(&lab, "dave")["waiting"], 0);
    let principal = lab.principal("carol");
    lab.wait_for_master_record("carol's queue.leave", |r| {
        r.event == "queue.leave" && r.get_str("principal") == Some(principal.as_str())
    });
    // A station freed now goes to nobody: it is free.
    release(&lab, "alice");
    wait_for_counts(&lab, "a free station", |c| c["free"] == 1);
    release(&lab, "bob");
}

#[test]
fn one_reservation_serves_several_commands_until_release() {
    let lab = Lab::start_with_policy(&farm_policy(""));
    let out = reserve(&lab, "alice", &["--station", "dvd-2"]);
    assert!(out.contains("reserved dvd-2 (room 2.12)"), "{out}");
    for args in [&["images"][..], &["burn", "sample"], &["status"]] {
        let run = lab.run("alice", args);
        assert!(
            run.status.success(),
            "burnstand {args:?}: {}\n{}",
            text(&run.stdout),
            text(&run.stderr)
        );
    }
    let principal = lab.principal("alice");
    let binds = lab
        .master_records()
        .iter()
        .filter(|r| r.event == "bind" && r.get_str("principal") == Some(principal.as_str()))
        .count();
    assert_eq!(binds, 1, "the commands used the held reservation");
    assert_eq!(
        lab.station_log_of("alice").as_deref(),
        Some(lab.station_audits[1].as_path())
    );
    // The held station stays busy between commands; release frees it.
    assert_eq!(counts(&lab, "dave")["busy"], 1);
    release(&lab, "alice");
    wait_for_counts(&lab, "the station free again", |c| c["free"] == 2);
    let again = lab.run("alice", &["release"]);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("nothing to release"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn a_hung_station_is_quarantined_never_handed_out_and_comes_back() {
    let lab = Lab::start_with_policy(&farm_policy(""));
    lab.freeze_station(1, true);
    let c = wait_for_counts(&lab, "the quarantine", |c| c["quarantined"] == 1);
    assert_eq!(
        (c["free"].as_u64(), c["total"].as_u64()),
        (Some(1), Some(2))
    );
    // Every user reads why (LISTX 2), not only the admins.
    let list = text(&lab.run("alice", &["list"]).stdout);
    assert!(
        list.contains("out of use (type 1): dvd-1: quarantined: no heartbeat for"),
        "{list}"
    );
    // Asked at once: after 45 s without a PONG the master closes the link (then: offline).
    let report = lab.run("dave", &["admin", "stations"]);
    let report = text(&report.stdout);
    assert!(
        report.contains("quarantined") && report.contains("no heartbeat"),
        "{report}"
    );
    for user in ["alice", "bob"] {
        let run = lab.run(user, &["burn", "sample"]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        assert_eq!(
            bound_station(&lab, user).as_deref(),
            Some("dvd-2"),
            "{user}"
        );
    }
    let not_admin = lab.run("alice", &["admin", "stations"]);
    assert!(!not_admin.status.success());
    assert!(
        text(&not_admin.stderr).contains("admin group"),
        "{}",
        text(&not_admin.stderr)
    );
    lab.freeze_station(1, false);
    wait_for_counts(&lab, "the station back", |c| {
        c["quarantined"] == 0 && c["free"] == 2
    });
    lab.wait_for_master_record("station.healthy", |r| r.event == "station.healthy");
}

#[test]
fn the_master_restarted_with_a_queue_keeps_the_order() {
    let mut lab = Lab::start_with_policy(&Policy {
        // alice's held reservation would keep the stopping master for the whole drain.
        master_limits: "drain_deadline = \"2s\"".into(),
        ..farm_policy("\n[queue]\nclaim_timeout = \"90s\"\n")
    });
    reserve(&lab, "alice", &["--station", "dvd-1"]);
    let carol = lab.spawn("carol", &["burn", "sample", "--wait", "--station", "dvd-1"]);
    wait_for_counts(&lab, "carol waiting", |c| c["waiting"] == 1);
    let bob = lab.spawn("bob", &["burn", "sample", "--wait", "--station", "dvd-1"]);
    wait_for_counts(&lab, "bob waiting", |c| c["waiting"] == 2);
    // carol, first in the queue, is away while the master restarts: bob comes back first.
    carol.signal(Signal::SIGSTOP);
    lab.stop_master();
    lab.restart_master();
    let bob_principal = lab.principal("bob");
    wait_for("bob back in the queue", || {
        let joins = lab
            .master_records()
            .iter()
            .filter(|r| {
                r.event == "queue.join" && r.get_str("principal") == Some(bob_principal.as_str())
            })
            .count();
        (joins >= 2).then_some(())
    });
    let queue = lab.run("dave", &["--json", "admin", "queue"]);
    let queue: Value = serde_json::from_slice(&queue.stdout).expect("admin queue --json");
    let rows = queue["queue"].as_array().expect("rows").clone();
    let order: Vec<(&str, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["user"].as_str().unwrap_or(""),
                r["connected"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    let (carol_p, bob_p) = (lab.principal("carol"), lab.principal("bob"));
    assert_eq!(
        order,
        [(carol_p.as_str(), false), (bob_p.as_str(), true)],
        "{queue}"
    );
    // dvd-1 is held for carol (alice's reservation ended with the old master): bob waits.
    carol.signal(Signal::SIGCONT);
    let (status, stdout, stderr) = carol.wait();
    assert!(status.success(), "{stdout}\n{stderr}\n{}", lab.logs());
    let (status, stdout, stderr) = bob.wait();
    assert!(status.success(), "{stdout}\n{stderr}\n{}", lab.logs());
    let starts: Vec<String> = crate::lab::read_records(&lab.station_audits[0])
        .iter()
        .filter(|r| r.event == "burn.start")
        .filter_map(|r| r.get_str("user").map(str::to_owned))
        .collect();
    assert_eq!(starts, [carol_p, bob_p]);
}

/// An admin's release of a burning station lets the running copy finish (verified, with its
/// receipt), starts no other, and then ends the reservation.
#[test]
fn an_admin_release_ends_the_reservation_after_the_running_copy() {
    let lab = Lab::start_with_policy(&farm_policy(""));
    let alice = lab.spawn("alice", &["burn", "big", "--copies", "2", "--drives", "1"]);
    lab.wait_for_burn_start("alice");
    let station = bound_station(&lab, "alice").expect("alice's station");
    let out = lab.run("dave", &["admin", "release", &station]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // (Whether the master already knew the copy runs, its station does: it finishes it.)
    assert!(
        text(&out.stdout).contains(&station),
        "{}",
        text(&out.stdout)
    );
    let (status, stdout, stderr) = alice.wait();
    assert!(!status.success(), "{stdout}\n{stderr}");
    // The station says why the job stopped; the master ends the session only after that
    // reached the user (the relay hands a released session's last blocks on).
    assert!(
        stderr.contains("released this station after copy 1 of 2"),
        "{stderr}"
    );
    let principal = lab.principal("alice");
    let receipts: Vec<String> = lab
        .station_records()
        .iter()
        .filter(|r| r.event == "burn.receipt" && r.get_str("user") == Some(principal.as_str()))
        .filter_map(|r| r.get_str("result").map(str::to_owned))
        .collect();
    assert_eq!(
        receipts,
        ["verified"],
        "copy 1 was not cut, copy 2 never started"
    );
    lab.wait_for_master_record("the release's teardown", |r| {
        r.event == "teardown" && r.get_str("reason") == Some("released by an admin")
    });
    wait_for_counts(&lab, "both stations free", |c| c["free"] == 2);
}
