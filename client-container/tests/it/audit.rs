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
