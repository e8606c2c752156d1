//! `burnstand audit verify` against logs written by the real audit implementation.

use std::path::Path;

use burnstand_audit::{AuditLog, Event};

use crate::{burnstand, text};

/// Writes a three-record log and returns the head of its last append.
fn write_log(path: &Path) -> (u64, String) {
    let mut log = AuditLog::open(path).unwrap();
    log.append(&Event::new("auth.ok").field("principal", "alice@BURNSTAND.TEST"))
        .unwrap();
    log.append(&Event::new("bind").field("station", "dvd-1"))
        .unwrap();
    let last = log
        .append(&Event::new("quit").field("principal", "alice@BURNSTAND.TEST"))
        .unwrap();
    (last.seq, last.hash)
}

#[test]
fn an_intact_log_verifies_and_matches_its_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (seq, hash) = write_log(&path);
    let head = format!("{seq}:{hash}");
    let out = burnstand(
        &["audit", "verify", path.to_str().unwrap(), "--head", &head],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("OK: 3 records"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_edited_record_is_named_with_exit_code_8() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    write_log(&path);
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("dvd-1", "dvd-2");
    std::fs::write(&path, edited).unwrap();
    let out = burnstand(&["audit", "verify", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(8));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("record 2") && stderr.contains("edited"),
        "{stderr}"
    );
}

#[test]
fn a_removed_last_record_is_caught_only_by_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let (seq, hash) = write_log(&path);
    let content = std::fs::read_to_string(&path).unwrap();
    let without_last: String = content.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, without_last).unwrap();
    let chain_only = burnstand(&["audit", "verify", path.to_str().unwrap()], &[]);
    assert!(
        chain_only.status.success(),
        "the chain alone cannot see a removed last record"
    );
    let head = format!("{seq}:{hash}");
    let with_head = burnstand(
        &["audit", "verify", path.to_str().unwrap(), "--head", &head],
        &[],
    );
    assert_eq!(with_head.status.code(), Some(8));
    assert!(text(&with_head.stderr).contains("edited or removed"));
}

#[test]
fn a_missing_file_is_exit_code_9() {
    let out = burnstand(&["audit", "verify", "/nonexistent/audit.log"], &[]);
    assert_eq!(out.status.code(), Some(9));
    assert!(text(&out.stderr).contains("cannot read the audit log"));
}

/// A five-record log; returns its lines.
fn five_records(path: &Path) -> Vec<String> {
    let mut log = AuditLog::open(path).unwrap();
    for n in 1..=5u64 {
        log.append(&Event::new("list").field("n", n)).unwrap();
    }
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn verify_lines(lines: &[&str], tail: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str(tail);
    std::fs::write(&path, text).unwrap();
    let out = burnstand(&["audit", "verify", path.to_str().unwrap()], &[]);
    (out.status.code(), text_of(&out))
}

fn text_of(out: &std::process::Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

#[test]
fn deleted_reordered_and_torn_records_are_each_named() {
    let dir = tempfile::tempdir().unwrap();
    let lines = five_records(&dir.path().join("src.log"));
    let l: Vec<&str> = lines.iter().map(String::as_str).collect();

    let (code, out) = verify_lines(&[l[0], l[1], l[3], l[4]], "");
    assert_eq!(code, Some(8), "{out}");
    assert!(out.contains("record 3 was deleted"), "{out}");

    let (code, out) = verify_lines(&[l[0], l[2], l[1], l[3], l[4]], "");
    assert_eq!(code, Some(8), "{out}");
    assert!(out.contains("out of order"), "{out}");

    let torn = &l[4][..l[4].len() / 2];
    let (code, out) = verify_lines(&[l[0], l[1], l[2], l[3]], torn);
    assert_eq!(code, Some(8), "{out}");
    assert!(out.contains("line 5") && out.contains("torn"), "{out}");

    // The untouched log verifies.
    let (code, out) = verify_lines(&l, "");
    assert_eq!(code, Some(0), "{out}");
}

/// A station-like log with burn receipts, and its receipt lines.
fn receipts_log(path: &Path) -> Vec<String> {
    let mut log = AuditLog::open(path).unwrap();
    let mut lines = Vec::new();
    for (user, image, result, station) in [
        ("alice@BURNSTAND.TEST", "exam", "verified", "st-1"),
        ("alice@BURNSTAND.TEST", "exam", "verify_failed", "st-1"),
        ("bob@BURNSTAND.TEST", "ide", "verified", "st-2"),
    ] {
        log.append(&Event::new("burn.start").field("user", user))
            .unwrap();
        let appended = log
            .append(
                &Event::new("burn.receipt")
                    .field("station", station)
                    .field("drive", "DVD")
                    .field("session_id", "s")
                    .field("user", user)
                    .field("user_exported", "00")
                    .field("image_id", image)
                    .field("image_name", image)
                    .field("sha256", format!("{image}-sha"))
                    .field("result", result)
                    .field("end", "2026-11-22T10:00:00Z"),
            )
            .unwrap();
        lines.push(appended.line);
    }
    lines
}

#[test]
fn audit_show_counts_receipts_per_user_image_station_and_drive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("station.log");
    receipts_log(&path);
    let out = burnstand(&["--json", "audit", "show", path.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text_of(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["copies"], 3);
    assert_eq!(json["per_user"]["alice@BURNSTAND.TEST"]["copies"], 2);
    assert_eq!(json["per_user"]["alice@BURNSTAND.TEST"]["verify_failed"], 1);
    assert_eq!(json["per_image"]["ide (ide-sha)"]["verified"], 1);
    assert_eq!(json["per_station"]["st-1"]["copies"], 2);
    assert_eq!(json["verify_failures_per_drive"]["st-1 DVD"], 1);

    // The same log twice counts each copy once; a human table names the sections.
    let p = path.to_str().unwrap();
    let out = burnstand(&["audit", "show", p, p], &[]);
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("3 burned copies"), "{stdout}");
    for section in [
        "per user",
        "per image",
        "per station",
        "verify failures per drive",
    ] {
        assert!(stdout.contains(section), "{stdout}");
    }

    // An edited log gives no statistics.
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("verify_failed", "verified");
    std::fs::write(&path, edited).unwrap();
    let out = burnstand(&["audit", "show", p], &[]);
    assert_eq!(out.status.code(), Some(8), "{}", text_of(&out));
    assert!(
        text(&out.stderr).contains("no statistics"),
        "{}",
        text_of(&out)
    );
}

#[test]
fn saved_receipts_are_checked_against_the_log_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("station.log");
    let lines = receipts_log(&log);
    let receipts = dir.path().join("receipts.jsonl");
    std::fs::write(&receipts, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let args = |r: &Path| {
        burnstand(
            &[
                "audit",
                "verify",
                log.to_str().unwrap(),
                "--receipt",
                r.to_str().unwrap(),
            ],
            &[],
        )
    };
    let out = args(&receipts);
    assert!(out.status.success(), "{}", text_of(&out));
    assert!(
        text(&out.stdout).contains("all 2 receipt record(s)"),
        "{}",
        text_of(&out)
    );

    // A receipt whose result was changed is not in the log.
    let forged = dir.path().join("forged.jsonl");
    std::fs::write(
        &forged,
        format!("{}\n", lines[1].replace("verify_failed", "verified")),
    )
    .unwrap();
    let out = args(&forged);
    assert_eq!(out.status.code(), Some(8), "{}", text_of(&out));
    assert!(
        text(&out.stderr).contains("differs from record 4"),
        "{}",
        text_of(&out)
    );

    // A receipt of another log (a record this log does not have).
    let other = dir.path().join("other.log");
    let mut longer = receipts_log(&other);
    let mut log2 = AuditLog::open(&other).unwrap();
    longer.push(
        log2.append(&Event::new("burn.receipt").field("station", "x"))
            .unwrap()
            .line,
    );
    drop(log2);
    let foreign = dir.path().join("foreign.jsonl");
    std::fs::write(&foreign, format!("{}\n", longer[3])).unwrap();
    let out = args(&foreign);
    assert_eq!(out.status.code(), Some(8), "{}", text_of(&out));
    assert!(
        text(&out.stderr).contains("does not hold"),
        "{}",
        text_of(&out)
    );
}

#[test]
fn audit_repair_cuts_only_a_torn_tail_and_the_log_then_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let lines = five_records(&path);
    let torn = &lines[4][..lines[4].len() / 2];
    let mut content: String = lines[..4].iter().map(|l| format!("{l}\n")).collect();
    content.push_str(torn);
    std::fs::write(&path, &content).unwrap();
    let p = path.to_str().unwrap();

    // --dry-run says what would be cut and cuts nothing.
    let out = burnstand(&["audit", "repair", p, "--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let said = text(&out.stdout);
    assert!(
        said.contains("would cut line 5")
            && said.contains(&format!("{} bytes at offset", torn.len()))
            && said.contains("no trailing newline"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        content,
        "a dry run changes nothing"
    );
    assert_eq!(
        burnstand(&["audit", "verify", p], &[]).status.code(),
        Some(8),
        "still torn"
    );

    // The repair cuts it and records the cut; the log verifies.
    let out = burnstand(&["--json", "audit", "repair", p], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["repaired"], true);
    assert_eq!(json["line"], 5);
    assert_eq!(json["cut_bytes"], torn.len());
    assert_eq!(json["record"], 5);
    let out = burnstand(&["audit", "verify", p], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(
        text(&out.stdout).starts_with("OK: 5 records"),
        "{}",
        text_of(&out)
    );
    let repaired = std::fs::read_to_string(&path).unwrap();
    assert!(repaired.starts_with(&content[..content.len() - torn.len()]));
    assert!(repaired
        .lines()
        .last()
        .unwrap()
        .contains("\"event\":\"audit.repair\""));

    // Nothing left to do.
    let out = burnstand(&["audit", "repair", p], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(
        text(&out.stdout).contains("nothing to repair"),
        "{}",
        text_of(&out)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), repaired);
}

#[test]
fn audit_repair_refuses_a_log_broken_before_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let lines = five_records(&path);
    let mut content: String = lines
        .iter()
        .map(|l| format!("{}\n", l.replace("\"n\":2", "\"n\":3")))
        .collect();
    content.push_str("{\"seq\":6");
    std::fs::write(&path, &content).unwrap();
    for args in [
        vec!["audit", "repair"],
        vec!["audit", "repair", "--dry-run"],
    ] {
        let mut args = args.clone();
        args.push(path.to_str().unwrap());
        let out = burnstand(&args, &[]);
        assert_eq!(out.status.code(), Some(8), "{}", text_of(&out));
        let said = text_of(&out);
        assert!(
            said.contains("record 2") && said.contains("edited"),
            "{said}"
        );
        assert!(said.contains("nothing was cut"), "{said}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), content);
    }
}

#[test]
fn audit_repair_does_not_create_a_missing_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.log");
    let out = burnstand(&["audit", "repair", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(9), "{}", text_of(&out));
    assert!(!path.exists());
}

#[test]
fn audit_repair_does_not_touch_a_log_a_daemon_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let _held = AuditLog::open(&path).unwrap();
    let out = burnstand(&["audit", "repair", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(9), "{}", text_of(&out));
    assert!(
        text_of(&out).contains("stop the other daemon"),
        "{}",
        text_of(&out)
    );
}

/// A log rotated into segments every 4 KiB with its head exported; returns the live file and
/// the head file.
fn rotated_log(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let live = dir.join("logs").join("master.jsonl");
    let head = dir.join("other-disk").join("master.head");
    std::fs::create_dir_all(live.parent().unwrap()).unwrap();
    std::fs::create_dir_all(head.parent().unwrap()).unwrap();
    let settings = burnstand_audit::AuditSettings {
        rotate_bytes: 4096,
        head_export: Some(head.clone()),
        ..Default::default()
    };
    let mut log = burnstand_audit::OpenOptions::new()
        .settings(settings)
        .open(&live)
        .unwrap();
    for n in 1..=120u64 {
        log.append(&Event::new("auth.ok").field("principal", format!("user{n}@LAB")))
            .unwrap();
    }
    (live, head)
}

#[test]
fn a_rotated_log_verifies_end_to_end_from_its_directory_or_its_live_file() {
    let dir = tempfile::tempdir().unwrap();
    let (live, head) = rotated_log(dir.path());
    let segments = burnstand_audit::segments_of(&live).unwrap();
    assert!(segments.len() >= 3);
    for target in [live.clone(), live.parent().unwrap().to_owned()] {
        let out = burnstand(
            &[
                "audit",
                "verify",
                target.to_str().unwrap(),
                "--head",
                head.to_str().unwrap(),
            ],
            &[],
        );
        assert!(out.status.success(), "{}", text_of(&out));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains(&format!("in {} file(s)", segments.len() + 1))
                && stdout.contains("ends exactly at the exported head"),
            "{stdout}"
        );
    }

    // A segment in the middle removed: named, exit code 8.
    std::fs::remove_file(&segments[1].path).unwrap();
    let out = burnstand(&["audit", "verify", live.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(8), "{}", text_of(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("are missing")
            && stderr.contains(segments[1].path.file_name().unwrap().to_str().unwrap()),
        "{stderr}"
    );
}

#[test]
fn the_exported_head_file_catches_a_removed_newest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (live, head) = rotated_log(dir.path());
    // The live file and the newest segment removed: what is left is a valid, shorter chain.
    std::fs::remove_file(&live).unwrap();
    let newest = burnstand_audit::segments_of(&live).unwrap().pop().unwrap();
    std::fs::remove_file(&newest.path).unwrap();
    let chain_only = burnstand(&["audit", "verify", live.to_str().unwrap()], &[]);
    assert!(chain_only.status.success(), "{}", text_of(&chain_only));
    let out = burnstand(
        &[
            "audit",
            "verify",
            live.parent().unwrap().to_str().unwrap(),
            "--head",
            head.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(8), "{}", text_of(&out));
    assert!(
        text(&out.stderr).contains("edited or removed"),
        "{}",
        text_of(&out)
    );
}
