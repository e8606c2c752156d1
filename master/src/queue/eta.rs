//! The waiting time the master tells a queued user (QUEUED's `eta_seconds`).
//!
//! A deliberately simple estimate: the stations of a type hand over in rounds of one
//! reservation each, so position `p` of `n` stations waits `ceil(p / n)` rounds of the mean
//! reservation length. It ignores how far the running reservations are (it errs long, never
//! promises too early) and jobs wanting several drives; users read it as "about", and the
//! master resends it whenever it changes.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::MAX_STATIONS;

/// Estimated wait of the entry at `position` (1-based) for a type with `stations_of_type`
/// stations that can serve it: `ceil(position / stations_of_type) × mean_reservation`.
/// Zero — "no estimate" on the wire — when there is no such station or no position.
pub fn eta(position: u32, stations_of_type: u32, mean_reservation: Duration) -> Duration {
    if position == 0 || stations_of_type == 0 {
        return Duration::ZERO;
    }
    mean_reservation.saturating_mul(position.div_ceil(stations_of_type))
}

/// `eta` in whole seconds for QUEUED, rounded up (a wait under a second is not "no
/// estimate") and capped at `u32::MAX`.
pub fn eta_seconds(eta: Duration) -> u32 {
    let secs = eta
        .as_secs()
        .saturating_add(u64::from(eta.subsec_nanos() > 0));
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Weight of the newest reservation in [`MeanDuration`]: 1/4, so the last handful of
/// reservations dominate (a change of course length shows within a few burns) while one
/// abandoned or unusually long reservation moves the estimate by only a quarter of its excess.
const NEWEST_WEIGHT_DIVISOR: u32 = 4;

/// Longest reservation length counted: a held reservation (`burnstand reserve`) may last a
/// day; counting it in full would make every estimate after it useless.
pub const MAX_COUNTED_RESERVATION: Duration = Duration::from_secs(4 * 60 * 60);

/// Exponentially weighted mean of completed reservation lengths of one station type:
/// `mean ← mean + (length − mean) / 4`, starting at `queue.default_eta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeanDuration {
    mean: Duration,
}

impl MeanDuration {
    /// A mean that has measured nothing yet.
    pub fn new(initial: Duration) -> MeanDuration {
        MeanDuration { mean: initial }
    }

    /// Counts a completed reservation (capped at [`MAX_COUNTED_RESERVATION`]).
    pub fn record(&mut self, length: Duration) {
        let length = length.min(MAX_COUNTED_RESERVATION);
        self.mean = if length >= self.mean {
            self.mean + (length - self.mean) / NEWEST_WEIGHT_DIVISOR
        } else {
            self.mean - (self.mean - length) / NEWEST_WEIGHT_DIVISOR
        };
    }

    /// The current estimate of one reservation's length.
    pub fn get(&self) -> Duration {
        self.mean
    }
}

/// A [`MeanDuration`] per station type, for the master's one table of estimates.
#[derive(Debug, Clone)]
pub struct Means {
    initial: Duration,
    /// By type id; at most [`MAX_STATIONS`] entries (a type has at least one station), so a
    /// caller passing stray type ids cannot grow it past that.
    by_type: HashMap<u32, MeanDuration>,
}

impl Means {
    /// Every type starts at `initial` (`queue.default_eta`).
    pub fn new(initial: Duration) -> Means {
        Means {
            initial,
            by_type: HashMap::new(),
        }
    }

    /// Counts a completed reservation of type `type_id`; ignored once [`MAX_STATIONS`] types
    /// are known and this is a new one.
    pub fn record(&mut self, type_id: u32, length: Duration) {
        if !self.by_type.contains_key(&type_id) && self.by_type.len() >= MAX_STATIONS {
            return;
        }
        self.by_type
            .entry(type_id)
            .or_insert_with(|| MeanDuration::new(self.initial))
            .record(length);
    }

    /// The estimated reservation length of type `type_id`.
    pub fn mean(&self, type_id: u32) -> Duration {
        self.by_type
            .get(&type_id)
            .map_or(self.initial, MeanDuration::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn the_estimate_counts_rounds_of_the_mean() {
        assert_eq!(eta(1, 1, 10 * MIN), 10 * MIN);
        assert_eq!(eta(3, 1, 10 * MIN), 30 * MIN);
        // Two stations: positions 1 and 2 are in the first round, 3 in the second.
        assert_eq!(eta(1, 2, 10 * MIN), 10 * MIN);
        assert_eq!(eta(2, 2, 10 * MIN), 10 * MIN);
        assert_eq!(eta(3, 2, 10 * MIN), 20 * MIN);
        assert_eq!(eta(4096, 1, Duration::MAX), Duration::MAX);
        // No station, or no position: no estimate.
        assert_eq!(eta(1, 0, 10 * MIN), Duration::ZERO);
        assert_eq!(eta(0, 2, 10 * MIN), Duration::ZERO);
    }

    #[test]
    fn seconds_round_up_and_saturate() {
        assert_eq!(eta_seconds(Duration::ZERO), 0);
        assert_eq!(eta_seconds(Duration::from_millis(1)), 1);
        assert_eq!(eta_seconds(Duration::from_millis(60_001)), 61);
        assert_eq!(eta_seconds(Duration::MAX), u32::MAX);
    }

    #[test]
    fn the_mean_starts_at_the_default_and_follows_measurements() {
        let mut mean = MeanDuration::new(10 * MIN);
        assert_eq!(mean.get(), 10 * MIN);
        mean.record(2 * MIN);
        assert_eq!(mean.get(), 8 * MIN);
        mean.record(16 * MIN);
        assert_eq!(mean.get(), 10 * MIN);
        for _ in 0..64 {
            mean.record(4 * MIN);
        }
        let settled = mean.get().abs_diff(4 * MIN);
        assert!(settled < Duration::from_secs(1), "{:?}", mean.get());
        // A day-long held reservation counts as four hours: a quarter of that excess.
        mean.record(24 * 60 * MIN);
        assert!(mean.get() < 65 * MIN, "{:?}", mean.get());
    }

    #[test]
    fn means_are_kept_per_type_and_bounded() {
        let mut means = Means::new(10 * MIN);
        means.record(1, 2 * MIN);
        assert_eq!(means.mean(1), 8 * MIN);
        assert_eq!(means.mean(2), 10 * MIN);
        for type_id in 0..(MAX_STATIONS as u32 + 10) {
            means.record(type_id, MIN);
        }
        assert_eq!(means.by_type.len(), MAX_STATIONS);
        assert_eq!(means.mean(MAX_STATIONS as u32 + 5), 10 * MIN);
    }
}
