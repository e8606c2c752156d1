//! Properties: any sequence of events verifies and reads back; any single flipped byte is caught.

use std::io::Cursor;

use burnstand_audit::{read_records, verify, verify_reader, AuditLog, Event, FieldValue};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::tmp_log;

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        // Printable text plus the characters JSON must escape.
        "[ -~\u{e9}\u{2603}\"\\\\\n\t\u{0}]{0,24}".prop_map(FieldValue::Str),
        any::<u64>().prop_map(FieldValue::U64),
        any::<i64>().prop_map(FieldValue::I64),
        any::<bool>().prop_map(FieldValue::Bool),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    let name = prop::sample::select(vec!["auth.ok", "auth.fail", "bind", "burn.end", "x-1_y"]);
    let fields = prop::collection::btree_map("[a-z][a-z0-9_]{0,7}", field_value(), 0..4);
    (name, fields).prop_map(|(name, fields)| {
        fields
            .into_iter()
            .filter(|(k, _)| !burnstand_audit::RESERVED_NAMES.contains(&k.as_str()))
            .fold(Event::new(name), |e, (k, v)| e.field(k, v))
    })
}

fn json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Str(s) => Value::from(s.as_str()),
        FieldValue::U64(n) => Value::from(*n),
        FieldValue::I64(n) => Value::from(*n),
        FieldValue::Bool(b) => Value::from(*b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_events_verify_and_any_flipped_byte_is_detected(
        events in prop::collection::vec(event(), 1..6),
        mask in 1u8..=255,
    ) {
        let (_dir, path) = tmp_log();
        let mut log = AuditLog::open(&path).unwrap();
        let mut head = None;
        for e in &events {
            head = Some(log.append(e).unwrap());
        }
        drop(log);
        let head = head.unwrap();

        let report = verify(&path).unwrap();
        prop_assert!(report.ends_at(head.seq, &head.hash), "{}", report);
        prop_assert_eq!(report.records, events.len() as u64);

        let records = read_records(&path).unwrap();
        for (record, event) in records.iter().zip(&events) {
            prop_assert_eq!(&record.event, event.name());
            let want: Vec<(String, Value)> =
                event.fields().map(|(k, v)| (k.to_owned(), json(v))).collect();
            let got: Vec<(String, Value)> =
                record.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(got, want);
        }

        let bytes = std::fs::read(&path).unwrap();
        let body = &bytes[..bytes.len() - 1];
        let last_line_start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        for m in [mask, 0x01] {
            for i in 0..bytes.len() {
                let mut flipped = bytes.clone();
                flipped[i] ^= m;
                let report = verify_reader(Cursor::new(&flipped)).unwrap();
                if i < last_line_start {
                    // Every record but the newest is vouched for by its successor.
                    prop_assert!(
                        report.problem.is_some(),
                        "flip {:#04x} at byte {} undetected: {}", m, i, report
                    );
                } else {
                    // The newest record: the chain, or the head kept elsewhere.
                    prop_assert!(
                        !report.ends_at(head.seq, &head.hash),
                        "flip {:#04x} at byte {} of the last line undetected", m, i
                    );
                }
            }
        }
    }
}
