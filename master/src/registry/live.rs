//! The live state of one station as the master sees it: its control link, its last report,
//! its health, and today's counts. Pure bookkeeping with `now` passed in, so every rule of
//! quarantine is unit-tested without a clock.

use std::time::{Duration, Instant};

use burnstand_wire::farm::{Activity, Condition, StationState};

use crate::config::FarmSettings;

/// The control link, as far as health is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Link {
    /// Not tried yet since the master started: trusted, so a master that starts while its
    /// stations run serves at once (the first attempt settles it within a second).
    Starting,
    /// Up, speaking link version `version`; version 3 and later report their state.
    Up { version: u32 },
    /// Down since the last attempt failed or the link dropped; `reason` is for people.
    Down { reason: String },
}

/// One station's live record.
#[derive(Debug)]
pub(crate) struct Live {
    pub link: Link,
    /// When the station last said anything on its control link.
    pub last_heard: Option<Instant>,
    /// Its last reported state (default: idle, medium unknown).
    pub state: StationState,
    /// Failed verifies since the last verified copy.
    pub verify_run: u32,
    /// Out of BIND until then for failed verifies.
    pub verify_quarantine_until: Option<Instant>,
    /// Drained by an admin: the running reservation goes on, no new one is made.
    pub drained: bool,
    /// An admin asked to end the reservation once the running copy is done.
    pub release_pending: bool,
    /// The day (days since the epoch, UTC) the counts below are for.
    pub day: u64,
    pub burns_today: u32,
    pub verify_failures_today: u32,
    /// Whether the last health check found it quarantined (to log each change once).
    pub was_quarantined: bool,
    /// The digest of the policy it runs, as it last reported (link version 4); `None`
    /// before it did, or while its link is down.
    pub policy_digest: Option<burnstand_wire::burner::Sha256>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            link: Link::Starting,
            last_heard: None,
            state: StationState::default(),
            verify_run: 0,
            verify_quarantine_until: None,
            drained: false,
            release_pending: false,
            day: 0,
            burns_today: 0,
            verify_failures_today: 0,
            was_quarantined: false,
            policy_digest: None,
        }
    }
}

/// The outcome of a copy, as its receipt tells it (for the verify-failure rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CopyOutcome {
    Verified,
    VerifyFailed,
    /// Failed or cancelled before a verdict: says nothing about the drive's writing.
    Other,
}

impl Live {
    /// Why the station must get no new reservation now, if it must not. Offline is not a
    /// quarantine reason here: [`Live::condition`] tells them apart.
    pub fn quarantine_reason(&self, farm: &FarmSettings, now: Instant) -> Option<String> {
        if let Link::Up { version } = self.link {
            if version >= 3 {
                let silent = self
                    .last_heard
                    .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                if silent > farm.silence_limit() {
                    return Some(format!("no heartbeat for {}s", silent.as_secs().max(1)));
                }
                if self.state.activity == Activity::DriveError {
                    return Some(format!("drive error: {}", self.state.detail));
                }
            }
        }
        if let Some(until) = self.verify_quarantine_until {
            if now < until {
                return Some(format!(
                    "{} failed verifies in a row; back in {}s",
                    self.verify_run,
                    until.saturating_duration_since(now).as_secs().max(1)
                ));
            }
        }
        None
    }

    /// The master's view: offline, quarantined, drained, busy or free.
    pub fn condition(
        &self,
        farm: &FarmSettings,
        now: Instant,
        reserved: bool,
    ) -> (Condition, String) {
        if let Link::Down { reason } = &self.link {
            return (Condition::Offline, reason.clone());
        }
        if let Some(reason) = self.quarantine_reason(farm, now) {
            return (Condition::Quarantined, reason);
        }
        if reserved {
            return (Condition::Busy, String::new());
        }
        if self.drained {
            return (Condition::Drained, "drained by an admin".into());
        }
        (Condition::Free, String::new())
    }

    /// Counts a copy's receipt: today's counts, and the verify-failure rule.
    pub fn count_copy(
        &mut self,
        outcome: CopyOutcome,
        farm: &FarmSettings,
        day: u64,
        now: Instant,
    ) {
        if day != self.day {
            self.day = day;
            self.burns_today = 0;
            self.verify_failures_today = 0;
        }
        self.burns_today = self.burns_today.saturating_add(1);
        match outcome {
            CopyOutcome::Verified => {
                self.verify_run = 0;
                self.verify_quarantine_until = None;
            }
            CopyOutcome::VerifyFailed => {
                self.verify_failures_today = self.verify_failures_today.saturating_add(1);
                self.verify_run = self.verify_run.saturating_add(1);
                if farm.verify_failures > 0 && self.verify_run >= farm.verify_failures {
                    self.verify_quarantine_until = Some(now + farm.verify_quarantine);
                }
            }
            CopyOutcome::Other => {}
        }
    }

    /// Whether a copy is being written or read back (an admin release waits for it).
    pub fn copy_running(&self) -> bool {
        matches!(self.state.activity, Activity::Burning | Activity::Verifying)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn farm() -> FarmSettings {
        FarmSettings {
            heartbeat: Duration::from_secs(5),
            heartbeat_misses: 3,
            verify_failures: 2,
            verify_quarantine: Duration::from_secs(600),
        }
    }

    #[test]
    fn silence_past_the_limit_quarantines_and_a_report_lifts_it() {
        let t0 = Instant::now();
        let mut live = Live {
            link: Link::Up { version: 3 },
            last_heard: Some(t0),
            ..Live::default()
        };
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(live.condition(&farm(), at(15), false).0, Condition::Free);
        let (condition, reason) = live.condition(&farm(), at(16), false);
        assert_eq!(condition, Condition::Quarantined);
        assert_eq!(reason, "no heartbeat for 16s");
        live.last_heard = Some(at(16));
        assert_eq!(live.condition(&farm(), at(17), true).0, Condition::Busy);
        // A version-2 station reports nothing: silence is not held against it.
        live.link = Link::Up { version: 2 };
        assert_eq!(live.condition(&farm(), at(100), false).0, Condition::Free);
    }

    #[test]
    fn offline_drive_error_and_drain() {
        let now = Instant::now();
        let mut live = Live::default();
        assert_eq!(live.condition(&farm(), now, false).0, Condition::Free);
        live.link = Link::Down {
            reason: "connection refused".into(),
        };
        assert_eq!(
            live.condition(&farm(), now, false),
            (Condition::Offline, "connection refused".to_owned())
        );
        live.link = Link::Up { version: 3 };
        live.last_heard = Some(now);
        live.state.activity = Activity::DriveError;
        live.state.detail = "no drive".into();
        assert_eq!(
            live.condition(&farm(), now, false),
            (Condition::Quarantined, "drive error: no drive".to_owned())
        );
        live.state.activity = Activity::Idle;
        live.drained = true;
        assert_eq!(live.condition(&farm(), now, false).0, Condition::Drained);
        assert_eq!(live.condition(&farm(), now, true).0, Condition::Busy);
    }

    #[test]
    fn failed_verifies_in_a_row_quarantine_for_a_while_then_probation() {
        let t0 = Instant::now();
        let mut live = Live::default();
        live.count_copy(CopyOutcome::VerifyFailed, &farm(), 1, t0);
        live.count_copy(CopyOutcome::Other, &farm(), 1, t0);
        assert_eq!(live.condition(&farm(), t0, false).0, Condition::Free);
        live.count_copy(CopyOutcome::VerifyFailed, &farm(), 1, t0);
        assert_eq!(live.condition(&farm(), t0, false).0, Condition::Quarantined);
        let later = t0 + Duration::from_secs(601);
        assert_eq!(live.condition(&farm(), later, false).0, Condition::Free);
        // Probation: one more failure quarantines again; a verified copy clears the run.
        live.count_copy(CopyOutcome::VerifyFailed, &farm(), 1, later);
        assert_eq!(
            live.condition(&farm(), later, false).0,
            Condition::Quarantined
        );
        live.count_copy(CopyOutcome::Verified, &farm(), 1, later);
        assert_eq!(live.condition(&farm(), later, false).0, Condition::Free);
        assert_eq!((live.burns_today, live.verify_failures_today), (5, 3));
        live.count_copy(CopyOutcome::Verified, &farm(), 2, later);
        assert_eq!((live.burns_today, live.verify_failures_today), (1, 0));
    }
}
