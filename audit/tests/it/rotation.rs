//! Rotation into segments, verification of a whole directory end to end, and the head export.

use std::path::{Path, PathBuf};

use burnstand_audit::{
    line_hash, read_records, scan_log_strict, segments_of, verify, verify_log, AuditLog,
    AuditSettings, Head, LogProblem, OpenOptions, Problem, GENESIS_PREV, REPAIR_EVENT,
    ROTATE_EVENT,
};

use crate::common::{read_lines, sample_event, tmp_log, write_lines};

fn rotating(bytes: u64) -> AuditSettings {
    AuditSettings {
        rotate_bytes: bytes,
        ..AuditSettings::default()
    }
}

fn open(path: &Path, settings: AuditSettings) -> AuditLog {
    OpenOptions::new()
        .repair_torn_tail(true)
        .settings(settings)
        .open(path)
        .unwrap()
}

/// Appends `n` sample events; returns the seq of the last.
fn fill(log: &mut AuditLog, n: u64) -> u64 {
    let mut last = 0;
    for i in 1..=n {
        last = log.append(&sample_event(i)).unwrap().seq;
    }
    last
}

fn seqs(path: &Path) -> Vec<u64> {
    let mut seqs = Vec::new();
    scan_log_strict(path, |r, _| seqs.push(r.seq)).unwrap();
    seqs
}

fn segment_paths(live: &Path) -> Vec<PathBuf> {
    segments_of(live)
        .unwrap()
        .into_iter()
        .map(|s| s.path)
        .collect()
}

#[test]
fn rotation_by_size_keeps_one_chain_end_to_end() {
    let (_dir, path) = tmp_log();
    let mut log = open(&path, rotating(4096));
    let last = fill(&mut log, 150);
    drop(log);

    let segments = segments_of(&path).unwrap();
    assert!(
        segments.len() >= 3,
        "150 records of ~200 bytes make several 4 KiB segments"
    );
    for segment in &segments {
        let size = std::fs::metadata(&segment.path).unwrap().len();
        assert!(size <= 4096, "{} has {size} bytes", segment.path.display());
    }
    // seq counts on across segments without gaps, and every live file after the first starts
    // with a rotate record naming the segment before it and chaining to its last line.
    assert_eq!(seqs(&path), (1..=last).collect::<Vec<_>>());
    for pair in segments.windows(2) {
        let before = read_lines(&pair[0].path);
        let first = &read_records(&pair[1].path).unwrap()[0];
        assert_eq!(first.event, ROTATE_EVENT);
        assert_eq!(first.prev, line_hash(before.last().unwrap().as_bytes()));
        assert_eq!(first.get_u64("prev_last_seq"), Some(pair[0].last_seq));
        assert_eq!(
            first.get_str("prev_segment"),
            pair[0].path.file_name().unwrap().to_str()
        );
        assert_eq!(first.get_str("reason"), Some("size"));
    }
    let live = read_records(&path).unwrap();
    assert_eq!(
        live[0].event, ROTATE_EVENT,
        "a single segment verifies on its own"
    );
    let report = verify_log(&path, None).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, last);
    assert_eq!(report.files.len(), segments.len() + 1);
    assert_eq!(report.first_seq, 1);

    // Reopened, the log goes on where it stopped and keeps rotating.
    let mut log = open(&path, rotating(4096));
    assert_eq!(log.last_seq(), last);
    let last = fill(&mut log, 50);
    drop(log);
    assert_eq!(seqs(&path), (1..=last).collect::<Vec<_>>());
}

#[test]
fn a_missing_edited_or_renamed_segment_is_named() {
    let (_dir, path) = tmp_log();
    let mut log = open(&path, rotating(4096));
    fill(&mut log, 150);
    drop(log);
    let segments = segment_paths(&path);
    let middle = segments[1].clone();

    // Removed: the records it held are named, and the file that would hold them.
    let aside = middle.with_extension("aside");
    std::fs::rename(&middle, &aside).unwrap();
    let report = verify_log(&path, None).unwrap();
    match &report.problem {
        Some(LogProblem::MissingSegment { expected_name, .. }) => {
            assert_eq!(expected_name, &middle)
        }
        other => panic!("expected a missing segment, got {other:?}"),
    }
    assert!(
        report.to_string().contains("restore it from the backup"),
        "{report}"
    );
    assert!(
        scan_log_strict(&path, |_, _| {}).is_err(),
        "readers refuse a gap"
    );
    std::fs::rename(&aside, &middle).unwrap();
    assert!(verify_log(&path, None).unwrap().is_ok());

    // Edited: a record in the middle of a segment.
    let original = read_lines(&middle);
    let mut edited = original.clone();
    edited[2] = edited[2].replacen("\"event\":\"", "\"event\":\"x", 1);
    assert_ne!(edited, original);
    write_lines(&middle, &edited);
    let report = verify_log(&path, None).unwrap();
    assert!(
        matches!(&report.problem, Some(LogProblem::InFile { file, .. }) if *file == middle),
        "{report}"
    );
    write_lines(&middle, &original);

    // The newest record of a segment removed: the next file no longer chains to it.
    write_lines(&middle, &original[..original.len() - 1]);
    let report = verify_log(&path, None).unwrap();
    assert!(!report.is_ok(), "{report}");
    write_lines(&middle, &original);

    // Two segments' contents swapped under their names.
    let other = segments[2].clone();
    let (a, b) = (
        std::fs::read(&middle).unwrap(),
        std::fs::read(&other).unwrap(),
    );
    std::fs::write(&middle, &b).unwrap();
    std::fs::write(&other, &a).unwrap();
    let report = verify_log(&path, None).unwrap();
    assert!(!report.is_ok(), "{report}");
    std::fs::write(&middle, &a).unwrap();
    std::fs::write(&other, &b).unwrap();
    assert!(verify_log(&path, None).unwrap().is_ok());
}

#[test]
fn archived_older_segments_are_not_a_gap() {
    let (dir, path) = tmp_log();
    let mut log = open(&path, rotating(4096));
    let last = fill(&mut log, 150);
    drop(log);
    let archive = dir.path().join("archive");
    std::fs::create_dir(&archive).unwrap();
    let oldest = segment_paths(&path)[0].clone();
    std::fs::rename(&oldest, archive.join(oldest.file_name().unwrap())).unwrap();
    let report = verify_log(&path, None).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.first_seq > 1);
    assert_eq!(report.last_seq, last);
    assert!(
        report.to_string().contains("older segments not present"),
        "{report}"
    );
}

#[test]
fn an_interrupted_rotation_is_undone_at_open() {
    let (_dir, path) = tmp_log();
    let mut log = open(&path, rotating(4096));
    let last = fill(&mut log, 150);
    drop(log);
    let segments_before = segment_paths(&path);
    // A crash after the live file got its segment name as a second link, before the new live
    // file took over; and a stray prepared live file.
    let first = read_records(&path).unwrap()[0].seq;
    let half = burnstand_audit::segment_path(&path, first, last);
    std::fs::hard_link(&path, &half).unwrap();
    let stray = path.with_file_name(".audit.log.rotating");
    std::fs::write(&stray, b"{\"seq\":").unwrap();
    assert!(!verify_log(&path, None).unwrap().is_ok() || segment_paths(&path).contains(&half));

    let mut log = open(&path, rotating(4096));
    assert_eq!(log.last_seq(), last, "the live file goes on as it was");
    assert!(!half.exists() && !stray.exists());
    assert_eq!(segment_paths(&path), segments_before);
    let last = fill(&mut log, 5);
    drop(log);
    assert_eq!(seqs(&path), (1..=last).collect::<Vec<_>>());
}

#[test]
fn a_missing_or_torn_live_file_goes_on_after_the_newest_segment() {
    let (_dir, path) = tmp_log();
    let mut log = open(&path, rotating(4096));
    let last = fill(&mut log, 150);
    drop(log);

    // The live file's only line torn (e.g. a copy of a log cut mid-record): the chain goes on
    // after the newest segment, not from record 1 again.
    let newest = segments_of(&path).unwrap().pop().unwrap();
    std::fs::write(&path, b"{\"seq\":9999,\"time\":\"2026-11").unwrap();
    let log = open(&path, rotating(4096));
    assert!(log.repaired_tail().is_some());
    let records = read_records(&path).unwrap();
    assert_eq!(records[0].event, ROTATE_EVENT);
    assert_eq!(records[0].seq, newest.last_seq + 1);
    assert_eq!(records[0].get_str("reason"), Some("resume"));
    assert_eq!(records[1].event, REPAIR_EVENT);
    drop(log);
    let report = verify_log(&path, None).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.last_seq < last, "the live file's records are gone");
}

#[test]
fn the_exported_head_detects_removal_of_the_newest_records() {
    let (dir, path) = tmp_log();
    let head_file = dir.path().join("other-disk").join("audit.head");
    std::fs::create_dir(head_file.parent().unwrap()).unwrap();
    let settings = AuditSettings {
        rotate_bytes: 4096,
        head_export: Some(head_file.clone()),
        ..AuditSettings::default()
    };
    let mut log = open(&path, settings.clone());
    let mut appended = None;
    for i in 1..=60 {
        appended = Some(log.append(&sample_event(i)).unwrap());
    }
    drop(log);
    let appended = appended.unwrap();
    let head = Head::read(&head_file).unwrap();
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (appended.seq, appended.hash.as_str())
    );
    let report = verify_log(&path, Some(&head)).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.after_head, Some(0));

    // The newest two records removed: the chain still verifies, the head does not.
    let lines = read_lines(&path);
    write_lines(&path, &lines[..lines.len() - 2]);
    assert!(verify_log(&path, None).unwrap().is_ok());
    let report = verify_log(&path, Some(&head)).unwrap();
    assert!(
        matches!(report.problem, Some(LogProblem::Head { .. })),
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("newest records were edited or removed"),
        "{report}"
    );

    // The whole live file removed: the segments still verify, the head does not.
    std::fs::remove_file(&path).unwrap();
    assert!(verify_log(&path, None).unwrap().is_ok());
    assert!(!verify_log(&path, Some(&head)).unwrap().is_ok());
}

#[test]
fn a_log_ahead_of_its_head_still_holds_it() {
    let (dir, path) = tmp_log();
    let head_file = dir.path().join("audit.head");
    let mut log = open(
        &path,
        AuditSettings {
            head_export: Some(head_file.clone()),
            ..AuditSettings::default()
        },
    );
    fill(&mut log, 5);
    drop(log);
    let head = Head::read(&head_file).unwrap();
    // Appended later without the export (as a crash between fsync and export would leave it).
    let mut log = AuditLog::open(&path).unwrap();
    fill(&mut log, 3);
    drop(log);
    let report = verify_log(&path, Some(&head)).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.after_head, Some(3));
    let forged = Head {
        seq: head.seq,
        hash: "0".repeat(64),
    };
    assert!(!verify_log(&path, Some(&forged)).unwrap().is_ok());
}

#[test]
fn the_first_append_of_a_new_day_rotates() {
    let (_dir, path) = tmp_log();
    // A log whose only record is from an earlier day (written by hand, chained correctly).
    let line = format!(
        "{{\"seq\":1,\"time\":\"2020-01-01T23:59:59.000Z\",\"prev\":\"{GENESIS_PREV}\",\"event\":\"auth.ok\"}}"
    );
    write_lines(&path, &[line]);
    let daily = AuditSettings {
        rotate_daily: true,
        ..AuditSettings::default()
    };
    let mut log = open(&path, daily.clone());
    let appended = log.append(&sample_event(1)).unwrap();
    assert_eq!(appended.seq, 3, "record 2 is the rotate record");
    let more = log.append(&sample_event(2)).unwrap();
    assert_eq!(more.seq, 4, "the same day does not rotate again");
    drop(log);
    let segments = segments_of(&path).unwrap();
    assert_eq!(segments.len(), 1);
    assert_eq!((segments[0].first_seq, segments[0].last_seq), (1, 1));
    let records = read_records(&path).unwrap();
    assert_eq!(records[0].get_str("reason"), Some("day"));
    assert!(verify_log(&path, None).unwrap().is_ok());
}

#[test]
fn a_single_segment_starting_with_a_forged_rotate_record_is_refused() {
    let (_dir, path) = tmp_log();
    let line = format!(
        "{{\"seq\":5,\"time\":\"2026-01-01T00:00:00.000Z\",\"prev\":\"{}\",\"event\":\"{ROTATE_EVENT}\",\"prev_last_seq\":3,\"prev_hash\":\"{}\"}}",
        "a".repeat(64),
        "a".repeat(64)
    );
    write_lines(&path, &[line]);
    let report = verify(&path).unwrap();
    assert!(
        matches!(report.problem, Some(Problem::Malformed { .. })),
        "{report}"
    );
}

#[test]
fn every_head_also_goes_to_syslog_when_configured() {
    let (dir, path) = tmp_log();
    let socket = dir.path().join("syslog.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    let settings = AuditSettings {
        head_syslog: Some(socket.clone()),
        ..AuditSettings::default()
    };
    assert!(settings.problems(&path).is_empty());
    let mut log = open(&path, settings);
    let appended = log.append(&sample_event(1)).unwrap();
    drop(log);
    let mut buf = [0u8; 1024];
    // The head at open (empty log: 0 and zeros), then the head after the append.
    let mut heads = Vec::new();
    for _ in 0..2 {
        let n = syslog.recv(&mut buf).unwrap();
        let text = String::from_utf8(buf[..n].to_vec()).unwrap();
        assert!(text.starts_with("<86>burnstand-audit: head "), "{text}");
        heads.push(text.rsplit(' ').next().and_then(Head::parse).unwrap());
    }
    assert_eq!(heads[0].seq, 0);
    assert_eq!(
        (heads[1].seq, heads[1].hash.as_str()),
        (appended.seq, appended.hash.as_str())
    );
    // Nobody listening: the append still succeeds (the failure is logged).
    drop(syslog);
    let mut log = open(
        &path,
        AuditSettings {
            head_syslog: Some(socket),
            ..AuditSettings::default()
        },
    );
    assert!(log.append(&sample_event(2)).is_ok());
}

#[test]
fn a_daemon_refuses_a_log_that_lost_its_exported_head_instead_of_overwriting_it() {
    let (dir, path) = tmp_log();
    let head_file = dir.path().join("audit.head");
    let settings = AuditSettings {
        rotate_bytes: 4096,
        head_export: Some(head_file.clone()),
        ..AuditSettings::default()
    };
    let mut log = open(&path, settings.clone());
    fill(&mut log, 60);
    drop(log);
    let exported = std::fs::read_to_string(&head_file).unwrap();
    // The newest records removed while the daemon was stopped.
    let lines = read_lines(&path);
    write_lines(&path, &lines[..lines.len() - 1]);
    let err = OpenOptions::new()
        .repair_torn_tail(true)
        .settings(settings.clone())
        .open(&path)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("does not hold the head exported") && text.contains("move"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(&head_file).unwrap(),
        exported,
        "the evidence is kept"
    );
    // Moved aside by the operator, the daemon starts on the log as it is.
    std::fs::rename(&head_file, head_file.with_extension("evidence")).unwrap();
    assert!(OpenOptions::new().settings(settings).open(&path).is_ok());
}
