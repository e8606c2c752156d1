//! Reload (SIGHUP, `systemctl reload`) end to end: the real `burnstand` against the real master
//! and stations. A reload keeps a running burn, a changed policy applies to the next BIND and
//! grant, an invalid file is refused with the old policy still in force, stations are added and
//! removed, and `burnstand admin stations` shows a station whose policy digest is not the
//! master's until it reloads the same file.

use std::time::Duration;

use serde_json::Value;

use crate::lab::{text, wait_for, Image, Lab, Policy, REALM};

/// Admins (dave) and the default lab.
fn admin_policy() -> Policy {
    Policy {
        master_extra: format!("admin = [\"dave@{REALM}\"]\n"),
        ..Policy::default()
    }
}

/// A policy text for the lab's two images: `users` may burn both, `big` at most `big_copies`
/// times (so each copy of it needs the master's grant).
fn policy_text(lab: &Lab, users: &[&str], big_copies: u32, comment: &str) -> String {
    let users: Vec<String> = users.iter().map(|u| format!("\"{u}@{REALM}\"")).collect();
    let users = users.join(", ");
    let image = |name: &str, image: &Image, extra: &str| {
        format!(
            "[[image]]\nsha256 = \"{}\"\nname = \"{name}\"\nallow_users = [{users}]\n{extra}\n",
            image.sha256
        )
    };
    format!(
        "# {comment}\nrealms = [\"{REALM}\"]\n\n{}{}",
        image("sample", &lab.sample, ""),
        image("big", &lab.big, &format!("copies = {big_copies}"))
    )
}

fn write_policy(lab: &Lab, text: &str) {
    std::fs::write(lab.dir.path().join("policy.toml"), text).expect("write the policy");
}

/// The `n`th (from 1) `config.reload` record with `result` in the master's log.
fn master_reload(lab: &Lab, n: usize, result: &str) -> burnstand_audit::Record {
    wait_for(
        &format!("the master's config.reload #{n} ({result})"),
        || {
            let reloads: Vec<_> = lab
                .master_records()
                .into_iter()
                .filter(|r| r.event == "config.reload")
                .collect();
            reloads
                .get(n - 1)
                .filter(|r| r.get_str("result") == Some(result))
                .cloned()
        },
    )
}

/// Waits until every station has logged `n` `config.reload` records, the last one `result`.
fn stations_reloaded(lab: &Lab, n: usize, result: &str) {
    for log in &lab.station_audits {
        wait_for(&format!("{}: config.reload #{n}", log.display()), || {
            let reloads: Vec<_> = crate::lab::read_records(log)
                .into_iter()
                .filter(|r| r.event == "config.reload")
                .collect();
            (reloads.len() == n && reloads[n - 1].get_str("result") == Some(result)).then_some(())
        });
    }
}

/// `burnstand --json admin stations` as dave: (name, reason) of every row.
fn stations(lab: &Lab) -> Vec<(String, String)> {
    let out = lab.run("dave", &["--json", "admin", "stations"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("admin stations --json");
    report["stations"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            (
                row["name"].as_str().unwrap_or_default().to_owned(),
                row["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until `admin stations` satisfies `pred`; returns the rows.
fn wait_for_stations(
    lab: &Lab,
    what: &str,
    pred: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    wait_for(what, || {
        let rows = stations(lab);
        if pred(&rows) {
            Some(rows)
        } else {
            std::thread::sleep(Duration::from_millis(100));
            None
        }
    })
}

fn differs(rows: &[(String, String)], name: &str) -> bool {
    rows.iter()
        .any(|(n, reason)| n == name && reason.contains("policy differs"))
}

#[test]
fn a_reload_under_a_running_burn_keeps_it_and_the_new_policy_applies_to_the_next_bind() {
    let lab = Lab::start_with_policy(&admin_policy());
    // big limited: each copy needs the master's grant over the control link.
    write_policy(&lab, &policy_text(&lab, &["alice", "bob"], 5, "first"));
    lab.reload_master();
    for n in 1..=2 {
        lab.reload_station(n);
    }
    master_reload(&lab, 1, "ok");
    stations_reloaded(&lab, 1, "ok");

    let alice = lab.spawn("alice", &["burn", "big"]);
    let start = lab.wait_for_burn_start("alice");
    let copy_id = start.get_str("copy_id").expect("copy id").to_owned();
    // bob loses his entitlement while alice burns; master and stations reload.
    write_policy(&lab, &policy_text(&lab, &["alice"], 5, "second"));
    lab.reload_master();
    for n in 1..=2 {
        lab.reload_station(n);
    }
    let reloaded = master_reload(&lab, 2, "ok");
    stations_reloaded(&lab, 2, "ok");
    // The digest is what `sha256sum` prints for the file.
    let sha256sum = burnstand_testlab::digest("sha256sum", &lab.dir.path().join("policy.toml"));
    assert_eq!(reloaded.get_str("digest"), Some(sha256sum.as_str()));

    // alice's copy goes on: it verifies, and its receipt reaches the master's log.
    let (status, stdout, stderr) = alice.wait();
    assert!(status.success(), "{stdout}\n{stderr}\n{}", lab.logs());
    assert!(stdout.contains("VERIFIED"), "{stdout}");
    let receipt = lab.wait_for_master_record("alice's receipt at the master", |r| {
        r.event == "burn.receipt" && r.get_str("copy_id") == Some(copy_id.as_str())
    });
    assert_eq!(receipt.get_str("result"), Some("verified"));
    assert!(lab
        .master_records()
        .iter()
        .any(|r| r.event == "copy.grant" && r.get_str("copy_id") == Some(copy_id.as_str())));

    // The next BIND follows the new policy: bob is refused, alice still burns.
    let out = lab.run("bob", &["burn", "sample"]);
    assert_eq!(out.status.code(), Some(16), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not entitled"),
        "{}",
        text(&out.stderr)
    );
    let out = lab.run("alice", &["burn", "sample"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn an_invalid_policy_is_refused_and_the_old_one_still_applies() {
    let lab = Lab::start_with_policy(&admin_policy());
    write_policy(&lab, "[[image]]\nsha256 = \"this is not a digest\"\n");
    lab.reload_master();
    for n in 1..=2 {
        lab.reload_station(n);
    }
    let refused = master_reload(&lab, 1, "refused");
    assert!(
        refused
            .get_str("reason")
            .is_some_and(|r| r.contains("policy")),
        "{refused:?}"
    );
    stations_reloaded(&lab, 1, "refused");
    let master_log = std::fs::read_to_string(lab.dir.path().join("master.log")).unwrap();
    assert!(
        master_log.contains("new configuration refused"),
        "{master_log}"
    );
    // The old policy is in force everywhere: bob burns, and no station shows a mismatch.
    let out = lab.run("bob", &["burn", "sample"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        lab.logs()
    );
    assert!(!stations(&lab).iter().any(|(_, r)| r.contains("policy")));
}

#[test]
fn a_station_added_by_reload_is_listed_and_one_removed_is_no_longer_offered() {
    let lab = Lab::start_with_policy(&admin_policy());
    let path = lab.dir.path().join("master.toml");
    let full = std::fs::read_to_string(&path).unwrap();
    let (head, blocks) = full.split_once("\n[[station]]\n").expect("a station block");
    let blocks: Vec<&str> = blocks.split("\n[[station]]\n").collect();
    assert_eq!(blocks.len(), 2);
    let with = |blocks: &[String]| {
        let mut text = head.to_owned();
        for block in blocks {
            text.push_str("\n[[station]]\n");
            text.push_str(block);
        }
        text
    };

    // bob holds dvd-2 when it is removed: his reservation goes on (he still burns on it),
    // nobody else gets it, and it is reported until he lets it go.
    let held = lab.run("bob", &["reserve", "--station", "dvd-2"]);
    assert!(held.status.success(), "{}", text(&held.stderr));
    std::fs::write(&path, with(&[blocks[0].to_owned()])).unwrap();
    lab.reload_master();
    let record = master_reload(&lab, 1, "ok");
    assert_eq!(record.get_str("removed"), Some("dvd-2"));
    let rows = wait_for_stations(&lab, "dvd-2 reported as removed", |rows| {
        rows.iter()
            .any(|(n, r)| n == "dvd-2" && r.contains("removed from the configuration"))
    });
    assert_eq!(rows.len(), 2, "{rows:?}");
    let list = lab.run("alice", &["--json", "list"]);
    let list: Value = serde_json::from_slice(&list.stdout).expect("list --json");
    assert_eq!(list["station_types"][0]["counts"]["total"], 1, "{list}");
    let out = lab.run("alice", &["burn", "sample", "--station", "dvd-2"]);
    assert!(!out.status.success(), "dvd-2 must not be offered");
    let out = lab.run("bob", &["burn", "sample"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        lab.logs()
    );
    assert!(
        text(&out.stdout).contains("VERIFIED"),
        "{}",
        text(&out.stdout)
    );
    let out = lab.run("bob", &["release"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Released: no longer reported, and its control link ends.
    let rows = wait_for_stations(&lab, "dvd-2 gone", |rows| rows.len() == 1);
    assert_eq!(rows[0].0, "dvd-1");
    wait_for("dvd-2's control link to end", || {
        crate::lab::read_records(&lab.station_audits[1])
            .into_iter()
            .any(|r| r.event == "control.link" && r.get_str("state") != Some("up"))
            .then_some(())
    });

    // The same daemon comes back under a new name: listed, linked, and it burns.
    let dvd3 = blocks[1].replace("name = \"dvd-2\"", "name = \"dvd-3\"");
    std::fs::write(&path, with(&[blocks[0].to_owned(), dvd3])).unwrap();
    lab.reload_master();
    let record = master_reload(&lab, 2, "ok");
    assert_eq!(record.get_str("added"), Some("dvd-3"));
    wait_for_stations(&lab, "dvd-3 listed and free", |rows| {
        rows.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>() == ["dvd-1", "dvd-3"]
    });
    // The master opened a control link for it: the daemon saw a second one come up.
    wait_for("dvd-3's control link", || {
        let ups = crate::lab::read_records(&lab.station_audits[1])
            .into_iter()
            .filter(|r| r.event == "control.link" && r.get_str("state") == Some("up"))
            .count();
        (ups >= 2).then_some(())
    });
    let out = lab.run("alice", &["burn", "sample", "--station", "dvd-3"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        lab.logs()
    );
    let principal = lab.principal("alice");
    assert!(lab.master_records().iter().any(|r| r.event == "bind"
        && r.get_str("principal") == Some(principal.as_str())
        && r.get_str("station") == Some("dvd-3")));
}

#[test]
fn a_station_with_another_policy_shows_a_mismatch_until_it_reloads_the_same_policy() {
    let lab = Lab::start_with_policy(&admin_policy());
    // Both stations have reported the master's digest: no note.
    let master_log = lab.dir.path().join("master.log");
    wait_for("both stations' digests", || {
        let log = std::fs::read_to_string(&master_log).unwrap_or_default();
        (log.matches("station runs the master's policy").count() == 2).then_some(())
    });
    let rows = stations(&lab);
    assert!(
        rows.len() == 2 && rows.iter().all(|(_, r)| r.is_empty()),
        "{rows:?}"
    );
    write_policy(
        &lab,
        &policy_text(&lab, &["alice", "bob", "carol", "dave"], 5, "new"),
    );
    lab.reload_master();
    master_reload(&lab, 1, "ok");
    let rows = wait_for_stations(&lab, "both stations differ", |rows| {
        differs(rows, "dvd-1") && differs(rows, "dvd-2")
    });
    assert!(rows[0].1.contains("reload it"), "{rows:?}");
    // The human table shows it too.
    let table = text(&lab.run("dave", &["admin", "stations"]).stdout);
    assert!(table.contains("policy differs"), "{table}");
    let log = std::fs::read_to_string(&master_log).unwrap();
    assert!(
        log.contains("station runs another policy than the master"),
        "{log}"
    );

    lab.reload_station(1);
    wait_for_stations(&lab, "dvd-1 matches again", |rows| {
        !differs(rows, "dvd-1") && differs(rows, "dvd-2")
    });
    lab.reload_station(2);
    wait_for_stations(&lab, "every station matches", |rows| {
        rows.len() == 2 && !differs(rows, "dvd-1") && !differs(rows, "dvd-2")
    });
}
