//! Jobs over several drives (`burnstand burn IMAGE --copies N`): the copies are spread over the
//! stations one RESERVE got, one copy per drive at a time; a station lost mid-job fails its
//! copy and the other drives burn the rest; Ctrl-C cancels every drive's copy; a quota that
//! runs out stops the whole job. Three real stations, the real master, the real binary.

use std::collections::{BTreeMap, BTreeSet};

use burnstand_audit::Record;
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::lab::{read_records, text, wait_for, Lab, Policy};

fn three_stations() -> Policy {
    Policy {
        stations: 3,
        ..Policy::default()
    }
}

/// `user`'s records of `event` in each station log (index 0 is station 1).
fn per_station(lab: &Lab, user: &str, event: &str) -> Vec<Vec<Record>> {
    let principal = lab.principal(user);
    lab.station_audits
        .iter()
        .map(|log| {
            read_records(log)
                .into_iter()
                .filter(|r| r.event == event && r.get_str("user") == Some(principal.as_str()))
                .collect()
        })
        .collect()
}

/// How many of `user`'s copies each station verified.
fn verified_per_station(lab: &Lab, user: &str) -> Vec<usize> {
    per_station(lab, user, "burn.receipt")
        .iter()
        .map(|rs| {
            rs.iter()
                .filter(|r| r.get_str("result") == Some("verified"))
                .count()
        })
        .collect()
}

#[test]
fn five_copies_burn_in_parallel_on_three_stations() {
    let lab = Lab::start_with_policy(&three_stations());
    let saved = lab.dir.path().join("job.jsonl");
    let out = lab.run(
        "alice",
        &[
            "burn",
            "sample",
            "--copies",
            "5",
            "--save-receipt",
            saved.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        lab.logs()
    );
    assert!(stderr.contains("5 copies on 3 drives"), "{stderr}");
    assert!(
        stdout.contains("result          VERIFIED: all 5 discs hold exactly the image"),
        "{stdout}"
    );
    for k in 1..=5 {
        assert!(
            stdout.contains(&format!("copy {k}/5        verified on Test station ")),
            "copy {k}: {stdout}"
        );
    }

    // Five verified copies, on all three stations.
    let verified = verified_per_station(&lab, "alice");
    assert_eq!(verified.iter().sum::<usize>(), 5, "{verified:?}");
    assert!(
        verified.iter().all(|&n| n > 0),
        "every drive burned: {verified:?}"
    );

    // In parallel: copies started on several stations before the first copy ended.
    let starts = per_station(&lab, "alice", "burn.start");
    let receipts = per_station(&lab, "alice", "burn.receipt");
    let first_end = receipts
        .iter()
        .flatten()
        .map(|r| r.time.clone())
        .min()
        .expect("receipts");
    let started_before: Vec<usize> = starts
        .iter()
        .enumerate()
        .filter(|(_, rs)| rs.iter().any(|r| r.time < first_end))
        .map(|(n, _)| n + 1)
        .collect();
    assert!(
        started_before.len() >= 2,
        "stations {started_before:?} started a copy before the first receipt at {first_end}"
    );

    // One reservation of the three stations, in one session.
    let principal = lab.principal("alice");
    let binds: Vec<Record> = lab
        .master_records()
        .into_iter()
        .filter(|r| r.event == "bind" && r.get_str("principal") == Some(principal.as_str()))
        .collect();
    assert_eq!(binds.len(), 1, "{binds:?}");
    assert_eq!(binds[0].get_str("station"), Some("dvd-1, dvd-2, dvd-3"));
    let sessions: BTreeSet<String> = receipts
        .iter()
        .flatten()
        .filter_map(|r| r.get_str("session_id").map(str::to_owned))
        .collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");

    // --save-receipt: one file per station, each proven against that station's log.
    for (n, log) in lab.station_audits.iter().enumerate() {
        let file = lab
            .dir
            .path()
            .join(format!("job.test-station-{}.jsonl", n + 1));
        let lines = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}\n{stderr}", file.display()));
        assert_eq!(lines.lines().count(), verified[n], "{lines}");
        let check = lab.run(
            "alice",
            &[
                "audit",
                "verify",
                log.to_str().unwrap(),
                "--receipt",
                file.to_str().unwrap(),
            ],
        );
        assert!(check.status.success(), "{}", text(&check.stderr));
        assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
    }
    assert!(!saved.exists(), "the records went to the per-station files");
}

#[test]
fn a_station_killed_mid_job_fails_its_copy_and_the_others_burn_the_rest() {
    let mut lab = Lab::start_with_policy(&three_stations());
    let job = lab.spawn("alice", &["--json", "burn", "big", "--copies", "4"]);
    let principal = lab.principal("alice");
    wait_for("a copy burning on station 3", || {
        read_records(&lab.station_audits[2])
            .into_iter()
            .find(|r| r.event == "burn.start" && r.get_str("user") == Some(principal.as_str()))
    });
    lab.kill_station(3);
    let (status, stdout, stderr) = job.wait();
    assert_eq!(
        status.code(),
        Some(25),
        "stdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        lab.logs()
    );

    let report: Value = serde_json::from_str(&stdout).expect("the job report");
    assert_eq!(report["result"], "failed", "{report:#}");
    assert_eq!(report["copies_requested"], 4);
    let copies = report["copies"].as_array().expect("copies");
    assert_eq!(copies.len(), 4, "every copy is accounted for: {report:#}");
    let by_result =
        |result: &str| -> Vec<&Value> { copies.iter().filter(|c| c["result"] == result).collect() };
    let failed = by_result("failed");
    assert_eq!(failed.len(), 1, "{report:#}");
    let lost = failed[0];
    assert_eq!(lost["station_id"], "test-station-3", "{report:#}");
    assert_eq!(lost["passed"], false);
    assert!(
        lost["problem"]
            .as_str()
            .is_some_and(|p| p.contains("connection")),
        "{lost:#}"
    );
    let verified = by_result("verified");
    assert_eq!(
        verified.len(),
        3,
        "the other drives burned the rest: {report:#}"
    );
    assert!(
        verified.iter().all(|c| c["station_id"] != "test-station-3"),
        "{report:#}"
    );
    let drive3 = report["drives"]
        .as_array()
        .expect("drives")
        .iter()
        .find(|d| d["station_id"] == "test-station-3")
        .expect("station 3 in the drives");
    assert!(drive3["left"].is_string(), "{drive3:#}");

    // The error names the failed copy.
    let error: Value = serde_json::from_str(stderr.trim()).expect("a JSON error on stderr");
    assert_eq!(error["error"], "copies_failed");
    assert_eq!(error["exit_code"], 25);
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("copy {} failed", lost["copy"])),
        "{message}"
    );

    // The surviving stations verified three copies between them.
    let survivors = verified_per_station(&lab, "alice");
    assert_eq!(survivors[0] + survivors[1], 3, "{survivors:?}");
}

#[test]
fn ctrl_c_cancels_the_copy_on_every_drive() {
    let lab = Lab::start_with_policy(&three_stations());
    let job = lab.spawn("alice", &["burn", "big", "--copies", "3"]);
    wait_for("a copy burning on every station", || {
        let starts = per_station(&lab, "alice", "burn.start");
        starts.iter().all(|rs| !rs.is_empty()).then_some(())
    });
    job.signal(Signal::SIGINT);
    let (status, stdout, stderr) = job.wait();
    assert_eq!(
        status.code(),
        Some(130),
        "{stdout}\n{stderr}\n{}",
        lab.logs()
    );
    assert!(stdout.contains("CANCELLED"), "{stdout}");
    // Every station cancelled its copy on the CANCEL, and wrote its receipt.
    for (n, receipts) in per_station(&lab, "alice", "burn.receipt")
        .iter()
        .enumerate()
    {
        let results: Vec<&str> = receipts
            .iter()
            .filter_map(|r| r.get_str("result"))
            .collect();
        assert_eq!(results, ["cancelled"], "station {}", n + 1);
    }
    for (n, cancels) in per_station(&lab, "alice", "burn.cancel").iter().enumerate() {
        let reasons: Vec<&str> = cancels.iter().filter_map(|r| r.get_str("reason")).collect();
        assert_eq!(reasons, ["CANCEL request"], "station {}", n + 1);
    }
}

#[test]
fn a_used_up_quota_stops_the_whole_job() {
    let lab = Lab::start_with_policy(&Policy {
        sample_copies: Some(3),
        ..three_stations()
    });
    let out = lab.run("bob", &["--json", "burn", "sample", "--copies", "5"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(16),
        "{stdout}\n{stderr}\n{}",
        lab.logs()
    );
    let report: Value = serde_json::from_str(&stdout).expect("the job report");
    let mut results: BTreeMap<String, usize> = BTreeMap::new();
    for copy in report["copies"].as_array().expect("copies") {
        *results
            .entry(copy["result"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    assert_eq!(results.get("verified"), Some(&3), "{report:#}");
    assert_eq!(results.get("not_burned"), Some(&2), "{report:#}");
    assert!(
        report["problem"]
            .as_str()
            .is_some_and(|p| p.contains("quota")),
        "{report:#}"
    );
    assert_eq!(verified_per_station(&lab, "bob").iter().sum::<usize>(), 3);
}

#[test]
fn with_a_held_station_the_copies_burn_one_after_the_other_there() {
    let lab = Lab::start_with_policy(&three_stations());
    let held = lab.run("carol", &["reserve", "--station", "dvd-2"]);
    assert!(held.status.success(), "{}", text(&held.stderr));
    let out = lab.run("carol", &["--json", "burn", "sample", "--copies", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let receipt: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(receipt["station_id"], "test-station-2", "{receipt:#}");
    assert_eq!(receipt["copies"].as_array().map(Vec::len), Some(2));
    assert_eq!(verified_per_station(&lab, "carol"), [0, 2, 0]);
    let release = lab.run("carol", &["release"]);
    assert!(release.status.success(), "{}", text(&release.stderr));
}
