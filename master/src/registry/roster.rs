//! The stations the master manages, as a reload leaves them: the configured ones and those a
//! reload removed while they were still in use.
//!
//! Everything in the master names a station by its **index** (reservations, control links,
//! the queue's claims, the live records), so a reload must never move one. The roster keeps
//! every index it ever gave out: a station whose name is still configured keeps its index
//! (its address, principal, access list, location, even drive may change), a new name is
//! appended, and a name no longer configured is **retired**: it is offered to nobody (LIST,
//! LISTX, BIND, RESERVE, the queue), a reservation running on it goes on until it ends (its
//! control link too, for the copy grants), and the name can come back in a later reload.
//! Station type ids are kept the same way: a (drive, services) pair keeps its id for the
//! life of the process, a new pair gets the next one.
//!
//! The roster is immutable; a reload builds a new one ([`Roster::reconfigured`]) and the
//! registry swaps it whole.

use std::collections::HashSet;

use crate::config::{Config, Service, StationConfig, MAX_STATIONS};

use super::types::{describe, TypeEntry};

/// Identical resources: what puts stations into one type.
type TypeKey = (String, Vec<Service>);

/// The stations and their types; see the module docs.
#[derive(Debug, Clone)]
pub struct Roster {
    /// Every station by index, retired ones included.
    pub stations: Vec<StationConfig>,
    /// By index: removed by a reload (offered to nobody, kept for what runs on it).
    pub retired: Vec<bool>,
    /// The types offered: only stations that are not retired, and only types with one.
    pub types: Vec<TypeEntry>,
    /// Every type key ever seen, in order of first appearance: its id is its position + 1.
    keys: Vec<TypeKey>,
}

/// What a reload changed, by station index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New names (appended), or retired names configured again.
    pub added: Vec<usize>,
    /// Configured before and now: the address or principal changed (the control link must
    /// be reopened).
    pub moved: Vec<usize>,
    /// Configured before, not now.
    pub retired: Vec<usize>,
}

impl Changes {
    /// Whether the reload changed nothing about the stations' links or offers.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.moved.is_empty() && self.retired.is_empty()
    }
}

impl Roster {
    /// The roster of a freshly started master: every configured station, in file order.
    pub fn new(config: &Config) -> Roster {
        let n = config.stations.len();
        let mut roster = Roster {
            stations: config.stations.clone(),
            retired: vec![false; n],
            types: Vec::new(),
            keys: Vec::new(),
        };
        roster.build_types();
        roster
    }

    /// Whether `station` is configured now (not retired, not unknown).
    pub fn is_active(&self, station: usize) -> bool {
        self.retired.get(station).is_some_and(|retired| !retired)
    }

    /// The id of the type `station` has (retired ones keep theirs, for receipts and reports).
    pub fn type_id(&self, station: usize) -> u32 {
        self.stations.get(station).map_or(0, |s| {
            self.keys
                .iter()
                .position(|(drive, services)| *drive == s.drive && *services == s.services)
                .map_or(0, |i| u32::try_from(i + 1).unwrap_or(u32::MAX))
        })
    }

    /// The roster after a reload to `stations` (see the module docs), and what changed.
    /// `Err` when it would hold more than [`MAX_STATIONS`] indices (retired ones count).
    pub fn reconfigured(&self, stations: &[StationConfig]) -> Result<(Roster, Changes), String> {
        let mut next = self.clone();
        let mut changes = Changes::default();
        let mut configured = HashSet::new();
        for station in stations {
            configured.insert(station.name.as_str());
            match next.stations.iter().position(|s| s.name == station.name) {
                Some(index) => {
                    let old = &next.stations[index];
                    if next.retired[index] {
                        next.retired[index] = false;
                        changes.added.push(index);
                    } else if old.address != station.address || old.principal != station.principal {
                        changes.moved.push(index);
                    }
                    next.stations[index] = station.clone();
                }
                None => {
                    changes.added.push(next.stations.len());
                    next.stations.push(station.clone());
                    next.retired.push(false);
                }
            }
        }
        for (index, station) in self.stations.iter().enumerate() {
            if !self.retired[index] && !configured.contains(station.name.as_str()) {
                next.retired[index] = true;
                changes.retired.push(index);
            }
        }
        if next.stations.len() > MAX_STATIONS {
            return Err(format!(
                "the master would track {} stations (removed ones count until a restart), at \
                 most {MAX_STATIONS}: restart the master to forget removed stations",
                next.stations.len()
            ));
        }
        next.build_types();
        Ok((next, changes))
    }

    /// Types from the active stations; ids from the keys, new keys appended.
    fn build_types(&mut self) {
        let mut types: Vec<TypeEntry> = Vec::new();
        for (index, station) in self.stations.iter().enumerate() {
            let key = (station.drive.clone(), station.services.clone());
            let position = match self.keys.iter().position(|k| *k == key) {
                Some(position) => position,
                None => {
                    self.keys.push(key);
                    self.keys.len() - 1
                }
            };
            if self.retired[index] {
                continue;
            }
            let id = u32::try_from(position + 1).unwrap_or(u32::MAX);
            match types.iter_mut().find(|t| t.record.id == id) {
                Some(entry) => entry.stations.push(index),
                None => types.push(TypeEntry {
                    record: describe(id, &station.drive, &station.services),
                    stations: vec![index],
                }),
            }
        }
        types.sort_by_key(|t| t.record.id);
        self.types = types;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_TEXT: &str = include_str!("../../../docs/master.example.toml");

    fn example() -> Config {
        let text = EXAMPLE_TEXT.replace(
            "/etc/burnstand/policy.toml",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy.example.toml"),
        );
        Config::from_toml(&text).expect("the documented example is valid")
    }

    fn summary(roster: &Roster) -> Vec<(u32, Vec<usize>)> {
        roster
            .types
            .iter()
            .map(|t| (t.record.id, t.stations.clone()))
            .collect()
    }

    /// A fresh roster is the config's stations with the types `station_types` builds.
    #[test]
    fn a_fresh_roster_has_the_configured_types() {
        let config = example();
        let roster = Roster::new(&config);
        let expected: Vec<(u32, Vec<usize>)> = super::super::station_types(&config)
            .into_iter()
            .map(|t| (t.record.id, t.stations))
            .collect();
        assert_eq!(summary(&roster), expected);
        assert!((0..config.stations.len()).all(|s| roster.is_active(s)));
    }

    /// Indices and type ids never move: a removed station is retired in place, a new one is
    /// appended, a changed address is reported for its link, and a removed name can return.
    #[test]
    fn a_reload_keeps_indices_and_type_ids() {
        let config = example();
        let roster = Roster::new(&config);
        // Keep dvd-2 (moved to another address) and bd-1, drop dvd-1, add dvd-3.
        let mut stations: Vec<StationConfig> = config.stations[1..].to_vec();
        stations[0].address = "elsewhere.lab:4710".into();
        let mut added = config.stations[0].clone();
        added.name = "dvd-3".into();
        stations.push(added);
        let (next, changes) = roster.reconfigured(&stations).expect("reloaded");
        assert_eq!(
            changes,
            Changes {
                added: vec![3],
                moved: vec![1],
                retired: vec![0],
            }
        );
        assert_eq!(summary(&next), [(1, vec![1, 3]), (2, vec![2])]);
        assert!(!next.is_active(0));
        assert_eq!(next.type_id(0), 1, "a retired station keeps its type id");
        assert_eq!(next.stations[1].address, "elsewhere.lab:4710");

        // Only BD stations left: the DVD type is no longer offered, BD keeps id 2.
        let (bd_only, _) = next.reconfigured(&config.stations[2..]).expect("reloaded");
        assert_eq!(summary(&bd_only), [(2, vec![2])]);
        // dvd-1 comes back in its old place, as an addition.
        let (back, changes) = bd_only.reconfigured(&config.stations).expect("reloaded");
        assert_eq!(changes.added, [0, 1]);
        assert_eq!(summary(&back), [(1, vec![0, 1]), (2, vec![2])]);
        assert!(!back.is_active(3));
    }

    /// An unchanged list changes nothing.
    #[test]
    fn reloading_the_same_stations_changes_nothing() {
        let config = example();
        let roster = Roster::new(&config);
        let (next, changes) = roster.reconfigured(&config.stations).expect("reloaded");
        assert!(changes.is_empty());
        assert_eq!(summary(&next), summary(&roster));
    }
}
