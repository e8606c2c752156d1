//! A reload's side of the registry: the new roster swapped in with the state grown for new
//! stations, the control-link tasks counted (one per station at most), and the stations'
//! policy digests compared with the master's.

use std::sync::{Arc, PoisonError};

use burnstand_wire::burner::Sha256;
use burnstand_wire::limits::MAX_FARM_TEXT_LEN;
use tokio::sync::watch;

use super::live::{Link, Live};
use super::roster::Changes;
use super::Registry;
use crate::config::StationConfig;

impl Registry {
    /// Puts `stations` (a reloaded config's) in force: see `roster.rs` for what happens to
    /// indices, removed stations and type ids. The roster and the state change under the
    /// state lock, so no BIND sees one without the other. Control links learn of it through
    /// [`Registry::generation`]. `Err` (nothing changed) when the roster would grow too big.
    pub fn reconfigure(&self, stations: &[StationConfig]) -> Result<Changes, String> {
        let mut state = self.state();
        let (next, changes) = self.roster().reconfigured(stations)?;
        let n = next.stations.len();
        state.down_until.resize(n, None);
        state.conflicted.resize(n, false);
        state.reserved.resize(n, false);
        state.live.resize_with(n, Live::default);
        state.linked.resize(n, false);
        for &moved in &changes.moved {
            // Its last failures were at the old address.
            if let Some(down) = state.down_until.get_mut(moved) {
                *down = None;
            }
        }
        *self.roster.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        drop(state);
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
        Ok(changes)
    }

    /// Changes with every reconfiguration: a control link waits on it and then looks whether
    /// its station moved or was removed.
    pub fn generation(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// A control-link task starts for `station`; `false` if one runs already (it goes on).
    pub(crate) fn link_task_started(&self, station: usize) -> bool {
        let mut state = self.state();
        match state.linked.get_mut(station) {
            Some(linked) if !*linked => {
                *linked = true;
                true
            }
            _ => false,
        }
    }

    /// The control-link task of `station` ended.
    pub(crate) fn link_task_ended(&self, station: usize) {
        if let Some(linked) = self.state().linked.get_mut(station) {
            *linked = false;
        }
    }

    /// Whether the control link of `station` is no longer needed: a reload removed the
    /// station and no reservation (whose copies need grants) runs on it.
    pub(crate) fn link_unneeded(&self, station: usize) -> bool {
        let state = self.state();
        !self.roster().is_active(station) && !state.reserved.get(station).copied().unwrap_or(false)
    }

    /// The master's policy digest.
    pub fn policy_digest(&self) -> Sha256 {
        *self
            .policy_digest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A reload put a policy with `digest` in force at the master.
    pub fn set_policy_digest(&self, digest: Sha256) {
        *self
            .policy_digest
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = digest;
    }

    /// `station` reported the digest of its policy; `true` when it is not the master's.
    pub(crate) fn policy_reported(&self, station: usize, digest: Sha256) -> bool {
        let master = self.policy_digest();
        if let Some(live) = self.state().live.get_mut(station) {
            live.policy_digest = Some(digest);
        }
        digest != master
    }

    /// Configured stations whose reported policy digest is not the master's: (name, digest).
    pub fn policy_mismatches(&self) -> Vec<(String, Sha256)> {
        let master = self.policy_digest();
        let roster = self.roster();
        let state = self.state();
        state
            .live
            .iter()
            .enumerate()
            .filter(|&(index, _)| roster.is_active(index))
            .filter_map(|(index, live)| {
                let digest = live.policy_digest.filter(|d| *d != master)?;
                Some((roster.stations.get(index)?.name.clone(), digest))
            })
            .collect()
    }
}

/// The first 12 hex digits of a digest: enough to tell policies apart in a report line.
pub fn short(digest: &Sha256) -> String {
    digest.to_hex().chars().take(12).collect()
}

/// The station report's `reason` with the reload's notes added: a station a reload removed,
/// and a policy digest other than the master's (or one that cannot be compared).
pub(super) fn report_notes(
    reason: String,
    active: bool,
    live: Option<&Live>,
    master: Sha256,
) -> String {
    let mut notes = Vec::new();
    if !reason.is_empty() {
        notes.push(reason);
    }
    if !active {
        notes.push("removed from the configuration: gets no new reservation".to_owned());
    }
    if let Some(live) = live {
        match (&live.link, live.policy_digest) {
            (_, Some(digest)) if digest != master => notes.push(format!(
                "policy differs: station {}…, master {}…; install the master's policy file on \
                 the station and reload it",
                short(&digest),
                short(&master)
            )),
            (Link::Up { version }, None)
                if *version < burnstand_wire::link::POLICY_LINK_VERSION =>
            {
                notes.push(format!(
                    "policy not compared: the station speaks link version {version}; upgrade it"
                ));
            }
            _ => {}
        }
    }
    notes.join("; ").chars().take(MAX_FARM_TEXT_LEN).collect()
}
