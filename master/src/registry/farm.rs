//! The farm view of the registry: control-link health and reports coming in, counts (LISTX),
//! the station report and who holds what going out, and the admin's drain and release.
//!
//! Everything runs under the registry's one lock, so what LIST counts and what BIND hands out
//! are the same picture.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use burnstand_wire::farm::{
    Condition, ListedType, StationReport, StationState, WhoEntry, MAX_LIST_NOTES,
};
use burnstand_wire::gss::Principal;
use burnstand_wire::limits::MAX_FARM_TEXT_LEN;

use super::live::{CopyOutcome, Link};
use super::{Registry, State, Teardown};

/// Released reservations remembered for their relays; a handful a day in practice.
const MAX_RELEASED: usize = 256;

/// What an admin's RELEASE did.
#[derive(Debug)]
pub enum Release {
    /// Nothing was burning: the reservation ended now (the teardown of user `key`).
    Now { key: Vec<u8>, teardown: Teardown },
    /// `stations` (of the reservation) are asked to start no other copy of session
    /// `session_id` (FINISH); the reservation ends when all have answered that none runs.
    /// `burning`: as far as the master knows, a copy runs now.
    AfterCopy {
        session_id: String,
        stations: Vec<usize>,
        burning: bool,
    },
    /// The station is not reserved.
    NotReserved,
}

/// A change in a station's health, to log and audit once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    pub station: usize,
    /// `Some(reason)`: quarantined now; `None`: healthy again.
    pub quarantined: Option<String>,
}

/// Days since the Unix epoch, UTC: the "today" of the station counts.
pub fn today() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

impl Registry {
    /// The index of the station configured as `name`.
    pub fn station_index(&self, name: &str) -> Option<usize> {
        self.roster().stations.iter().position(|s| s.name == name)
    }

    /// The control link of `station` came up, speaking link version `version`.
    pub(crate) fn link_up(&self, station: usize, version: u32) {
        let mut state = self.state();
        self.changed();
        if let Some(live) = state.live.get_mut(station) {
            live.link = Link::Up { version };
            live.last_heard = Some(Instant::now());
        }
    }

    /// The control link of `station` is down (or could not be opened).
    pub(crate) fn link_down(&self, station: usize, reason: &str) {
        let mut state = self.state();
        self.changed();
        if let Some(live) = state.live.get_mut(station) {
            live.link = Link::Down {
                reason: format!("control link down: {reason}"),
            };
            live.state = StationState::default();
            live.policy_digest = None;
        }
    }

    /// `station` said something on its control link.
    pub(crate) fn heard(&self, station: usize) {
        if let Some(live) = self.state().live.get_mut(station) {
            live.last_heard = Some(Instant::now());
        }
    }

    /// `station` reported its state.
    pub(crate) fn report(&self, station: usize, report: StationState) {
        let mut state = self.state();
        if let Some(live) = state.live.get_mut(station) {
            live.last_heard = Some(Instant::now());
            // A heartbeat repeats the state: only a new one wakes the status page.
            if live.state != report {
                live.state = report;
                self.changed();
            }
        }
    }

    /// `station` answered an admin's release (FINISHED): no copy of session `session_id`
    /// runs there any more, and none will start. Once every station of the reservation has
    /// answered, it ends: its teardown is returned for the audit log.
    pub(crate) fn finished(&self, station: usize, session_id: &str) -> Option<(Vec<u8>, Teardown)> {
        let mut state = self.state();
        let key = holder_key(&state, station)?;
        let current = state
            .users
            .get(&key)
            .and_then(|u| u.reservation.as_ref())
            .is_some_and(|r| r.session_id.to_string() == session_id);
        if !current {
            return None;
        }
        if let Some(live) = state.live.get_mut(station) {
            live.release_pending = false;
        }
        let stations = reservation_stations(&state, &key);
        if stations
            .iter()
            .any(|&s| state.live.get(s).is_some_and(|l| l.release_pending))
        {
            return None;
        }
        if state.released.len() >= MAX_RELEASED {
            state.released.clear();
        }
        if let Ok(id) = session_id.parse() {
            state.released.insert(id);
        }
        let teardown = self.teardown_locked(&mut state, &key);
        Some((key, teardown))
    }

    /// Whether reservation `session_id` was ended by an admin's release: its relays hand
    /// the station's last words to the user before closing (once: the mark is used up).
    pub fn take_released(&self, session_id: uuid::Uuid) -> bool {
        self.state().released.remove(&session_id)
    }

    /// Counts a copy's receipt against the station named `station_name`.
    pub(crate) fn count_copy(&self, station_name: &str, outcome: CopyOutcome) {
        let Some(index) = self.station_index(station_name) else {
            return;
        };
        let farm = self.config.farm.clone();
        if let Some(live) = self.state().live.get_mut(index) {
            live.count_copy(outcome, &farm, today(), Instant::now());
        }
        self.changed();
    }

    /// Stations whose quarantine began or ended since the last call (for logs and audit).
    pub(crate) fn health_changes(&self) -> Vec<HealthChange> {
        let now = Instant::now();
        let farm = &self.config.farm;
        let mut state = self.state();
        let mut changes = Vec::new();
        for (index, live) in state.live.iter_mut().enumerate() {
            // Offline is not "healthy again": the control link logs its own ups and downs.
            if matches!(live.link, Link::Down { .. }) {
                continue;
            }
            let reason = live.quarantine_reason(farm, now);
            if reason.is_some() != live.was_quarantined {
                live.was_quarantined = reason.is_some();
                changes.push(HealthChange {
                    station: index,
                    quarantined: reason,
                });
            }
        }
        changes
    }

    fn condition_of(&self, state: &State, station: usize, now: Instant) -> (Condition, String) {
        let reserved = state.reserved.get(station).copied().unwrap_or(false);
        if state.conflicted.get(station).copied().unwrap_or(false) {
            return (
                Condition::Quarantined,
                "its station id belongs to another station".into(),
            );
        }
        if state
            .down_until
            .get(station)
            .and_then(|d| *d)
            .is_some_and(|until| now < until)
            && !reserved
        {
            return (
                Condition::Quarantined,
                "its last session could not be opened".into(),
            );
        }
        let (condition, reason) = match state.live.get(station) {
            Some(live) => live.condition(&self.config.farm, now, reserved),
            None => (Condition::Offline, String::new()),
        };
        // A station's texts are bounded; with a prefix they must still fit a report.
        let reason = reason
            .chars()
            .take(burnstand_wire::limits::MAX_FARM_TEXT_LEN)
            .collect();
        (condition, reason)
    }

    /// LISTX: every station type `principal` may reserve, with its counts; `queued(type)` is
    /// the number waiting for it.
    pub fn counts(&self, principal: &Principal, queued: impl Fn(u32) -> u32) -> Vec<ListedType> {
        let now = Instant::now();
        let state = self.state();
        let roster = self.roster();
        roster
            .types
            .iter()
            .filter_map(|t| {
                let stations: Vec<usize> = t
                    .stations
                    .iter()
                    .copied()
                    .filter(|&s| self.permits(s, principal))
                    .collect();
                if stations.is_empty() {
                    return None;
                }
                let (mut free, mut busy, mut out) = (0u32, 0u32, 0u32);
                let mut notes = Vec::new();
                for &s in &stations {
                    let (condition, reason) = self.condition_of(&state, s, now);
                    match condition {
                        Condition::Free => free += 1,
                        Condition::Busy => busy += 1,
                        Condition::Quarantined | Condition::Offline | Condition::Drained => {
                            out += 1;
                            if notes.len() < MAX_LIST_NOTES {
                                notes.push(note(roster.stations.get(s), condition, &reason));
                            }
                        }
                    }
                }
                Some(ListedType {
                    record: t.record.clone(),
                    total: free + busy + out,
                    free,
                    busy,
                    quarantined: out,
                    queued: queued(t.record.id),
                    notes,
                })
            })
            .collect()
    }

    /// Healthy stations of type `type_id` (the ETA's divisor).
    pub fn healthy_of_type(&self, type_id: u32) -> u32 {
        let now = Instant::now();
        let state = self.state();
        self.roster()
            .types
            .iter()
            .find(|t| t.record.id == type_id)
            .map_or(0, |t| {
                t.stations
                    .iter()
                    .filter(|&&s| self.healthy(&state, s, now) || state.reserved[s])
                    .count() as u32
            })
    }

    /// The station report (admin).
    pub fn station_reports(&self) -> Vec<StationReport> {
        let now = Instant::now();
        let day = today();
        let state = self.state();
        let roster = self.roster();
        let master_policy = self.policy_digest();
        roster
            .stations
            .iter()
            .enumerate()
            // A removed station is reported while a reservation still runs on it.
            .filter(|&(index, _)| {
                roster.is_active(index) || state.reserved.get(index).copied().unwrap_or(false)
            })
            .map(|(index, config)| {
                let (condition, reason) = self.condition_of(&state, index, now);
                let reason = super::reconfigure::report_notes(
                    reason,
                    roster.is_active(index),
                    state.live.get(index),
                    master_policy,
                );
                let live = state.live.get(index);
                let holder = holder_key(&state, index)
                    .and_then(|key| state.users.get(&key).map(|u| u.display.clone()))
                    .unwrap_or_default();
                let (burns, failures) = live
                    .filter(|l| l.day == day)
                    .map_or((0, 0), |l| (l.burns_today, l.verify_failures_today));
                StationReport {
                    name: config.name.clone(),
                    location: config.location.clone(),
                    type_id: roster.type_id(index),
                    condition,
                    reason,
                    state: live.map(|l| l.state.clone()).unwrap_or_default(),
                    holder,
                    burns_today: burns,
                    verify_failures_today: failures,
                }
            })
            .collect()
    }

    /// Who is logged in and what they hold (admin).
    pub fn who(&self) -> Vec<WhoEntry> {
        let state = self.state();
        let roster = self.roster();
        let mut rows: Vec<WhoEntry> = state
            .users
            .values()
            .map(|user| {
                let r = user.reservation.as_ref();
                WhoEntry {
                    user: user.display.clone(),
                    connections: u32::try_from(user.connections).unwrap_or(u32::MAX),
                    stations: r.map_or_else(Vec::new, |r| {
                        r.stations
                            .iter()
                            .filter_map(|(s, _)| roster.stations.get(*s))
                            .map(|c| c.name.clone())
                            .collect()
                    }),
                    session_id: r.map_or_else(String::new, |r| r.session_id.to_string()),
                    held_seconds: r.map_or(0, |r| {
                        u32::try_from(r.since.elapsed().as_secs()).unwrap_or(u32::MAX)
                    }),
                }
            })
            .collect();
        rows.sort_by(|a, b| a.user.cmp(&b.user));
        rows
    }

    /// DRAIN / RESUME: whether `station` takes new reservations.
    pub fn set_drained(&self, station: usize, drained: bool) {
        if let Some(live) = self.state().live.get_mut(station) {
            live.drained = drained;
        }
        self.changed();
    }

    /// RELEASE: ends the reservation holding `station`, now if no copy runs there, else once
    /// the station reports the copy done (a version-2 station reports nothing: now).
    pub fn release(&self, station: usize) -> Release {
        let mut state = self.state();
        let Some(key) = holder_key(&state, station) else {
            return Release::NotReserved;
        };
        // Every station of the reservation (a job holds several) that reports its state is
        // asked to finish; the reservation ends when all have answered. Only a station that
        // knows no FINISH (link version 2) is left to the teardown at once.
        let stations = reservation_stations(&state, &key);
        let asked: Vec<usize> = stations
            .iter()
            .copied()
            .filter(|&s| {
                state
                    .live
                    .get(s)
                    .is_some_and(|l| matches!(l.link, Link::Up { version } if version >= 3))
            })
            .collect();
        if asked.is_empty() {
            let teardown = self.teardown_locked(&mut state, &key);
            return Release::Now { key, teardown };
        }
        let burning = asked
            .iter()
            .any(|&s| state.live.get(s).is_some_and(|l| l.copy_running()));
        for &s in &asked {
            if let Some(live) = state.live.get_mut(s) {
                live.release_pending = true;
            }
        }
        let reservation = state
            .users
            .get_mut(&key)
            .and_then(|u| u.reservation.as_mut());
        let session_id = match reservation {
            Some(r) => {
                r.released_by_admin = true;
                r.session_id.to_string()
            }
            None => String::new(),
        };
        Release::AfterCopy {
            session_id,
            stations: asked,
            burning,
        }
    }
}

/// One line of LISTX's notes: "dvd-1: quarantined: no heartbeat for 16s", within the
/// note's bound.
fn note(
    station: Option<&crate::config::StationConfig>,
    condition: Condition,
    reason: &str,
) -> String {
    let name = station.map_or("?", |c| c.name.as_str());
    let line = if reason.is_empty() {
        format!("{name}: {}", condition.word())
    } else {
        format!("{name}: {}: {reason}", condition.word())
    };
    line.chars().take(MAX_FARM_TEXT_LEN).collect()
}

/// The stations of user `key`'s reservation.
fn reservation_stations(state: &State, key: &[u8]) -> Vec<usize> {
    state
        .users
        .get(key)
        .and_then(|u| u.reservation.as_ref())
        .map_or_else(Vec::new, |r| r.stations.iter().map(|(s, _)| *s).collect())
}

/// The user whose reservation holds `station`.
fn holder_key(state: &State, station: usize) -> Option<Vec<u8>> {
    state
        .users
        .iter()
        .find(|(_, u)| {
            u.reservation
                .as_ref()
                .is_some_and(|r| r.holds_station(station))
        })
        .map(|(key, _)| key.clone())
}
