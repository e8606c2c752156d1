//! Repair at start: a torn last line (an append a crash or a full disk cut short) is cut off,
//! and the cut is itself recorded as an `audit.repair` record chained like any other. Complete
//! records are never cut: a log that is broken anywhere else is still refused.

use std::io::Write;
use std::path::Path;

use burnstand_audit::{
    find_torn_tail, line_hash, read_records, verify, AuditLog, Error, Problem, REPAIR_EVENT,
    REPAIR_HEAD_LEN,
};
use sha2::Digest as _;

use crate::common::{read_lines, tmp_log, write_lines, write_log};

fn append_raw(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Repairs the log at `path` that holds `intact` records and then `torn`, and checks
/// everything a repair promises.
fn assert_repaired(path: &Path, intact: u64, torn: &[u8], reason: &str) {
    let before = std::fs::read(path).unwrap();
    let offset = before.len() - torn.len();

    // Seen, not touched, by the dry run.
    let found = find_torn_tail(path).unwrap().expect("a torn tail");
    assert_eq!(found.line, intact + 1);
    assert_eq!(found.offset, offset as u64);
    assert_eq!(found.bytes, torn);
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "a dry run changes nothing"
    );

    let log = AuditLog::open_repairing(path).unwrap();
    let repaired = log.repaired_tail().expect("the open repaired").clone();
    assert_eq!(repaired, found);
    assert_eq!(
        log.last_seq(),
        intact + 1,
        "the repair is recorded as the next record"
    );
    drop(log);

    let after = std::fs::read(path).unwrap();
    assert_eq!(
        &after[..offset],
        &before[..offset],
        "every complete record is kept byte for byte"
    );
    let report = verify(path).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, intact + 1);

    let records = read_records(path).unwrap();
    let record = records.last().unwrap();
    assert_eq!(record.event, REPAIR_EVENT);
    assert_eq!(record.get_u64("line"), Some(intact + 1));
    assert_eq!(record.get_u64("offset"), Some(offset as u64));
    assert_eq!(record.get_u64("cut_bytes"), Some(torn.len() as u64));
    assert_eq!(
        record.get_str("cut_sha256"),
        Some(sha256_hex(torn).as_str())
    );
    let head = &torn[..torn.len().min(REPAIR_HEAD_LEN)];
    assert_eq!(
        record.get_str("cut_head_hex"),
        Some(hex::encode(head).as_str())
    );
    assert_eq!(record.get_str("reason"), Some(reason));

    // A second open finds nothing to do and changes nothing.
    let log = AuditLog::open_repairing(path).unwrap();
    assert!(log.repaired_tail().is_none());
    drop(log);
    assert_eq!(std::fs::read(path).unwrap(), after);
    assert!(find_torn_tail(path).unwrap().is_none());
}

#[test]
fn a_partial_line_without_its_newline_is_cut_and_recorded() {
    let (_dir, path) = tmp_log();
    write_log(&path, 5);
    let torn = b"{\"seq\":6,\"time\":\"2026-11-22T04:3";
    append_raw(&path, torn);
    assert_repaired(&path, 5, torn, "no trailing newline");
}

#[test]
fn a_torn_json_line_that_got_a_newline_is_cut_and_recorded() {
    // An interrupted append, and then an editor (or `echo >>`) that added the newline.
    let (_dir, path) = tmp_log();
    write_log(&path, 3);
    let torn = b"{\"seq\":4,\"time\":\"2026-11-22T04:30:00.1\n";
    append_raw(&path, torn);
    assert_eq!(
        verify(&path).unwrap().problem,
        Some(Problem::TornTail {
            line: 4,
            len: torn.len() as u64
        })
    );
    assert_repaired(&path, 3, torn, "not valid JSON");
}

#[test]
fn a_zero_filled_tail_is_cut_and_its_head_is_bounded() {
    // What some filesystems leave after a crash: the new size, but zeros for the data.
    let (_dir, path) = tmp_log();
    write_log(&path, 2);
    let torn = vec![0u8; 3000];
    append_raw(&path, &torn);
    assert_repaired(&path, 2, &torn, "no trailing newline");
    let record = read_records(&path).unwrap().pop().unwrap();
    assert_eq!(
        record.get_str("cut_head_hex").map(str::len),
        Some(2 * REPAIR_HEAD_LEN),
        "only the first bytes are kept, as hex"
    );
}

#[test]
fn a_zero_filled_tail_as_long_as_the_largest_append_is_cut() {
    // A power cut while the largest possible record was appended: its whole extent, newline
    // included, reads back as zeros (MAX_RECORD_LEN + 1 bytes without a newline).
    let (_dir, path) = tmp_log();
    write_log(&path, 2);
    let torn = vec![0u8; burnstand_audit::MAX_RECORD_LEN + 1];
    append_raw(&path, &torn);
    assert_repaired(&path, 2, &torn, "no trailing newline");
    // One byte more than any append can write is not a torn append: refused, not cut.
    let (_dir, path) = tmp_log();
    write_log(&path, 2);
    append_raw(&path, &vec![0u8; burnstand_audit::MAX_RECORD_LEN + 2]);
    assert!(matches!(
        AuditLog::open_repairing(&path).unwrap_err(),
        Error::Corrupt { .. }
    ));
}

#[test]
fn a_log_that_is_only_a_torn_line_starts_over_with_the_repair_record() {
    let (_dir, path) = tmp_log();
    let torn = b"{\"seq\":1,\"ti";
    std::fs::write(&path, torn).unwrap();
    assert_repaired(&path, 0, torn, "no trailing newline");
    let records = read_records(&path).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].seq, 1);
}

#[test]
fn an_empty_log_and_a_clean_log_are_left_untouched() {
    let (_dir, path) = tmp_log();
    std::fs::write(&path, b"").unwrap();
    assert!(find_torn_tail(&path).unwrap().is_none());
    let log = AuditLog::open_repairing(&path).unwrap();
    assert!(log.repaired_tail().is_none());
    drop(log);
    assert_eq!(std::fs::read(&path).unwrap(), b"", "nothing is appended");

    let (_dir, path) = tmp_log();
    write_log(&path, 4);
    let before = std::fs::read(&path).unwrap();
    let log = AuditLog::open_repairing(&path).unwrap();
    assert!(log.repaired_tail().is_none());
    assert_eq!(log.last_seq(), 4);
    drop(log);
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing is appended");
}

#[test]
fn tampering_in_the_middle_is_still_refused_and_nothing_is_cut() {
    let (_dir, path) = tmp_log();
    write_log(&path, 6);
    let mut lines = read_lines(&path);
    // A damaged record in the middle, and a torn tail after it: the tail must not hide it.
    lines[2] = "this is not json".to_owned();
    write_lines(&path, &lines);
    append_raw(&path, b"{\"seq\":7,");
    let before = std::fs::read(&path).unwrap();
    let err = AuditLog::open_repairing(&path).unwrap_err();
    match &err {
        Error::Corrupt { problem, .. } => assert_eq!(problem.line(), 3),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("line 3"), "{text}");
    assert!(text.contains("burnstand audit verify"), "{text}");
    assert!(!text.contains("::") && !text.contains("()"), "{text}");
    assert!(matches!(find_torn_tail(&path), Err(Error::Corrupt { .. })));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a refused repair cuts nothing"
    );
}

#[test]
fn a_complete_last_record_that_does_not_chain_is_refused_not_cut() {
    // A well-formed record is never the remains of a torn append: an edited last record is
    // tampering, and dropping it would destroy the evidence.
    let (_dir, path) = tmp_log();
    write_log(&path, 4);
    let mut lines = read_lines(&path);
    lines[3] = lines[3]
        .replace("burn.end", "burn.End")
        .replace("auth.fail", "auth.Fail");
    let prev = lines[3].split("\"prev\":\"").nth(1).unwrap()[..64].to_owned();
    lines[3] = lines[3].replace(&prev, &line_hash(b"something else"));
    write_lines(&path, &lines);
    let before = std::fs::read(&path).unwrap();
    let err = AuditLog::open_repairing(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);

    // A JSON line that is not a record is not a torn append either.
    let (_dir, path) = tmp_log();
    write_log(&path, 2);
    append_raw(&path, b"{\"hello\":\"world\"}\n");
    let err = AuditLog::open_repairing(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

#[test]
fn the_refusal_of_a_torn_tail_says_what_to_do_in_words() {
    let (_dir, path) = tmp_log();
    write_log(&path, 2);
    append_raw(&path, b"{\"seq\":3");
    let err = AuditLog::open(&path).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::TornTail { line: 3, .. }), "{err:?}");
    assert!(text.contains("burnstand audit repair"), "{text}");
    assert!(
        !text.contains("::") && !text.contains("open_repairing"),
        "an operator's message names no Rust function: {text}"
    );
}
