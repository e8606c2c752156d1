//! Burn receipts the master records — relayed in a pass-through, pushed or synced over a
//! station's control link — and the copies they count for quotas.
//!
//! The master re-seals every block a station sends, so it sees each `RECEIPT` event (the
//! station's durable `burn.receipt` record, protocol.md §6.3). Before the block goes on to the
//! user, the master appends its own `burn.receipt` — the station's fields plus the station's
//! configured name and the record's place in the station's log — and completes the copy in
//! its [`Ledger`]. The same receipt also arrives over the control link (§5.9); a copy whose
//! receipt is recorded already is not recorded again.
//!
//! Only blocks that start with the tag `RECEIPT` are decoded; everything else is relayed
//! untouched. A `RECEIPT` that does not decode, whose line is not a `burn.receipt` of this
//! station (and, relayed, of this session's user), or whose hash does not match its line, ends
//! the pass-through or the control link: the station is authenticated, so such a block means
//! it is broken, and a receipt the master cannot record must not reach the user as if it were
//! on record.

use std::path::Path;
use std::sync::OnceLock;
use std::time::SystemTime;

use burnstand_audit::{line_hash, Event, Record};
use burnstand_policy::{Burn, RECEIPT_EVENT};
use burnstand_wire::burner::{Event as BurnerEvent, Receipt};
use burnstand_wire::datastream::{from_bytes, to_bytes};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ledger::{Copy, Ledger, LogPosition};
use crate::registry::CopyOutcome;
use crate::server::Shared;

/// The audit event of a copy grant (`docs/protocol.md` §5.9).
pub const GRANT_EVENT: &str = "copy.grant";

/// The encoded tag that starts a RECEIPT event: the only blocks the master decodes.
fn receipt_tag() -> &'static [u8] {
    static TAG: OnceLock<Vec<u8>> = OnceLock::new();
    TAG.get_or_init(|| to_bytes("RECEIPT"))
}

/// Where a receipt came from, and whom it must name.
pub(crate) struct ReceiptWatch<'a> {
    pub(crate) shared: &'a Shared,
    /// The station's name in the master's configuration.
    pub(crate) station_name: &'a str,
    /// The station's id, from its hello: every receipt must carry it.
    pub(crate) station_id: &'a str,
    /// In a pass-through, the session's user (exported name), whom every receipt must name.
    pub(crate) user_exported: Option<&'a [u8]>,
    pub(crate) conn: u64,
}

impl ReceiptWatch<'_> {
    /// Records the receipt `plaintext` carries, if it carries one; returns once the master's
    /// record is durable.
    pub(crate) async fn observe(&self, plaintext: &[u8]) -> Result<()> {
        if !plaintext.starts_with(receipt_tag()) {
            return Ok(());
        }
        let BurnerEvent::Receipt(receipt) = from_bytes::<BurnerEvent>(plaintext)? else {
            return Ok(());
        };
        self.record(&receipt).await
    }

    /// Records one receipt (relayed, pushed or synced).
    pub(crate) async fn record(&self, receipt: &Receipt) -> Result<()> {
        let (event, copy, result) =
            master_copy(receipt, self.user_exported, self.station_name, self.conn)?;
        if copy.station_id != self.station_id {
            return Err(Error::BadReceipt(
                "it names another station than the one that sent it".into(),
            ));
        }
        let position = LogPosition {
            seq: receipt.seq,
            hash: receipt.hash.to_hex(),
        };
        // One writer at a time, so a receipt relayed and pushed at once is recorded once.
        let _one = self.shared.records.lock().await;
        if self.shared.ledger.has_receipt(&copy.copy_id)? {
            return Ok(());
        }
        self.shared.audit.append(event).await?;
        self.shared.ledger.receipt(&copy, &result, &position)?;
        self.shared
            .ledger
            .set_receipt_line(&copy.copy_id, &receipt.line)?;
        let outcome = match result.as_str() {
            "verified" => CopyOutcome::Verified,
            "verify_failed" => CopyOutcome::VerifyFailed,
            _ => CopyOutcome::Other,
        };
        self.shared.registry.count_copy(self.station_name, outcome);
        self.shared.metrics.copy(self.station_name, &result);
        Ok(())
    }
}

/// The master's `burn.receipt` for a station's receipt, the copy it completes, and its result;
/// an error for a receipt the master cannot vouch for (see the module docs). No I/O, so every
/// refusal is unit-tested.
pub fn master_copy(
    receipt: &Receipt,
    user_exported: Option<&[u8]>,
    station_name: &str,
    conn: u64,
) -> Result<(Event, Copy, String)> {
    let bad = |why: &str| Error::BadReceipt(why.to_owned());
    if line_hash(receipt.line.as_bytes()) != receipt.hash.to_hex() {
        return Err(bad("its hash does not match its line"));
    }
    let record = Record::parse_line(receipt.line.as_bytes()).map_err(|e| bad(&e))?;
    if record.event != RECEIPT_EVENT || record.seq != receipt.seq {
        return Err(bad("it is not a burn.receipt record at the seq it claims"));
    }
    let copy = copy_of(&record).ok_or_else(|| bad("a field is missing"))?;
    if user_exported.is_some_and(|user| copy.user != user) {
        return Err(bad("it names another user than this session's"));
    }
    let result = record.get_str("result").unwrap_or("").to_owned();
    let mut event = Event::new(RECEIPT_EVENT);
    for (name, value) in &record.fields {
        event = match value {
            Value::String(s) => event.field(name.as_str(), s.as_str()),
            Value::Bool(b) => event.field(name.as_str(), *b),
            Value::Number(n) => match n.as_u64() {
                Some(n) => event.field(name.as_str(), n),
                None => return Err(bad("a number is not an unsigned integer")),
            },
            _ => return Err(bad("a field is not a string, number or boolean")),
        };
    }
    let event = event
        .field("conn", conn)
        .field("station_name", station_name)
        .field("station_seq", receipt.seq)
        .field("station_hash", receipt.hash.to_hex());
    Ok((event, copy, result))
}

/// The copy a station's (or the master's own) `burn.receipt` record describes.
fn copy_of(record: &Record) -> Option<Copy> {
    let burn = Burn::from_record(record)?;
    Some(Copy {
        copy_id: burn.copy_id,
        user: burn.user,
        sha256: burn.sha256,
        station_id: record.get_str("station")?.to_owned(),
        at: burn.end,
    })
}

/// Brings the ledger up to date with the master's audit log at `path` and its rotated
/// segments (every `copy.grant` and `burn.receipt` they hold; idempotent), so a record whose
/// ledger write a crash cut short still counts, and a ledger started beside an older (or a
/// rotated) log counts its copies. The segments must verify end to end.
pub fn import_log(ledger: &dyn Ledger, path: &Path) -> Result<u64> {
    let mut added = 0;
    let mut failed = None;
    burnstand_audit::scan_log_strict(path, |record, _| {
        if failed.is_some() {
            return;
        }
        let outcome = match record.event.as_str() {
            GRANT_EVENT => grant_of(record).map(|copy| ledger.grant(&copy)),
            RECEIPT_EVENT => copy_of(record).map(|copy| {
                let position = LogPosition {
                    seq: record.get_u64("station_seq").unwrap_or(record.seq),
                    hash: record.get_str("station_hash").unwrap_or("").to_owned(),
                };
                ledger.receipt(&copy, record.get_str("result").unwrap_or(""), &position)
            }),
            _ => None,
        };
        match outcome {
            Some(Ok(true)) => added += 1,
            Some(Err(e)) => failed = Some(e),
            _ => {}
        }
    })
    .map_err(|e| Error::ConfigInvalid(format!("audit log {}: {e}", path.display())))?;
    match failed {
        Some(e) => Err(e),
        None => Ok(added),
    }
}

/// The copy a `copy.grant` record describes.
fn grant_of(record: &Record) -> Option<Copy> {
    Some(Copy {
        copy_id: record.get_str("copy_id")?.to_owned(),
        user: hex::decode(record.get_str("user_exported")?).ok()?,
        sha256: record.get_str("sha256")?.to_ascii_lowercase(),
        station_id: record.get_str("station_id")?.to_owned(),
        at: record.timestamp()?,
    })
}

/// Now, for policy decisions.
pub fn now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use burnstand_audit::AuditLog;
    use burnstand_wire::burner::Sha256;

    use super::*;

    const ALICE: &[u8] = b"alice-exported";

    /// A real station log with one receipt for `user`; returns (seq, hash, line).
    fn station_receipt(user: &[u8]) -> (u64, String, String) {
        let dir = tempfile::tempdir().expect("dir");
        let mut log = AuditLog::open(dir.path().join("station.log")).expect("log");
        log.append(&Event::new("session.start")).expect("append");
        let a = log
            .append(
                &Event::new(RECEIPT_EVENT)
                    .field("copy_id", "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
                    .field("station", "st-1")
                    .field("user_exported", hex::encode(user))
                    .field("sha256", "ab".repeat(32))
                    .field("result", "verified")
                    .field("copy", 1u64)
                    .field("end", "2026-11-22T10:00:00Z"),
            )
            .expect("append");
        (a.seq, a.hash, a.line)
    }

    fn block(seq: u64, hash: &str, line: &str) -> Receipt {
        Receipt {
            seq,
            hash: Sha256::from_hex(hash).expect("hash"),
            line: line.to_owned(),
        }
    }

    #[test]
    fn a_good_receipt_gets_the_join_fields_and_counts() {
        let (seq, hash, line) = station_receipt(ALICE);
        let (event, copy, result) =
            master_copy(&block(seq, &hash, &line), Some(ALICE), "dvd-1", 7).unwrap();
        let fields: Vec<(&str, String)> =
            event.fields().map(|(k, v)| (k, format!("{v:?}"))).collect();
        for name in [
            "station",
            "result",
            "conn",
            "station_name",
            "station_seq",
            "station_hash",
        ] {
            assert!(fields.iter().any(|(k, _)| *k == name), "{name}: {fields:?}");
        }
        assert_eq!(copy.station_id, "st-1");
        assert_eq!(copy.copy_id, "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b");
        assert_eq!(copy.user, ALICE);
        assert_eq!(result, "verified");
        // Over the control link no user is expected: any user's receipt of the station.
        assert!(master_copy(&block(seq, &hash, &line), None, "dvd-1", 7).is_ok());
    }

    #[test]
    fn receipts_the_master_cannot_vouch_for_end_the_relay() {
        let (seq, hash, line) = station_receipt(ALICE);
        let edited = line.replace("verified", "verify_failed");
        let other = station_receipt(b"mallory-exported");
        let cases = [
            ("wrong hash", block(seq, &"00".repeat(32), &line)),
            ("edited line", block(seq, &hash, &edited)),
            ("wrong seq", block(seq + 1, &hash, &line)),
            ("another user", block(other.0, &other.1, &other.2)),
        ];
        for (what, bytes) in cases {
            assert!(
                matches!(
                    master_copy(&bytes, Some(ALICE), "dvd-1", 1),
                    Err(Error::BadReceipt(_))
                ),
                "{what}"
            );
        }
    }

    #[test]
    fn import_reads_receipts_from_rotated_segments_too() {
        use crate::ledger::SqliteLedger;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("master.jsonl");
        let mut log = burnstand_audit::OpenOptions::new()
            .settings(burnstand_audit::AuditSettings {
                rotate_bytes: 4096,
                ..Default::default()
            })
            .open(&path)
            .expect("log");
        log.append(
            &Event::new(RECEIPT_EVENT)
                .field("copy_id", "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
                .field("station", "st-1")
                .field("user_exported", hex::encode(ALICE))
                .field("sha256", "ab".repeat(32))
                .field("result", "verified")
                .field("end", "2026-11-22T10:00:00Z"),
        )
        .expect("append");
        // Enough records that the receipt ends up in a rotated segment.
        for n in 0..100u64 {
            log.append(&Event::new("auth.ok").field("n", n))
                .expect("append");
        }
        drop(log);
        assert!(!burnstand_audit::segments_of(&path)
            .expect("list")
            .is_empty());
        let live_only = burnstand_audit::read_records(&path).expect("live");
        assert!(live_only.iter().all(|r| r.event != RECEIPT_EVENT));

        let ledger = SqliteLedger::open(&dir.path().join("ledger.sqlite")).expect("ledger");
        assert_eq!(import_log(&ledger, &path).expect("import"), 1);
        assert!(ledger
            .has_receipt("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b")
            .expect("ledger"));
        // A gap between segments refuses the import with the file named.
        let middle = burnstand_audit::segments_of(&path).expect("list");
        assert!(middle.len() >= 2, "{middle:?}");
        std::fs::remove_file(&middle[1].path).expect("remove");
        let err = import_log(&ledger, &path).expect_err("a gap");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
