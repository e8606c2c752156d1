//! Burn receipts seen in the pass-through, and the copies they count for quotas.
//!
//! The master re-seals every block a station sends, so it sees each `RECEIPT` event (the
//! station's durable `burn.receipt` record, protocol.md §6.3). Before the block goes on to the
//! user, the master appends its own `burn.receipt` — the station's fields plus the station's
//! configured name and the record's place in the station's log — and counts the copy in its
//! [`UsageIndex`]. So the master's log holds every burn of every station, BIND can refuse a
//! user whose quotas are used up everywhere, and the identity block can tell a station about
//! copies burned on other stations ([`prior_burns`]).
//!
//! Only blocks that start with the tag `RECEIPT` are decoded; everything else is relayed
//! untouched. A `RECEIPT` that does not decode, whose line is not a `burn.receipt` of this
//! session's user, or whose hash does not match its line, ends the pass-through: the station
//! is authenticated, so such a block means it is broken, and a receipt the master cannot
//! record must not reach the user as if it were on record.

use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use burnstand_audit::{line_hash, Event, Record};
use burnstand_policy::{Burn, UsageIndex, RECEIPT_EVENT};
use burnstand_wire::burner::{Event as BurnerEvent, Sha256};
use burnstand_wire::command::{PriorBurn, MAX_PRIOR_BURNS};
use burnstand_wire::datastream::{from_bytes, to_bytes};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::server::Shared;

/// The encoded tag that starts a RECEIPT event: the only blocks the master decodes.
fn receipt_tag() -> &'static [u8] {
    static TAG: OnceLock<Vec<u8>> = OnceLock::new();
    TAG.get_or_init(|| to_bytes("RECEIPT"))
}

/// Watches the station → user direction of one pass-through.
pub(crate) struct ReceiptWatch<'a> {
    pub(crate) shared: &'a Shared,
    /// The station's name in the master's configuration.
    pub(crate) station_name: &'a str,
    /// The session's user (exported name), whom every receipt must name.
    pub(crate) user_exported: &'a [u8],
    pub(crate) conn: u64,
}

impl ReceiptWatch<'_> {
    /// Records the receipt `plaintext` carries, if it carries one; returns once the master's
    /// record is durable.
    pub(crate) async fn observe(&self, plaintext: &[u8]) -> Result<()> {
        let Some((event, burn)) =
            master_copy(plaintext, self.user_exported, self.station_name, self.conn)?
        else {
            return Ok(());
        };
        self.shared.audit.append(event).await?;
        record_burn(&self.shared.usage, burn);
        Ok(())
    }
}

/// The master's `burn.receipt` for a relayed block, and the burn it counts: `None` for a
/// block that is not a RECEIPT; an error for a RECEIPT the master cannot vouch for (see the
/// module docs). No I/O, so every refusal is unit-tested.
pub fn master_copy(
    plaintext: &[u8],
    user_exported: &[u8],
    station_name: &str,
    conn: u64,
) -> Result<Option<(Event, Burn)>> {
    if !plaintext.starts_with(receipt_tag()) {
        return Ok(None);
    }
    let BurnerEvent::Receipt(receipt) = from_bytes::<BurnerEvent>(plaintext)? else {
        return Ok(None);
    };
    let bad = |why: &str| Error::BadReceipt(why.to_owned());
    if line_hash(receipt.line.as_bytes()) != receipt.hash.to_hex() {
        return Err(bad("its hash does not match its line"));
    }
    let record = Record::parse_line(receipt.line.as_bytes()).map_err(|e| bad(&e))?;
    if record.event != RECEIPT_EVENT || record.seq != receipt.seq {
        return Err(bad("it is not a burn.receipt record at the seq it claims"));
    }
    let burn = Burn::from_record(&record).ok_or_else(|| bad("a field is missing"))?;
    if burn.user != user_exported {
        return Err(bad("it names another user than this session's"));
    }
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
    Ok(Some((event, burn)))
}

/// Counts one burn.
pub fn record_burn(usage: &Mutex<UsageIndex>, burn: Burn) {
    usage.lock().unwrap_or_else(|p| p.into_inner()).record(burn);
}

/// What the master knows of `user`'s burns, newest first, for the identity block.
pub fn prior_burns(usage: &Mutex<UsageIndex>, user: &[u8]) -> Vec<PriorBurn> {
    let usage = usage.lock().unwrap_or_else(|p| p.into_inner());
    usage
        .burns_of(user)
        .into_iter()
        .filter_map(|b| {
            Some(PriorBurn {
                station: b.station.clone(),
                station_seq: b.station_seq,
                sha256: Sha256::from_hex(&b.sha256).ok()?,
                end_unix: b.end.duration_since(UNIX_EPOCH).ok()?.as_secs(),
            })
        })
        .take(MAX_PRIOR_BURNS)
        .collect()
}

/// Now, for policy decisions.
pub fn now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use burnstand_audit::AuditLog;
    use burnstand_wire::burner::Receipt;

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

    fn block(seq: u64, hash: &str, line: &str) -> Vec<u8> {
        to_bytes(&BurnerEvent::Receipt(Receipt {
            seq,
            hash: Sha256::from_hex(hash).expect("hash"),
            line: line.to_owned(),
        }))
    }

    #[test]
    fn only_receipt_blocks_are_looked_at() {
        for other in [
            to_bytes(&BurnerEvent::Avail),
            b"garbage".to_vec(),
            Vec::new(),
        ] {
            assert!(master_copy(&other, ALICE, "dvd-1", 1).unwrap().is_none());
        }
    }

    #[test]
    fn a_good_receipt_gets_the_join_fields_and_counts() {
        let (seq, hash, line) = station_receipt(ALICE);
        let (event, burn) = master_copy(&block(seq, &hash, &line), ALICE, "dvd-1", 7)
            .unwrap()
            .expect("a receipt");
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
        assert_eq!(burn.station, "st-1");
        assert_eq!(burn.station_seq, seq);
        assert_eq!(burn.user, ALICE);
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
                    master_copy(&bytes, ALICE, "dvd-1", 1),
                    Err(Error::BadReceipt(_))
                ),
                "{what}"
            );
        }
        // A RECEIPT that does not even decode is a wire error.
        let truncated = &block(seq, &hash, &line)[..20];
        assert!(matches!(
            master_copy(truncated, ALICE, "dvd-1", 1),
            Err(Error::Wire(_))
        ));
    }
}
