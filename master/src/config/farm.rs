//! `[farm]`: how the master watches its stations (heartbeat, quarantine).
//!
//! A station reports its state over the control link at least every `heartbeat`; one that has
//! said nothing for `heartbeat × heartbeat_misses` is quarantined at once (no BIND goes to
//! it) and comes back by itself with its next report. `verify_failures` failed verifies in a
//! row quarantine a drive for `verify_quarantine`; after that it is let back in on probation
//! (one more failure quarantines it again, a verified copy clears the count).

use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// Shortest heartbeat accepted (the link's own bound, `burnstand_wire::limits`).
pub const MIN_HEARTBEAT: Duration =
    Duration::from_millis(burnstand_wire::limits::MIN_HEARTBEAT_MS as u64);
/// Longest heartbeat accepted.
pub const MAX_HEARTBEAT: Duration =
    Duration::from_millis(burnstand_wire::limits::MAX_HEARTBEAT_MS as u64);

/// Longest quarantine for failed verifies: after a day, the drive is worth another try.
pub const MAX_VERIFY_QUARANTINE: Duration = Duration::from_secs(24 * 60 * 60);

/// The `[farm]` section; every key has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FarmSettings {
    /// How often a station repeats its state when nothing changes.
    #[serde(deserialize_with = "duration")]
    pub heartbeat: Duration,
    /// Heartbeats a station may miss before it is quarantined.
    pub heartbeat_misses: u32,
    /// Failed verifies in a row that quarantine a drive (0 turns this off).
    pub verify_failures: u32,
    /// How long a drive quarantined for failed verifies stays out.
    #[serde(deserialize_with = "duration")]
    pub verify_quarantine: Duration,
}

impl Default for FarmSettings {
    fn default() -> Self {
        FarmSettings {
            heartbeat: Duration::from_secs(5),
            heartbeat_misses: 3,
            verify_failures: 3,
            verify_quarantine: Duration::from_secs(10 * 60),
        }
    }
}

impl FarmSettings {
    /// Silence after which a station is quarantined.
    pub fn silence_limit(&self) -> Duration {
        self.heartbeat.saturating_mul(self.heartbeat_misses.max(1))
    }

    /// The problems with these settings, for `--check-config`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(MIN_HEARTBEAT..=MAX_HEARTBEAT).contains(&self.heartbeat) {
            problems.push(format!(
                "farm.heartbeat must be between {MIN_HEARTBEAT:?} and {MAX_HEARTBEAT:?}"
            ));
        }
        if !(1..=100).contains(&self.heartbeat_misses) {
            problems.push("farm.heartbeat_misses must be 1 to 100".into());
        }
        if self.verify_quarantine.is_zero() || self.verify_quarantine > MAX_VERIFY_QUARANTINE {
            problems.push(format!(
                "farm.verify_quarantine must be more than 0 and at most {MAX_VERIFY_QUARANTINE:?}"
            ));
        }
        if self.verify_failures > 1000 {
            problems.push("farm.verify_failures must be at most 1000 (0 turns it off)".into());
        }
        problems
    }
}
