//! `burnstand audit …`: offline checks of a master's or a station's audit log.
//!
//! These run on an auditor's machine against a copy of the file; they need no ticket and no
//! network. The hash chain itself is checked by `burnstand-audit`; this module turns its
//! report into what a person reads and an exit code a script can test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use burnstand_audit::{
    find_torn_tail, line_hash, scan_log, segments_of, AuditLog, Head, Record, RepairedTail,
    MAX_RECORD_LEN,
};
use serde::Serialize;

use crate::output::Report;
use crate::receipt::StationRecord;
use crate::ClientError;

/// Largest receipt file `--receipt` reads (a receipt line is about 1 KiB: thousands of
/// burns), so a wrong path fails fast instead of filling memory.
pub const MAX_RECEIPT_FILE_LEN: u64 = 16 * 1024 * 1024;

/// Appends the station's receipt records, one JSON line each, exactly as the station logged
/// them, and syncs the file: a receipt the user was told is saved is on disk.
pub fn save_receipt(path: &Path, records: &[StationRecord]) -> Result<(), ClientError> {
    let fail = |e: std::io::Error| {
        ClientError::AuditUnreadable(format!(
            "cannot save the receipt to {}: {e}",
            path.display()
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    for record in records {
        file.write_all(record.line.as_bytes()).map_err(fail)?;
        file.write_all(b"\n").map_err(fail)?;
    }
    file.sync_all().map_err(fail)
}

/// The receipt file of station `station_id` for `--save-receipt path` of a job over several
/// stations: the id (characters other than letters, digits, `.`, `-`, `_` as `_`) before the
/// extension, `job.jsonl` → `job.STATION.jsonl`, or after a name without one.
pub fn station_receipt_path(path: &Path, station_id: &str) -> PathBuf {
    let id: String = station_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = match (path.file_stem(), path.extension()) {
        (Some(stem), Some(ext)) => {
            format!("{}.{id}.{}", stem.to_string_lossy(), ext.to_string_lossy())
        }
        (Some(stem), None) => format!("{}.{id}", stem.to_string_lossy()),
        _ => format!("receipt.{id}.jsonl"),
    };
    path.with_file_name(name)
}

/// Checks that every receipt line saved in `receipts` is in the (verified) log at `log`,
/// byte for byte, at the `seq` it names. Returns how many were checked.
pub fn check_receipts(log: &Path, receipts: &Path) -> Result<usize, ClientError> {
    let unreadable =
        |what: &Path, e: String| ClientError::AuditUnreadable(format!("{}: {e}", what.display()));
    // The hash of record `s` is the `prev` of record `s + 1`, and the report's last hash for
    // the newest: seq -> hash for the whole (verified) log, one record in memory at a time.
    let live = resolve_log(log)?;
    let mut hashes = HashMap::new();
    let report = scan_log(&live, None, |record, line| {
        hashes.insert(record.seq, line_hash(line));
    })
    .map_err(|e| unreadable(log, e.to_string()))?;
    if !report.is_ok() {
        return Err(ClientError::AuditBroken(report.to_string()));
    }
    let saved = receipt_lines(receipts).map_err(|e| unreadable(receipts, e))?;
    for (n, line) in saved.iter().enumerate() {
        let record = Record::parse_line(line.as_bytes()).map_err(|e| {
            unreadable(
                receipts,
                format!("line {} is not an audit record: {e}", n + 1),
            )
        })?;
        match hashes.get(&record.seq) {
            Some(hash) if *hash == line_hash(line.as_bytes()) => {}
            Some(_) => {
                return Err(ClientError::AuditBroken(format!(
                    "FAILED: receipt line {} (record {}) differs from record {} in {}: the receipt or the log was changed",
                    n + 1,
                    record.seq,
                    record.seq,
                    log.display()
                )))
            }
            None => {
                return Err(ClientError::AuditBroken(format!(
                    "FAILED: receipt line {} names record {}, which {} does not hold (is it the log of the station that burned it?)",
                    n + 1,
                    record.seq,
                    log.display()
                )))
            }
        }
    }
    Ok(saved.len())
}

/// The non-empty lines of a receipt file, each at most `MAX_RECORD_LEN` bytes.
fn receipt_lines(path: &Path) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    if len > MAX_RECEIPT_FILE_LEN {
        return Err(format!(
            "{len} bytes is more than a receipt file holds ({MAX_RECEIPT_FILE_LEN}); is it the right file?"
        ));
    }
    let mut lines = Vec::new();
    for (n, line) in BufReader::new(file.take(MAX_RECEIPT_FILE_LEN))
        .lines()
        .enumerate()
    {
        let line = line.map_err(|e| e.to_string())?;
        if line.len() > MAX_RECORD_LEN {
            return Err(format!(
                "line {} is longer than {MAX_RECORD_LEN} bytes",
                n + 1
            ));
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// The live file of the log `path` names: `path` itself, or for a directory, the one log in it
/// (the live file its segments name, or its only file). The live file may be missing when its
/// segments are there (a backup of rotated segments).
pub fn resolve_log(path: &Path) -> Result<PathBuf, ClientError> {
    let unreadable = |e: String| {
        ClientError::AuditUnreadable(format!("cannot read the audit log {}: {e}", path.display()))
    };
    if !path.is_dir() {
        let live_missing = !path.exists();
        if live_missing
            && segments_of(path)
                .map_err(|e| unreadable(e.to_string()))?
                .is_empty()
        {
            return Err(unreadable("No such file or directory".into()));
        }
        return Ok(path.to_owned());
    }
    let mut lives = std::collections::BTreeSet::new();
    let mut plain = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| unreadable(e.to_string()))? {
        let entry = entry.map_err(|e| unreadable(e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        match live_of_segment(&name) {
            Some(live) => {
                lives.insert(path.join(live));
            }
            None => plain.push(entry.path()),
        }
    }
    let mut candidates: Vec<PathBuf> = lives.into_iter().collect();
    if candidates.is_empty() {
        candidates = plain;
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => Err(unreadable("the directory holds no audit log".into())),
        _ => Err(ClientError::Usage(format!(
            "{} holds several logs ({}); name the live file of the one to verify",
            path.display(),
            candidates
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The live file's name a segment's name belongs to (`master.000…1-000…9.jsonl` →
/// `master.jsonl`), or `None` for any other name.
fn live_of_segment(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let is_range = |s: &str| {
        s.split_once('-').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        })
    };
    // `<stem>.<range>.<ext>` or `<stem>.<range>`, the stem itself possibly dotted.
    let (range_at, ext) = if parts.len() >= 3 && is_range(parts[parts.len() - 2]) {
        (parts.len() - 2, Some(parts[parts.len() - 1]))
    } else if parts.len() >= 2 && is_range(parts[parts.len() - 1]) {
        (parts.len() - 1, None)
    } else {
        return None;
    };
    let stem = parts[..range_at].join(".");
    let live = match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem,
    };
    Some(live)
}

/// The head to check against: `SEQ:HASH`, or a file holding it (a daemon's `head_export`).
pub fn read_head(head: &str) -> Result<Head, ClientError> {
    if let Some(parsed) = Head::parse(head) {
        return Ok(parsed);
    }
    let path = Path::new(head);
    if path.exists() {
        return Head::read(path).map_err(|e| ClientError::AuditUnreadable(e.to_string()));
    }
    Err(ClientError::Usage(format!(
        "--head {head:?} is neither SEQ:HASH (e.g. 42:9f86…) nor an existing head file"
    )))
}

/// Verifies the log at `path` (a live file, found with its rotated segments, or a directory
/// holding one log) end to end; with `head` (`SEQ:HASH` or a head file, as a daemon exported
/// it elsewhere) also proves the newest records were neither edited nor removed.
pub fn verify_log(path: &Path, head: Option<&str>) -> Result<String, ClientError> {
    let live = resolve_log(path)?;
    let head = head.map(read_head).transpose()?;
    let report = burnstand_audit::verify_log(&live, head.as_ref())
        .map_err(|e| ClientError::AuditUnreadable(e.to_string()))?;
    if !report.is_ok() {
        return Err(ClientError::AuditBroken(report.to_string()));
    }
    Ok(report.to_string())
}

/// What `burnstand audit repair` did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct RepairReport {
    pub file: String,
    pub dry_run: bool,
    /// Whether a torn line was cut (always false for a dry run).
    pub repaired: bool,
    /// The torn line's number, offset, length, SHA-256 and first bytes (hex), if there is one.
    pub line: Option<u64>,
    pub offset: Option<u64>,
    pub cut_bytes: Option<u64>,
    pub cut_sha256: Option<String>,
    pub cut_head_hex: Option<String>,
    /// The `seq` of the `audit.repair` record that records the cut.
    pub record: Option<u64>,
    pub report: String,
}

impl Report for RepairReport {
    fn human(&self) -> String {
        self.report.clone()
    }
}

/// Cuts off a torn last line of the log at `path` and records the cut (see
/// `burnstand_audit::find_torn_tail`), or with `dry_run` only says what would be cut. A log
/// broken anywhere else is refused untouched.
pub fn repair_log(path: &Path, dry_run: bool) -> Result<RepairReport, ClientError> {
    let refused = |e: burnstand_audit::Error| match e {
        burnstand_audit::Error::Corrupt { problem, .. } => ClientError::AuditBroken(format!(
            "FAILED: {problem}; nothing was cut: a repair only cuts an incomplete last line, \
             never a complete record; keep the file unchanged as evidence and run \
             `burnstand audit verify {}` for the report",
            path.display()
        )),
        other => ClientError::AuditUnreadable(other.to_string()),
    };
    // Opening for repair would create a missing log: a typo must not leave an empty one.
    if let Err(e) = std::fs::metadata(path) {
        return Err(ClientError::AuditUnreadable(format!(
            "{}: {e}",
            path.display()
        )));
    }
    let (tail, record) = if dry_run {
        (find_torn_tail(path).map_err(refused)?, None)
    } else {
        // Takes the log's lock: a running daemon holds it, and this is refused.
        let log = AuditLog::open_repairing(path).map_err(refused)?;
        let tail = log.repaired_tail().cloned();
        let record = tail.as_ref().map(|_| log.last_seq());
        (tail, record)
    };
    let report = match (&tail, record) {
        (None, _) => format!(
            "OK: nothing to repair: {} ends in a complete record",
            path.display()
        ),
        (Some(tail), None) => format!(
            "would cut {} from {}; run without --dry-run to cut it and record the cut",
            tail.describe(),
            path.display()
        ),
        (Some(tail), Some(seq)) => format!(
            "cut {} from {}; the cut is recorded as record {seq} (audit.repair)",
            tail.describe(),
            path.display()
        ),
    };
    let field = |f: fn(&RepairedTail) -> String| tail.as_ref().map(f);
    Ok(RepairReport {
        file: path.display().to_string(),
        dry_run,
        repaired: record.is_some(),
        line: tail.as_ref().map(|t| t.line),
        offset: tail.as_ref().map(|t| t.offset),
        cut_bytes: tail.as_ref().map(|t| t.bytes.len() as u64),
        cut_sha256: field(RepairedTail::sha256),
        cut_head_hex: field(RepairedTail::head_hex),
        record,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_station_gets_its_own_receipt_file() {
        let path = Path::new("/tmp/r/job.jsonl");
        assert_eq!(
            station_receipt_path(path, "test-station-1"),
            Path::new("/tmp/r/job.test-station-1.jsonl")
        );
        assert_eq!(
            station_receipt_path(Path::new("receipts"), "a/b c"),
            Path::new("receipts.a_b_c")
        );
    }

    #[test]
    fn segment_names_lead_to_their_live_file() {
        assert_eq!(
            live_of_segment("master.000000000001-000000000009.jsonl").as_deref(),
            Some("master.jsonl")
        );
        assert_eq!(
            live_of_segment("station.000000000010-000000000020.audit").as_deref(),
            Some("station.audit")
        );
        assert_eq!(live_of_segment("audit.3-4").as_deref(), Some("audit"));
        assert_eq!(live_of_segment("master.jsonl"), None);
        assert_eq!(live_of_segment("notes.txt"), None);
    }

    #[test]
    fn heads_parse_as_seq_and_hash_or_name_a_file() {
        let hash = "a".repeat(64);
        assert_eq!(read_head(&format!("7:{hash}")).ok().map(|h| h.seq), Some(7));
        assert!(matches!(read_head("7"), Err(ClientError::Usage(_))));
        assert!(matches!(
            read_head(&format!("7:{}", "g".repeat(64))),
            Err(ClientError::Usage(_))
        ));
    }
}
