//! Every kind of after-the-fact change is caught, named, and refused by open.

use std::io::Write;

use burnstand_audit::{read_records, verify, AuditLog, Error, Problem, GENESIS_PREV};

use crate::common::{problem, read_lines, tmp_log, write_lines, write_log};

/// A log of 8 records (lines 1..=8) and its lines.
fn log8() -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let (dir, path) = tmp_log();
    write_log(&path, 8);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 8);
    (dir, path, lines)
}

#[test]
fn edited_field_is_named() {
    let (_dir, path, mut lines) = log8();
    assert!(lines[2].contains("burn.end"));
    lines[2] = lines[2].replace("\"verified\":false", "\"verified\":true");
    write_lines(&path, &lines);
    let report = verify(&path).unwrap();
    assert_eq!(
        report.problem,
        Some(Problem::Edited {
            line: 3,
            seq: 3,
            next_line: 4
        })
    );
    assert_eq!(report.records, 2, "only records 1 and 2 are vouched for");
    assert_eq!(report.last_seq, 2);
    let text = report.to_string();
    assert!(
        text.contains(
            "record 3 (line 3) was edited: its hash does not match the prev of record 4 (line 4)"
        ),
        "{text}"
    );
}

#[test]
fn edited_prev_is_named_as_an_edit_of_that_record() {
    let (_dir, path, mut lines) = log8();
    let prev = lines[4]
        .split("\"prev\":\"")
        .nth(1)
        .unwrap()
        .get(..64)
        .unwrap()
        .to_owned();
    lines[4] = lines[4].replace(&prev, &"e".repeat(64));
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::Edited {
            line: 5,
            seq: 5,
            next_line: 6
        }
    );
}

#[test]
fn edited_seq_is_named() {
    let (_dir, path, mut lines) = log8();
    lines[3] = lines[3].replacen("{\"seq\":4,", "{\"seq\":9,", 1);
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::SeqChanged {
            line: 4,
            expected_seq: 4,
            found_seq: 9
        }
    );
}

#[test]
fn edited_first_record_is_named() {
    let (_dir, path, mut lines) = log8();
    lines[0] = lines[0].replacen(GENESIS_PREV, &"1".repeat(64), 1);
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::Edited {
            line: 1,
            seq: 1,
            next_line: 2
        }
    );
}

#[test]
fn deleted_middle_record_is_named() {
    let (_dir, path, mut lines) = log8();
    lines.remove(3);
    write_lines(&path, &lines);
    let p = problem(&path);
    assert_eq!(
        p,
        Problem::Deleted {
            line: 4,
            expected_seq: 4,
            found_seq: 5
        }
    );
    assert_eq!(
        p.to_string(),
        "record 4 was deleted: line 4 holds record 5 where record 4 was expected"
    );
}

#[test]
fn deleted_run_of_records_is_named() {
    let (_dir, path, mut lines) = log8();
    lines.drain(2..5);
    write_lines(&path, &lines);
    let p = problem(&path);
    assert_eq!(
        p,
        Problem::Deleted {
            line: 3,
            expected_seq: 3,
            found_seq: 6
        }
    );
    assert!(
        p.to_string().starts_with("records 3 to 5 were deleted"),
        "{p}"
    );
}

#[test]
fn deleted_last_but_one_record_is_named() {
    let (_dir, path, mut lines) = log8();
    lines.remove(6);
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::Deleted {
            line: 7,
            expected_seq: 7,
            found_seq: 8
        }
    );
}

#[test]
fn deleted_first_record_is_named() {
    let (_dir, path, mut lines) = log8();
    lines.remove(0);
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::Deleted {
            line: 1,
            expected_seq: 1,
            found_seq: 2
        }
    );
}

#[test]
fn swapped_records_are_named() {
    let (_dir, path, mut lines) = log8();
    lines.swap(3, 4);
    write_lines(&path, &lines);
    let p = problem(&path);
    assert_eq!(
        p,
        Problem::Reordered {
            line: 4,
            expected_seq: 4,
            found_seq: 5
        }
    );
    assert!(p.to_string().contains("out of order at line 4"), "{p}");
}

#[test]
fn record_moved_to_the_end_is_reordered_not_deleted() {
    let (_dir, path, mut lines) = log8();
    let moved = lines.remove(2);
    lines.push(moved);
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::Reordered {
            line: 3,
            expected_seq: 3,
            found_seq: 4
        }
    );
}

#[test]
fn duplicated_record_is_named() {
    let (_dir, path, mut lines) = log8();
    let copy = lines[3].clone();
    lines.insert(4, copy);
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::Reordered {
            line: 5,
            expected_seq: 5,
            found_seq: 4
        }
    );
}

#[test]
fn torn_last_line_is_named() {
    let (_dir, path, lines) = log8();
    let half = &lines[7][..lines[7].len() / 2];
    let mut text = lines[..7].join("\n");
    text.push('\n');
    text.push_str(half);
    std::fs::write(&path, &text).unwrap();
    let report = verify(&path).unwrap();
    assert_eq!(
        report.problem,
        Some(Problem::TornTail {
            line: 8,
            len: half.len() as u64
        })
    );
    assert_eq!(report.records, 7);
    assert!(report.to_string().contains("torn"), "{report}");
}

#[test]
fn garbage_line_in_the_middle_is_named() {
    let (_dir, path, mut lines) = log8();
    lines.insert(3, "this is not json".to_owned());
    write_lines(&path, &lines);
    let p = problem(&path);
    assert!(matches!(p, Problem::InvalidJson { line: 4, .. }), "{p:?}");
    assert!(p.to_string().starts_with("line 4 is not valid JSON"), "{p}");
}

#[test]
fn json_that_is_not_a_record_is_named() {
    let (_dir, path, mut lines) = log8();
    lines.insert(5, "{\"hello\":\"world\"}".to_owned());
    write_lines(&path, &lines);
    assert!(matches!(problem(&path), Problem::Malformed { line: 6, .. }));
}

#[test]
fn huge_line_is_refused_without_reading_it_whole() {
    let (_dir, path, mut lines) = log8();
    lines.insert(2, "x".repeat(8 << 20));
    write_lines(&path, &lines);
    assert_eq!(
        problem(&path),
        Problem::LineTooLong {
            line: 3,
            max: burnstand_audit::MAX_RECORD_LEN
        }
    );
}

#[test]
fn edit_of_the_last_record_needs_the_head_recorded_elsewhere() {
    let (dir, path) = tmp_log();
    let appended = write_log(&path, 8);
    let mut lines = read_lines(&path);
    lines[7] = lines[7].replace("ticket expired", "ticket expires");
    write_lines(&path, &lines);
    // The chain alone cannot see it (nothing follows the newest record)…
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report}");
    // …but the head the daemon recorded elsewhere does.
    let head = &appended[7];
    assert!(!report.ends_at(head.seq, &head.hash));
    drop(dir);
}

#[test]
fn edited_prev_of_last_record_is_a_prev_mismatch() {
    let (_dir, path, mut lines) = log8();
    let prev = lines[7].split("\"prev\":\"").nth(1).unwrap()[..64].to_owned();
    lines[7] = lines[7].replace(&prev, &"f".repeat(64));
    write_lines(&path, &lines);
    let p = problem(&path);
    assert_eq!(p, Problem::PrevMismatch { line: 8, seq: 8 });
    assert!(p.to_string().contains("does not chain to line 7"), "{p}");
}

#[test]
fn open_refuses_a_broken_chain_naming_the_record() {
    let (_dir, path, mut lines) = log8();
    lines[2] = lines[2].replace("burn.end", "burn.End");
    write_lines(&path, &lines);
    let before = std::fs::read(&path).unwrap();
    for result in [AuditLog::open(&path), AuditLog::open_repairing(&path)] {
        let err = result.unwrap_err();
        match &err {
            Error::Corrupt { problem, .. } => assert_eq!(problem.line(), 3),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(
            err.to_string().contains("record 3 (line 3) was edited"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "refused opens change nothing"
    );
    assert!(matches!(read_records(&path), Err(Error::Corrupt { .. })));
}

#[test]
fn open_refuses_a_torn_tail_and_repair_cuts_only_that_line() {
    let (_dir, path) = tmp_log();
    write_log(&path, 5);
    let intact = std::fs::read(&path).unwrap();
    let torn = b"{\"seq\":6,\"time\":\"2026-11-22T04:3";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();

    let err = AuditLog::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::TornTail { line: 6, len, .. } if len == torn.len() as u64),
        "{err:?}"
    );
    assert!(err.to_string().contains("line 6"), "{err}");
    assert!(matches!(
        read_records(&path),
        Err(Error::TornTail { line: 6, .. })
    ));

    let mut log = AuditLog::open_repairing(&path).unwrap();
    let repaired = log.repaired_tail().unwrap().clone();
    assert_eq!(repaired.line, 6);
    assert_eq!(repaired.offset, intact.len() as u64);
    assert_eq!(repaired.bytes, torn.to_vec());
    let after = std::fs::read(&path).unwrap();
    assert_eq!(
        &after[..intact.len()],
        &intact[..],
        "only the torn line was cut"
    );
    // Record 6 records the cut (see repair.rs); the next append follows it.
    assert_eq!(log.append(&crate::common::sample_event(7)).unwrap().seq, 7);
    drop(log);
    assert_eq!(verify(&path).unwrap().records, 7);

    let log = AuditLog::open_repairing(&path).unwrap();
    assert!(
        log.repaired_tail().is_none(),
        "nothing to repair on a clean log"
    );
}
