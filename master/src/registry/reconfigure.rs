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

#[cfg(test)]
mod tests {
    use burnstand_wire::gss::Principal;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::config::Config;
    use crate::registry::BindRefusal;

    const EXAMPLE_TEXT: &str = include_str!("../../../docs/master.example.toml");

    fn example() -> Config {
        let text = EXAMPLE_TEXT.replace(
            "/etc/burnstand/policy.toml",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy.example.toml"),
        );
        Config::from_toml(&text).expect("the documented example is valid")
    }

    /// A station removed while reserved keeps its reservation (and needs its control link)
    /// until it ends; then nobody gets it again.
    #[test]
    fn a_removed_station_keeps_its_reservation_and_is_never_bound_again() {
        let config = Arc::new(example());
        let registry = Arc::new(Registry::new(Arc::clone(&config), CancellationToken::new()));
        let user = |name: &str| Principal::parse(&format!("{name}@LAB.EXAMPLE.EDU")).unwrap();
        let (alice, bob) = (user("alice"), user("bob"));
        let a = registry.register(&alice, 1).expect("alice registered");
        let b = registry.register(&bob, 2).expect("bob registered");
        let held = registry.bind(&a, &alice, 1).expect("alice binds");
        assert_eq!(held.stations, [0]);

        let changes = registry
            .reconfigure(&config.stations[1..])
            .expect("reconfigured");
        assert_eq!(changes.retired, [0]);
        let session = held.session_id.to_string();
        assert!(registry.holds(alice.exported(), &session, 0), "it goes on");
        assert!(!registry.link_unneeded(0), "its burns still need grants");
        assert_eq!(registry.station_reports().len(), 3, "reported while held");

        registry.end_user(a.key());
        assert!(registry.link_unneeded(0));
        assert_eq!(registry.station_reports().len(), 2);
        assert_eq!(registry.bind(&b, &bob, 1).map(|b| b.stations), Ok(vec![1]));
        // alice again, on a new connection (the teardown closed her others).
        let again = registry.register(&alice, 3).expect("alice registered");
        assert_eq!(
            registry.bind(&again, &alice, 1).map(|b| b.stations),
            Err(BindRefusal::NoneFree),
            "the removed dvd-1 is never handed out"
        );
    }

    fn digest(byte: u8) -> Sha256 {
        Sha256([byte; 32])
    }

    fn linked(version: u32, policy: Option<Sha256>) -> Live {
        Live {
            link: Link::Up { version },
            policy_digest: policy,
            ..Live::default()
        }
    }

    /// The station report names a digest that differs (both shortened), says what to do, and
    /// adds it to the reason already there; the same digest adds nothing.
    #[test]
    fn a_policy_that_differs_is_noted_with_what_to_do() {
        let master = digest(0xab);
        let same = report_notes(String::new(), true, Some(&linked(4, Some(master))), master);
        assert_eq!(same, "");
        let other = report_notes(
            "drained by an admin".into(),
            true,
            Some(&linked(4, Some(digest(0x12)))),
            master,
        );
        assert_eq!(
            other,
            "drained by an admin; policy differs: station 121212121212…, master \
             abababababab…; install the master's policy file on the station and reload it"
        );
    }

    /// A station too old to report says so; one that has not reported yet, or whose link is
    /// down, gets no policy note; a removed one is named as such.
    #[test]
    fn old_silent_and_removed_stations() {
        let master = digest(1);
        assert_eq!(
            report_notes(String::new(), true, Some(&linked(3, None)), master),
            "policy not compared: the station speaks link version 3; upgrade it"
        );
        assert_eq!(
            report_notes(String::new(), true, Some(&linked(4, None)), master),
            ""
        );
        assert_eq!(
            report_notes(String::new(), true, Some(&Live::default()), master),
            ""
        );
        assert_eq!(
            report_notes(String::new(), false, Some(&linked(4, Some(master))), master),
            "removed from the configuration: gets no new reservation"
        );
    }
}
