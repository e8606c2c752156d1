//! Appending, reopening, the line format, reading records back, refusing bad events.

use std::os::unix::fs::PermissionsExt;

use burnstand_audit::{
    line_hash, read_records, verify, AuditLog, Error, Event, GENESIS_PREV, MAX_RECORD_LEN,
};
use serde_json::Value;

use crate::common::{read_lines, sample_event, tmp_log, write_log};

#[test]
fn first_record_starts_the_chain_with_zeros() {
    let (_dir, path) = tmp_log();
    let appended = write_log(&path, 1);
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("{\"seq\":1,\"time\":\""));
    assert!(lines[0].contains(&format!(
        "\"prev\":\"{GENESIS_PREV}\",\"event\":\"auth.ok\","
    )));
    assert_eq!(appended[0].seq, 1);
    assert_eq!(appended[0].hash, line_hash(lines[0].as_bytes()));
}

#[test]
fn line_format_is_fixed_order_and_timestamp_is_utc_millis() {
    let (_dir, path) = tmp_log();
    let mut log = AuditLog::open(&path).unwrap();
    let appended = log
        .append(
            &Event::new("auth.fail")
                .field("peer", "127.0.0.1:5000")
                .field("reason", "bad \"ticket\"")
                .field("bytes", 123u64),
        )
        .unwrap();
    drop(log);
    let line = &read_lines(&path)[0];
    let time = &appended.time;
    assert_eq!(
        line,
        &format!(
            "{{\"seq\":1,\"time\":\"{time}\",\"prev\":\"{GENESIS_PREV}\",\"event\":\"auth.fail\",\
             \"peer\":\"127.0.0.1:5000\",\"reason\":\"bad \\\"ticket\\\"\",\"bytes\":123}}"
        )
    );
    let t = time.as_bytes();
    assert_eq!(time.len(), "2026-11-22T04:30:00.123Z".len(), "{time}");
    assert_eq!(
        (t[4], t[7], t[10], t[13], t[16], t[19], t[23]),
        (b'-', b'-', b'T', b':', b':', b'.', b'Z')
    );
}

#[test]
fn reopening_continues_seq_and_chain() {
    let (_dir, path) = tmp_log();
    let first = write_log(&path, 3);
    let mut log = AuditLog::open(&path).unwrap();
    assert_eq!(log.last_seq(), 3);
    assert_eq!(log.last_hash(), first[2].hash);
    let fourth = log.append(&sample_event(4)).unwrap();
    assert_eq!(fourth.seq, 4);
    drop(log);

    let records = read_records(&path).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[3].seq, 4);
    assert_eq!(
        records[3].prev, first[2].hash,
        "record 4 chains to record 3"
    );
    let report = verify(&path).unwrap();
    assert!(report.ends_at(4, &fourth.hash), "{report}");
    assert_eq!(report.records, 4);
}

#[test]
fn verify_passes_on_a_good_log() {
    let (_dir, path) = tmp_log();
    let appended = write_log(&path, 20);
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, 20);
    assert_eq!(report.last_seq, 20);
    assert_eq!(report.last_hash, appended[19].hash);
    assert!(report.to_string().starts_with("OK: 20 records"), "{report}");
}

#[test]
fn empty_and_new_logs_verify() {
    let (_dir, path) = tmp_log();
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.last_seq(), 0);
    assert_eq!(log.last_hash(), GENESIS_PREV);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    drop(log);
    let report = verify(&path).unwrap();
    assert!(report.ends_at(0, GENESIS_PREV));
    assert!(read_records(&path).unwrap().is_empty());
}

#[test]
fn read_records_gives_typed_fields_in_order() {
    let (_dir, path) = tmp_log();
    let mut log = AuditLog::open(&path).unwrap();
    log.append(
        &Event::new("burn.end")
            .field("station", "burner-1")
            .field("image_sha256", "cd".repeat(32))
            .field("bytes", 700u32)
            .field("offset", -3i64)
            .field("verified", true),
    )
    .unwrap();
    drop(log);
    let records = read_records(&path).unwrap();
    let r = &records[0];
    assert_eq!(r.event, "burn.end");
    assert_eq!(r.prev, GENESIS_PREV);
    let keys: Vec<&str> = r.fields.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["station", "image_sha256", "bytes", "offset", "verified"]
    );
    assert_eq!(r.get_str("station"), Some("burner-1"));
    assert_eq!(r.get_u64("bytes"), Some(700));
    assert_eq!(r.get("offset"), Some(&Value::from(-3)));
    assert_eq!(r.get("verified"), Some(&Value::Bool(true)));
    assert!(r.timestamp().is_some());
}

#[test]
fn invalid_events_are_refused_without_writing_or_poisoning() {
    let (_dir, path) = tmp_log();
    let mut log = AuditLog::open(&path).unwrap();
    log.append(&sample_event(1)).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();

    let bad = [
        Event::new("auth ok"),
        Event::new("x").field("seq", 9u8),
        Event::new("x").field("prev", "0"),
        Event::new("x").field("a", 1u8).field("a", 2u8),
        Event::new("x").field("", 1u8),
        Event::new("x").field("blob", "z".repeat(MAX_RECORD_LEN)),
    ];
    for event in &bad {
        let err = log.append(event).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidEventName { .. }
                    | Error::ReservedField { .. }
                    | Error::DuplicateField { .. }
                    | Error::InvalidFieldName { .. }
                    | Error::RecordTooLong { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("nothing was written"), "{err}");
    }
    assert!(log.is_healthy());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    assert_eq!(log.append(&sample_event(2)).unwrap().seq, 2);
}

#[test]
fn a_device_is_not_a_log() {
    let err = AuditLog::open("/dev/null").unwrap_err();
    assert!(matches!(err, Error::NotAFile { .. }), "{err}");
}

#[test]
fn a_missing_directory_is_an_open_error() {
    let (dir, _) = tmp_log();
    let err = AuditLog::open(dir.path().join("no/such/dir/audit.log")).unwrap_err();
    assert!(matches!(err, Error::Open { .. }), "{err}");
}
