//! `burnstand audit show`: burn statistics from audit logs (the burner-farm design asks for "statistics").
//!
//! Counts `burn.receipt` records — one per copy, whatever its outcome — per user, per image
//! (by SHA-256, with its name), per station, verify failures per drive, and with `--by` per
//! UTC day or ISO week and station. A master's log holds a copy of every station receipt it
//! relayed; a burn is named by the station that wrote it and that record's `seq` there, so
//! giving both a master's and a station's log counts each copy once. A log whose chain does
//! not verify is refused: statistics of an edited log would be worse than none.
//!
//! Stations are shown by the name the master's configuration gives them (see stations.rs):
//! people know "DVD burner, room 2", not a UUID.

mod human;
mod period;
mod stations;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use burnstand_audit::{scan_log, Record};
use serde::{Serialize, Serializer};

pub use period::Period;
pub use stations::StationInfo;

use crate::ClientError;
use stations::StationNames;

/// The event counted.
const RECEIPT: &str = "burn.receipt";

/// Counts for one key.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Copies (receipts).
    pub copies: u64,
    pub verified: u64,
    pub verify_failed: u64,
    /// Failed, cancelled or interrupted before a verdict.
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

/// An image: its name for people, its SHA-256 because a name can be reused for other bytes.
/// In JSON a map key `"NAME (SHA256)"`, as before the tables had a column each.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageKey {
    pub name: String,
    pub sha256: String,
}

impl fmt::Display for ImageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.sha256)
    }
}

/// A drive: the station (as shown) and the receipt's drive word. In JSON a map key
/// `"STATION DRIVE"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DriveKey {
    pub station: String,
    pub drive: String,
}

impl fmt::Display for DriveKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.station, self.drive)
    }
}

/// JSON map keys must be strings: these keys serialize as their `Display` text.
macro_rules! serialize_as_text {
    ($($key:ty),*) => {$(
        impl Serialize for $key {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
serialize_as_text!(ImageKey, DriveKey);

/// The statistics of some logs. Field names are the `--json` document's and stay stable.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Statistics {
    pub logs: Vec<String>,
    pub copies: u64,
    pub per_user: BTreeMap<String, Tally>,
    pub per_image: BTreeMap<ImageKey, Tally>,
    /// Keyed by the station as shown: its newest name, else its id.
    pub per_station: BTreeMap<String, Tally>,
    pub verify_failures_per_drive: BTreeMap<DriveKey, u64>,
    /// Every station id counted or named, and how it is shown: so scripts can join by id.
    pub stations: BTreeMap<String, StationInfo>,
    /// The `--by` period, or null.
    pub by: Option<Period>,
    /// Period (`2026-11-22` or `2026-W48`) → station as shown → counts; empty without `--by`.
    pub per_period: BTreeMap<String, BTreeMap<String, Tally>>,
}

/// One counted copy, before stations get their names (the newest name is known only at the end).
struct Copy {
    user: String,
    image: ImageKey,
    station: String,
    drive: String,
    result: String,
    when: Option<SystemTime>,
}

/// When a record happened: a receipt's `end` (the copy's end, the same in the station's log
/// and in the master's copy, which may be appended much later after a link outage), else the
/// record's own time.
fn when(record: &Record) -> Option<SystemTime> {
    record
        .get_str("end")
        .and_then(|end| humantime::parse_rfc3339(end).ok())
        .or_else(|| record.timestamp())
}

#[derive(Default)]
struct Counter {
    /// (station id, its seq) of every copy counted.
    seen: HashSet<(String, u64)>,
    names: StationNames,
    copies: Vec<Copy>,
}

impl Counter {
    fn record(&mut self, record: &Record) {
        let when = when(record);
        self.names.learn(record, when);
        if record.event != RECEIPT {
            return;
        }
        let text = |name: &str| record.get_str(name).unwrap_or("?").to_owned();
        let station = text("station");
        let station_seq = record.get_u64("station_seq").unwrap_or(record.seq);
        if !self.seen.insert((station.clone(), station_seq)) {
            return;
        }
        self.copies.push(Copy {
            user: text("user"),
            image: ImageKey {
                name: text("image_name"),
                sha256: text("sha256"),
            },
            station,
            drive: text("drive"),
            result: text("result"),
            when,
        });
    }

    fn finish(self, logs: Vec<String>, by: Option<Period>) -> Statistics {
        let stations = self
            .names
            .resolve(self.copies.iter().map(|c| c.station.as_str()));
        let shown = |id: &str| stations.get(id).map_or(id, |s| s.label.as_str()).to_owned();
        let mut stats = Statistics {
            logs,
            by,
            ..Statistics::default()
        };
        for copy in &self.copies {
            let station = shown(&copy.station);
            let result = copy.result.as_str();
            stats.copies += 1;
            stats
                .per_user
                .entry(copy.user.clone())
                .or_default()
                .add(result);
            stats
                .per_image
                .entry(copy.image.clone())
                .or_default()
                .add(result);
            stats
                .per_station
                .entry(station.clone())
                .or_default()
                .add(result);
            if result == "verify_failed" {
                let drive = DriveKey {
                    station: station.clone(),
                    drive: copy.drive.clone(),
                };
                *stats.verify_failures_per_drive.entry(drive).or_default() += 1;
            }
            if let Some(by) = by {
                stats
                    .per_period
                    .entry(by.bucket_of(copy.when))
                    .or_default()
                    .entry(station)
                    .or_default()
                    .add(result);
            }
        }
        stats.stations = stations;
        stats
    }
}

/// Reads every log (each must verify, with its rotated segments, end to end; a path may also
/// be a directory holding one log) and counts its receipts, also per `by` period if given. A
/// receipt read twice (a segment named as well as its live file) counts once.
pub fn show(paths: &[impl AsRef<Path>], by: Option<Period>) -> Result<Statistics, ClientError> {
    let mut counter = Counter::default();
    let mut logs = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let live = crate::audit::resolve_log(path)?;
        let report = scan_log(&live, None, |record, _| counter.record(record))
            .map_err(|e| ClientError::AuditUnreadable(e.to_string()))?;
        if !report.is_ok() {
            return Err(ClientError::AuditBroken(format!(
                "{}: {report}\n  no statistics from a log that does not verify",
                path.display()
            )));
        }
        logs.push(path.display().to_string());
    }
    Ok(counter.finish(logs, by))
}
