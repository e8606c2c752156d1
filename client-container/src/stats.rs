//! `burnstand audit show`: burn statistics from audit logs (the burner-farm design asks for "statistics").
//!
//! Counts `burn.receipt` records — one per copy, whatever its outcome — per user, per image
//! (by SHA-256, with its name), per station, and verify failures per drive. A master's log
//! holds a copy of every station receipt it relayed; a burn is named by the station that
//! wrote it and that record's `seq` there, so giving both a master's and a station's log
//! counts each copy once. A log whose chain does not verify is refused: statistics of an
//! edited log would be worse than none.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use burnstand_audit::{scan_records, verify, Record};
use serde::Serialize;

use crate::output::Report;
use crate::ClientError;

/// The event counted.
const RECEIPT: &str = "burn.receipt";

/// Counts for one key.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Copies (receipts).
    pub copies: u64,
    pub verified: u64,
    pub verify_failed: u64,
    /// Failed or cancelled before a verdict.
    pub other: u64,
}

impl Tally {
    fn add(&mut self, result: &str) {
        self.copies += 1;
        match result {
            "verified" => self.verified += 1,
            "verify_failed" => self.verify_failed += 1,
            _ => self.other += 1,
        }
    }
}

/// The statistics of some logs.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Statistics {
    pub logs: Vec<String>,
    pub copies: u64,
    pub per_user: BTreeMap<String, Tally>,
    /// Keyed by "name (sha256)".
    pub per_image: BTreeMap<String, Tally>,
    pub per_station: BTreeMap<String, Tally>,
    /// Verify failures, keyed by "station drive".
    pub verify_failures_per_drive: BTreeMap<String, u64>,
}

impl Statistics {
    fn count(&mut self, seen: &mut HashSet<(String, u64)>, record: &Record) {
        if record.event != RECEIPT {
            return;
        }
        let text = |name: &str| record.get_str(name).unwrap_or("?").to_owned();
        let station = text("station");
        let station_seq = record.get_u64("station_seq").unwrap_or(record.seq);
        if !seen.insert((station.clone(), station_seq)) {
            return;
        }
        let result = text("result");
        self.copies += 1;
        self.per_user.entry(text("user")).or_default().add(&result);
        self.per_image
            .entry(format!("{} ({})", text("image_name"), text("sha256")))
            .or_default()
            .add(&result);
        self.per_station
            .entry(station.clone())
            .or_default()
            .add(&result);
        if result == "verify_failed" {
            *self
                .verify_failures_per_drive
                .entry(format!("{station} {}", text("drive")))
                .or_default() += 1;
        }
    }
}

/// Reads every log (each must verify) and counts its receipts.
pub fn show(paths: &[impl AsRef<Path>]) -> Result<Statistics, ClientError> {
    let mut stats = Statistics::default();
    let mut seen = HashSet::new();
    for path in paths {
        let path = path.as_ref();
        let report = verify(path).map_err(|e| ClientError::AuditUnreadable(e.to_string()))?;
        if !report.is_ok() {
            return Err(ClientError::AuditBroken(format!(
                "{}: {report}\n  no statistics from a log that does not verify",
                path.display()
            )));
        }
        scan_records(path, |record| stats.count(&mut seen, record))
            .map_err(|e| ClientError::AuditUnreadable(e.to_string()))?;
        stats.logs.push(path.display().to_string());
    }
    Ok(stats)
}

fn table(title: &str, rows: &BTreeMap<String, Tally>) -> Vec<String> {
    let mut lines = vec![format!(
        "{title:<60} {:>7} {:>9} {:>7} {:>7}",
        "copies", "verified", "failed", "other"
    )];
    for (key, t) in rows {
        lines.push(format!(
            "  {key:<58} {:>7} {:>9} {:>7} {:>7}",
            t.copies, t.verified, t.verify_failed, t.other
        ));
    }
    lines
}

impl Report for Statistics {
    fn human(&self) -> String {
        let mut lines = vec![format!(
            "{} burned cop{} in {}",
            self.copies,
            if self.copies == 1 { "y" } else { "ies" },
            self.logs.join(", ")
        )];
        if self.copies == 0 {
            return lines.join("\n");
        }
        lines.push(String::new());
        lines.extend(table("per user", &self.per_user));
        lines.push(String::new());
        lines.extend(table("per image", &self.per_image));
        lines.push(String::new());
        lines.extend(table("per station", &self.per_station));
        lines.push(String::new());
        lines.push("verify failures per drive".to_owned());
        if self.verify_failures_per_drive.is_empty() {
            lines.push("  none".to_owned());
        }
        for (drive, n) in &self.verify_failures_per_drive {
            lines.push(format!("  {drive:<58} {n:>7}"));
        }
        lines.join("\n")
    }
}
