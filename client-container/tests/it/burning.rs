//! A burn end to end: reserve, burn, verify, receipt, release, and the audit trail it leaves;
//! the other station commands; refusals with their exit codes.

use crate::lab::{read_records, text, Lab};

/// The value after `label` on the receipt line that starts with it.
fn receipt_field<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} on the receipt:\n{stdout}"))
}

#[test]
fn a_burn_verifies_prints_a_receipt_and_is_audited_at_the_station() {
    let lab = Lab::start();
    let out = lab.run("alice", &["burn", "sample"]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        lab.logs()
    );

    // The receipt.
    assert!(
        receipt_field(&stdout, "result").starts_with("VERIFIED"),
        "{stdout}"
    );
    assert_eq!(receipt_field(&stdout, "user"), "alice@BURNSTAND.TEST");
    assert!(
        receipt_field(&stdout, "station")
            .starts_with("Test station 1 (DVD) (station id test-station-1"),
        "the first free station in configuration order: {stdout}"
    );
    assert!(receipt_field(&stdout, "image").starts_with("Test image sample (id sample"));
    assert_eq!(receipt_field(&stdout, "sha256"), lab.sample.sha256);
    assert_eq!(receipt_field(&stdout, "md5"), lab.sample.md5);
    let copy = receipt_field(&stdout, "copy 1/1");
    assert_eq!(
        copy,
        format!(
            "verified, read-back md5 {} over {} bytes",
            lab.sample.md5, lab.sample.size
        )
    );
    assert!(receipt_field(&stdout, "started").ends_with('Z'));
    assert!(receipt_field(&stdout, "finished").ends_with('Z'));
    let module = receipt_field(&stdout, "session  ")
        .strip_prefix("module connection ")
        .and_then(|s| s.split_whitespace().next())
        .expect("the module address")
        .to_owned();
    // Progress went to stderr (lines, not a bar: stderr is not a terminal here).
    assert!(stderr.contains("copy 1/1 writing"), "{stderr}");
    assert!(stderr.contains("copy 1/1 verifying"), "{stderr}");

    // The station's audit trail of this burn, joined to the receipt by the module address.
    let log = lab
        .station_log_of("alice")
        .expect("a station recorded the burn");
    let records = read_records(&log);
    let start = records
        .iter()
        .find(|r| r.event == "session.start" && r.get_str("client") == Some(module.as_str()))
        .unwrap_or_else(|| panic!("no session.start with client {module}: {records:#?}"));
    let session = start.get_str("session_id").unwrap();
    assert_eq!(receipt_field(&stdout, "session id"), session, "{stdout}");

    // The station's burn.receipt: on the client's receipt by seq and hash, in the station's
    // log, and copied into the master's log before the client got it.
    let record = receipt_field(&stdout, "station record");
    let (seq, hash) = record
        .strip_prefix('#')
        .and_then(|r| r.split_once(" sha256 "))
        .unwrap_or_else(|| panic!("station record line: {record}"));
    let seq: u64 = seq.parse().unwrap();
    let station_receipt = records
        .iter()
        .find(|r| r.event == "burn.receipt" && r.seq == seq)
        .unwrap_or_else(|| panic!("no burn.receipt #{seq} in the station log: {records:#?}"));
    assert_eq!(station_receipt.get_str("session_id"), Some(session));
    assert_eq!(station_receipt.get_str("result"), Some("verified"));
    assert_eq!(
        station_receipt.get_str("readback_md5"),
        Some(lab.sample.md5.as_str())
    );
    assert_eq!(
        station_receipt.get_str("sha256"),
        Some(lab.sample.sha256.as_str())
    );
    let master_copy = lab
        .master_records()
        .into_iter()
        .find(|r| r.event == "burn.receipt" && r.get_u64("station_seq") == Some(seq))
        .expect("the master's copy of the receipt");
    assert_eq!(master_copy.get_str("station_hash"), Some(hash));
    assert_eq!(master_copy.get_str("station_name"), Some("dvd-1"));
    let of_session = |event: &str| {
        records
            .iter()
            .find(|r| r.event == event && r.get_str("session_id") == Some(session))
            .unwrap_or_else(|| panic!("no {event} in session {session}: {records:#?}"))
    };
    for event in ["burn.start", "burn.end", "burn.verify"] {
        let r = of_session(event);
        assert_eq!(r.get_str("user"), Some("alice@BURNSTAND.TEST"), "{event}");
        assert_eq!(r.get_str("image"), Some("sample"), "{event}");
        assert_eq!(
            r.get_str("image_sha256"),
            Some(lab.sample.sha256.as_str()),
            "{event}"
        );
    }
    assert_eq!(
        of_session("burn.end").get("ok"),
        Some(&serde_json::json!(true))
    );
    let verify = of_session("burn.verify");
    assert_eq!(verify.get("passed"), Some(&serde_json::json!(true)));
    assert_eq!(
        verify.get_str("readback_md5"),
        Some(lab.sample.md5.as_str())
    );

    // The master: the reservation of that session, released by QUIT.
    let master = lab.master_records();
    let bind = master
        .iter()
        .find(|r| r.event == "bind" && r.get_str("session") == Some(session))
        .expect("the master's bind record of the session");
    assert_eq!(bind.get_str("principal"), Some("alice@BURNSTAND.TEST"));
    assert_eq!(bind.get_str("station"), Some("dvd-1"));
    // The teardown record follows QUIT's OK: wait for it rather than race it.
    let teardown = lab.wait_for_master_record("the release of the reservation", |r| {
        r.event == "teardown" && r.get_str("session") == Some(session)
    });
    assert_eq!(teardown.get_str("reason"), Some("quit"));

    // Both logs verify with burnstand's own checker.
    for log in [log.as_path(), lab.master_audit.as_path()] {
        let out = lab.run("alice", &["audit", "verify", log.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

#[test]
fn images_status_and_eject_reserve_report_and_release() {
    let lab = Lab::start();

    let images = lab.run("alice", &["images"]);
    let stdout = text(&images.stdout);
    assert!(images.status.success(), "{}", text(&images.stderr));
    assert!(
        stdout.contains("images offered to you by Test station 1 (DVD)"),
        "{stdout}"
    );
    let sample = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("sample "))
        .unwrap_or_else(|| panic!("no sample line: {stdout}"));
    assert!(sample.contains("restricted (burn only"), "{sample}");
    assert!(stdout.contains(&lab.sample.sha256), "{stdout}");

    let status = lab.run("alice", &["status", "--type", "DVD burner"]);
    let stdout = text(&status.stdout);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        stdout.contains("station   Test station 1 (DVD)"),
        "{stdout}"
    );
    assert!(stdout.contains("disc      "), "{stdout}");

    let eject = lab.run("bob", &["eject", "--type", "1"]);
    let stdout = text(&eject.stdout);
    assert!(eject.status.success(), "{}", text(&eject.stderr));
    assert!(
        stdout.contains("the tray of Test station 1 (DVD)"),
        "{stdout}"
    );
    lab.wait_for_station_record("bob's tray.open", |r| {
        r.event == "tray.open"
            && r.get_str("user") == Some("bob@BURNSTAND.TEST")
            && r.get_str("reason") == Some("OPEN request")
    });

    // Every one of those reservations was released by its QUIT: three BINDs, three
    // teardowns (each written just after QUIT's OK, so waited for).
    crate::lab::wait_for("three releases", || {
        let master = lab.master_records();
        let releases = master
            .iter()
            .filter(|r| r.event == "teardown" && r.get_str("reason") == Some("quit"))
            .filter(|r| r.get_str("session").is_some())
            .count();
        (releases == 3).then_some(())
    });
    let binds = lab
        .master_records()
        .iter()
        .filter(|r| r.event == "bind")
        .count();
    assert_eq!(binds, 3);
}

#[test]
fn refusals_name_the_problem_with_their_exit_codes() {
    let lab = Lab::start();

    let unknown = lab.run("alice", &["burn", "no-such-image"]);
    let stderr = text(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(15), "{stderr}");
    assert!(
        stderr.contains("offers no image \"no-such-image\" to you (it offers: "),
        "{stderr}"
    );
    assert!(stderr.contains("burnstand images"), "{stderr}");

    let no_type = lab.run("alice", &["images", "--type", "BD burner"]);
    let stderr = text(&no_type.stderr);
    assert_eq!(no_type.status.code(), Some(11), "{stderr}");
    assert!(stderr.contains("1 \"DVD burner\""), "{stderr}");

    // mallory is on no station's access list: the master lists nothing for her.
    let outsider = lab.run("mallory", &["burn", "sample"]);
    let stderr = text(&outsider.stderr);
    assert_eq!(outsider.status.code(), Some(11), "{stderr}");
    assert!(stderr.contains("access list"), "{stderr}");

    let copies = lab.run("alice", &["burn", "sample", "--copies", "0"]);
    assert_eq!(copies.status.code(), Some(2));

    // Each refusal released what it had reserved: alice can still reserve.
    let status = lab.run("alice", &["status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
}

#[test]
fn two_copies_burn_one_after_the_other_and_both_verify() {
    let lab = Lab::start();
    // `--drives 1`: one station burns both (without it the copies are a job over both).
    let out = lab.run(
        "bob",
        &["--json", "burn", "sample", "--copies", "2", "--drives", "1"],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stderr),
        lab.logs()
    );
    let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(receipt["result"], "verified");
    assert_eq!(receipt["copies_requested"], 2);
    let copies = receipt["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 2);
    for (n, copy) in copies.iter().enumerate() {
        assert_eq!(copy["copy"], n + 1);
        assert_eq!(copy["passed"], true);
        assert_eq!(copy["readback_md5"], lab.sample.md5.as_str());
    }

    // The station verified both copies in the session of this receipt.
    let module = receipt["module_address"].as_str().unwrap();
    let records = lab.station_records();
    let session = records
        .iter()
        .find(|r| r.event == "session.start" && r.get_str("client") == Some(module))
        .and_then(|r| r.get_str("session_id"))
        .expect("the session of the receipt");
    let verified: Vec<u64> = records
        .iter()
        .filter(|r| r.event == "burn.verify" && r.get_str("session_id") == Some(session))
        .filter(|r| r.get("passed") == Some(&serde_json::json!(true)))
        .filter_map(|r| r.get_u64("copy"))
        .collect();
    assert_eq!(verified, vec![1, 2]);
}
