//! Making the station's log agree with the copies that were really started, and telling the
//! master what it has not recorded (`docs/protocol.md` §5.9).
//!
//! * **At start-up**, before anyone is accepted, every `burn.start` without a `burn.receipt` of
//!   the same copy (the station was killed, or lost power, mid-burn) is closed with a receipt
//!   whose result is `interrupted`: the disc may hold the image, so it is a used copy.
//! * **On SYNC** the control link streams every `burn.receipt` after the master's position
//!   (or all of them, when the record at that position is not the one the master saw: the log
//!   was moved aside or replaced). Copy ids make recording one twice harmless.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use burnstand_audit::{line_hash, Event, LogProblem, Problem, Record};
use burnstand_policy::RECEIPT_EVENT;
use burnstand_wire::burner::{Receipt, Sha256};
use tokio::sync::mpsc;

use crate::error::{Result, StationError};
use crate::station::Station;

/// The result word of a copy closed at start-up.
pub const INTERRUPTED: &str = "interrupted";

/// The key that pairs a `burn.start` with its receipt: the copy id, or for records from before
/// copy ids, the session and the copy number.
fn copy_key(record: &Record) -> Option<String> {
    if let Some(id) = record.get_str("copy_id") {
        return Some(id.to_owned());
    }
    Some(format!(
        "{}/{}",
        record.get_str("session_id")?,
        record.get_u64("copy")?
    ))
}

/// Each record of the whole log (its rotated segments, then the live file at `path`) with its
/// exact line, in order, until `f` returns false. The chain must hold end to end: a copy
/// started in an older segment and a master's position there are found across a rotation. A
/// torn last line of the live file is the end (SYNC runs beside appends, and a line being
/// written is not a record yet); any other problem is an error that names the file.
fn each_line(path: &Path, mut f: impl FnMut(&str, &Record) -> bool) -> std::io::Result<()> {
    let mut go = true;
    let report = burnstand_audit::scan_log(path, None, |record, line| {
        if !go {
            return;
        }
        // Verified records are JSON, so UTF-8; a line that were not would be skipped.
        if let Ok(line) = std::str::from_utf8(line) {
            go = f(line, record);
        }
    })
    .map_err(std::io::Error::other)?;
    match report.problem {
        None => Ok(()),
        Some(LogProblem::InFile {
            file,
            problem: Problem::TornTail { .. },
        }) if file == path => Ok(()),
        Some(problem) => Err(std::io::Error::other(format!(
            "the audit log does not verify end to end: {problem}; run `burnstand audit verify {}`",
            path.display()
        ))),
    }
}

/// Closes every copy that started without a receipt (see the module docs); returns how many.
pub async fn close_interrupted(station: &Station) -> Result<usize> {
    let path = station.config().audit_log.clone();
    let open = tokio::task::spawn_blocking(move || {
        let mut started: HashMap<String, Record> = HashMap::new();
        each_line(&path, |_, record| {
            match record.event.as_str() {
                "burn.start" => {
                    if let Some(key) = copy_key(record) {
                        started.insert(key, record.clone());
                    }
                }
                RECEIPT_EVENT => {
                    if let Some(key) = copy_key(record) {
                        started.remove(&key);
                    }
                }
                _ => {}
            }
            true
        })
        .map(|()| {
            let mut open: Vec<Record> = started.into_values().collect();
            open.sort_by_key(|r| r.seq);
            open
        })
    })
    .await
    .map_err(|e| StationError::io("scanning the audit log", std::io::Error::other(e)))?
    .map_err(|e| StationError::io("scanning the audit log", e))?;
    let drive = station.drive().kind().word();
    for start in &open {
        tracing::warn!(
            seq = start.seq,
            copy_id = start.get_str("copy_id").unwrap_or(""),
            "a copy started before the station stopped has no receipt; closing it as interrupted"
        );
        station.receipt(interrupted_receipt(start, drive)).await?;
    }
    Ok(open.len())
}

/// The receipt of a copy whose `burn.start` is `start` and that never ended.
fn interrupted_receipt(start: &Record, drive: &str) -> Event {
    let s = |name: &str| start.get_str(name).unwrap_or("").to_owned();
    let n = |name: &str| start.get_u64(name).unwrap_or(0);
    let mut event = Event::new(RECEIPT_EVENT);
    if let Some(id) = start.get_str("copy_id") {
        event = event.field("copy_id", id);
    }
    event
        .field("station", s("station"))
        .field("drive", start.get_str("drive").unwrap_or(drive))
        .field("session_id", s("session_id"))
        .field("user", s("user"))
        .field("user_exported", s("user_exported"))
        .field("image_id", s("image"))
        .field("image_name", s("image_name"))
        .field("sha256", s("image_sha256"))
        .field("md5", s("image_md5"))
        .field("readback_md5", "")
        .field("bytes", n("bytes"))
        .field("copy", n("copy"))
        .field("copies", n("copies"))
        .field("result", INTERRUPTED)
        .field("start", start.time.clone())
        .field(
            "end",
            humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        )
        .field("start_seq", start.seq)
}

/// What a SYNC scan produces, in order.
#[derive(Debug)]
pub enum SyncItem {
    Receipt(Receipt),
    Done { head_seq: u64, head_hash: Sha256 },
    Failed(String),
}

/// Starts streaming the receipts after (`after_seq`, `after_hash`) of the log at `path`.
pub fn start_sync(
    path: PathBuf,
    after_seq: u64,
    after_hash: Sha256,
    queue: usize,
) -> mpsc::Receiver<SyncItem> {
    let (tx, rx) = mpsc::channel(queue);
    tokio::task::spawn_blocking(move || {
        // Does the record at after_seq have the hash the master saw? Otherwise send it all.
        let mut from = 0;
        if after_seq > 0 {
            let want = after_hash.to_hex();
            let _ = each_line(&path, |line, record| {
                if record.seq == after_seq {
                    if line_hash(line.as_bytes()) == want {
                        from = after_seq;
                    }
                    return false;
                }
                true
            });
        }
        let mut head = 0;
        let mut head_hash = Sha256([0; 32]);
        let scanned = each_line(&path, |line, record| {
            head = record.seq;
            if let Ok(hash) = Sha256::from_hex(&line_hash(line.as_bytes())) {
                head_hash = hash;
            }
            if record.seq <= from || record.event != RECEIPT_EVENT {
                return true;
            }
            let Ok(hash) = Sha256::from_hex(&line_hash(line.as_bytes())) else {
                return true;
            };
            let receipt = Receipt {
                seq: record.seq,
                hash,
                line: line.to_owned(),
            };
            tx.blocking_send(SyncItem::Receipt(receipt)).is_ok()
        });
        let last = match scanned {
            Ok(()) => SyncItem::Done {
                head_seq: head,
                head_hash,
            },
            Err(e) => SyncItem::Failed(e.to_string()),
        };
        let _ = tx.blocking_send(last);
    });
    rx
}
