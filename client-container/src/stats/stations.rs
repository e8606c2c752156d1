//! Station names: the statistics show the name a station has in the master's configuration,
//! not its id (a UUID nobody recognises).
//!
//! A station's own log knows only its id. The master adds `station_name` to its copy of each
//! receipt and names the station in each `copy.grant` (with `station_id`), so the names come
//! from the master's log; with station logs alone, stations are shown by id. A station renamed
//! in the master's configuration keeps its id, so the newest name (by the record's time, see
//! `when` in stats.rs) is the one shown: it is the one people use now. Two stations that
//! share a name are told apart by their id.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use burnstand_audit::Record;
use serde::Serialize;

use super::RECEIPT;

/// The master's record of a copy right it granted; it names the station too.
const GRANT: &str = "copy.grant";

/// How a station id is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationInfo {
    /// Its newest recorded name, or null when no record names it.
    pub name: Option<String>,
    /// What the tables and the `per_station` keys show: the name, else the id; a name that
    /// two stations share gets ` (ID)` appended.
    pub label: String,
}

/// The newest name seen for each station id.
#[derive(Debug, Default)]
pub(super) struct StationNames {
    newest: HashMap<String, (Option<SystemTime>, String)>,
}

impl StationNames {
    /// Takes the (id, name) a record carries, if it is newer than what is known. On a tie the
    /// later record wins (the order of the log, and of the logs given).
    pub(super) fn learn(&mut self, record: &Record, when: Option<SystemTime>) {
        let id = match record.event.as_str() {
            RECEIPT => record.get_str("station"),
            GRANT => record.get_str("station_id"),
            _ => return,
        };
        let (Some(id), Some(name)) = (id, record.get_str("station_name")) else {
            return;
        };
        if name.is_empty() {
            return;
        }
        let older = self.newest.get(id).is_some_and(|(known, _)| *known > when);
        if !older {
            self.newest.insert(id.to_owned(), (when, name.to_owned()));
        }
    }

    /// How to show each of `ids` and of the named stations, by id.
    pub(super) fn resolve<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> BTreeMap<String, StationInfo> {
        let mut all: BTreeMap<String, Option<String>> =
            ids.map(|id| (id.to_owned(), None)).collect();
        for (id, (_, name)) in &self.newest {
            all.insert(id.clone(), Some(name.clone()));
        }
        let mut uses: HashMap<&str, usize> = HashMap::new();
        for (id, name) in &all {
            *uses.entry(name.as_deref().unwrap_or(id)).or_default() += 1;
        }
        all.iter()
            .map(|(id, name)| {
                let label = match name {
                    Some(name) if uses.get(name.as_str()).copied().unwrap_or(0) > 1 => {
                        format!("{name} ({id})")
                    }
                    Some(name) => name.clone(),
                    None => id.clone(),
                };
                let info = StationInfo {
                    name: name.clone(),
                    label,
                };
                (id.clone(), info)
            })
            .collect()
    }
}
