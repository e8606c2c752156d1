//! `--by day|week`: which calendar period a copy falls in.
//!
//! Days are UTC dates, like every time in the audit logs, so two auditors in different time
//! zones get the same table. Weeks are ISO 8601 weeks (Monday first; week 1 holds the year's
//! first Thursday), so the days around New Year go to the week they share: 2027-01-01 is in
//! 2026-W53. The calendar arithmetic is the `time` crate's, not ours.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use time::OffsetDateTime;

/// A period to count copies by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A UTC date, `2026-11-22`.
    Day,
    /// An ISO 8601 week, `2026-W48`.
    Week,
}

/// The bucket of a copy whose time is unknown or out of the calendar's range (a verified log
/// always has a time; this keeps a bad one visible instead of dropping the copy).
pub const UNKNOWN: &str = "unknown";

impl Period {
    /// The word for people: the period table's first column.
    pub fn word(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
        }
    }

    /// The period `t` falls in, as text that sorts in time order.
    pub fn bucket(self, t: SystemTime) -> Option<String> {
        let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
        let utc = OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()?;
        let date = utc.date();
        Some(match self {
            Period::Day => format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            ),
            Period::Week => {
                let (year, week, _) = date.to_iso_week_date();
                format!("{year:04}-W{week:02}")
            }
        })
    }

    /// [`Period::bucket`], or [`UNKNOWN`].
    pub(super) fn bucket_of(self, t: Option<SystemTime>) -> String {
        t.and_then(|t| self.bucket(t))
            .unwrap_or_else(|| UNKNOWN.to_owned())
    }
}
