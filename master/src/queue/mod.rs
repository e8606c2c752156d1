//! The wait queue (issue 13): users waiting for a station type whose stations are all busy.
//!
//! One entry per principal (a second RESERVE while waiting is a rejoin, not a second place),
//! ordered per station type by [`order`]: class priority plus aging, then join order. A freed
//! station goes to the first entry in that order the caller finds eligible ([`Queue::next_for`]).
//!
//! [`Queue`] is the in-memory view the master consults under its lock; every change is written
//! through to a [`QueueStore`] first, so what a user was told (QUEUED) survives a master
//! restart: after one, a client that reconnects and joins again gets its old place back. The
//! caller decides when an absent client's entry goes ([`Queue::expire`], with
//! `queue.rejoin_grace`); this module keeps no clock of its own.

pub mod eta;
pub mod order;
pub mod store;

#[cfg(test)]
mod tests;

use std::time::SystemTime;

use burnstand_wire::limits::{MAX_EXPORTED_NAME_LEN, MAX_FARM_TEXT_LEN, MAX_JOB_DRIVES};

pub use crate::config::queue::{class_of, QueueClass, QueueSettings};
use crate::config::MAX_NAME_LEN;
use crate::error::{Error, Result};
pub use eta::{eta, eta_seconds, MeanDuration, Means};
pub use store::{QueueStore, SqliteQueueStore, QUEUE_FILE};

/// Most entries waiting at once, over all types. Bounds the queue's memory (each entry at most
/// about 3 KiB: a key, a display name and a station name of at most 1 KiB each, so about
/// 12 MiB in all) and the work of one ordering. A join beyond it is refused.
pub const MAX_WAITING: usize = 4096;

/// One user waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The principal's GSSAPI exported name: what identifies "the same user" across
    /// connections and restarts.
    pub key: Vec<u8>,
    /// The display principal, for reports and logs.
    pub user: String,
    /// The station type waited for.
    pub type_id: u32,
    /// How many stations the job wants (RESERVE's `drives`).
    pub drives: u32,
    /// A named station wanted, or `""` for any station of the type.
    pub station: String,
    /// The priority class (`""` is the default class).
    pub class: String,
    /// The class's priority when the entry joined.
    pub priority: u32,
    /// When the entry joined: aging counts from here, across restarts.
    pub joined: SystemTime,
    /// Join order, assigned by the store: monotonic, never reused.
    pub seq: u64,
}

impl Waiting {
    /// The reservation this entry waits for (without WAIT or HOLD: those belong to the
    /// connection that waits, not to the place in the queue).
    pub fn request(&self) -> burnstand_wire::farm::Reserve {
        burnstand_wire::farm::Reserve {
            type_id: self.type_id,
            station: self.station.clone(),
            drives: self.drives,
            flags: 0,
        }
    }
}

/// What [`Queue::join`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// A new entry: at the end of its class.
    New { seq: u64 },
    /// The principal was already waiting for this type: its place (`seq`, `joined`, class)
    /// is kept; only `drives` and `station` take the new values.
    Rejoined { seq: u64 },
    /// The principal was waiting for another type: that entry (returned) is gone, and the new
    /// one is at the end — a place in one type's queue is not a place in another's.
    Moved { seq: u64, left: Waiting },
}

impl Joined {
    /// Whether the principal kept an earlier place.
    pub fn rejoined(&self) -> bool {
        matches!(self, Joined::Rejoined { .. })
    }

    /// The entry's `seq`.
    pub fn seq(&self) -> u64 {
        match self {
            Joined::New { seq } | Joined::Rejoined { seq } | Joined::Moved { seq, .. } => *seq,
        }
    }
}

/// Where an entry stands within its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based: 1 is handed the next station.
    pub position: u32,
    /// Entries waiting for the type, this one included.
    pub waiting: u32,
}

/// The wait queue; see the module docs. The caller holds it under a `std::sync::Mutex`.
pub struct Queue {
    store: Box<dyn QueueStore>,
    settings: QueueSettings,
    /// In `seq` order; at most [`MAX_WAITING`] entries (checked on join and on load).
    entries: Vec<Waiting>,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Refuses an entry whose fields exceed what the wire allows: a caller bug, or a damaged
/// store, and it would break [`MAX_WAITING`]'s memory bound.
fn check(entry: &Waiting) -> Result<()> {
    let problem = if entry.key.is_empty() || entry.key.len() > MAX_EXPORTED_NAME_LEN {
        "principal key"
    } else if entry.user.len() > MAX_FARM_TEXT_LEN {
        "user name"
    } else if entry.station.len() > MAX_FARM_TEXT_LEN {
        "station name"
    } else if entry.class.len() > MAX_NAME_LEN {
        "class name"
    } else if entry.drives == 0 || entry.drives > MAX_JOB_DRIVES {
        "drive count"
    } else {
        return Ok(());
    };
    Err(Error::Queue(format!(
        "entry of {:?} (seq {}) has an invalid {problem}",
        entry.user, entry.seq
    )))
}

impl Queue {
    /// Loads the persisted entries from `store`. A store holding more than [`MAX_WAITING`]
    /// entries, an invalid entry or one principal twice is refused: the store is damaged.
    pub fn open(store: Box<dyn QueueStore>, settings: QueueSettings) -> Result<Queue> {
        let mut entries = store.load()?;
        if entries.len() > MAX_WAITING {
            return Err(Error::Queue(format!(
                "the store holds more than {MAX_WAITING} entries; move it aside to start with an empty queue"
            )));
        }
        entries.sort_by_key(|e| e.seq);
        for (i, entry) in entries.iter().enumerate() {
            check(entry)?;
            if entries[..i].iter().any(|e| e.key == entry.key) {
                return Err(Error::Queue(format!(
                    "the store holds {:?} twice; move it aside to start with an empty queue",
                    entry.user
                )));
            }
        }
        Ok(Queue {
            store,
            settings,
            entries,
        })
    }

    /// The settings the queue was opened with.
    pub fn settings(&self) -> &QueueSettings {
        &self.settings
    }

    fn index(&self, key: &[u8]) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }

    /// Puts `entry` in the queue; see [`Joined`]. `entry.seq` is ignored (the store assigns
    /// it). Refused with [`Error::QueueFull`] when [`MAX_WAITING`] entries wait and this is a
    /// new principal. When the store fails nothing changes, except for a move whose new entry
    /// could not be written: the old one is gone then too (the store and the view agree).
    pub fn join(&mut self, entry: Waiting) -> Result<Joined> {
        check(&entry)?;
        let Some(i) = self.index(&entry.key) else {
            if self.entries.len() >= MAX_WAITING {
                return Err(Error::QueueFull { limit: MAX_WAITING });
            }
            let seq = self.insert(entry)?;
            return Ok(Joined::New { seq });
        };
        if self.entries[i].type_id == entry.type_id {
            let mut kept = self.entries[i].clone();
            kept.drives = entry.drives;
            kept.station = entry.station;
            self.store.update(&kept)?;
            let seq = kept.seq;
            self.entries[i] = kept;
            return Ok(Joined::Rejoined { seq });
        }
        self.store.remove(&entry.key)?;
        let left = self.entries.remove(i);
        let seq = self.insert(entry)?;
        Ok(Joined::Moved { seq, left })
    }

    fn insert(&mut self, mut entry: Waiting) -> Result<u64> {
        entry.seq = self.store.insert(&entry)?;
        let seq = entry.seq;
        // The store's seq only grows, so pushing keeps `entries` in seq order; a store that
        // broke that promise still gets a sorted view.
        let at = self.entries.partition_point(|e| e.seq < seq);
        self.entries.insert(at, entry);
        Ok(seq)
    }

    /// Takes `key`'s entry out of the queue (LEAVE, or a station handed over and taken).
    pub fn leave(&mut self, key: &[u8]) -> Result<Option<Waiting>> {
        let Some(i) = self.index(key) else {
            return Ok(None);
        };
        self.store.remove(key)?;
        Ok(Some(self.entries.remove(i)))
    }

    /// Empties the queue (an admin's command); returns who was waiting, to be told.
    pub fn clear(&mut self) -> Result<Vec<Waiting>> {
        self.store.clear()?;
        Ok(std::mem::take(&mut self.entries))
    }

    /// Drops every entry `keep` rejects (a client away longer than `rejoin_grace`, a type that
    /// no longer exists) and returns them. On a store failure, the entries dropped before it
    /// stay dropped and the rest stay.
    pub fn expire(&mut self, keep: impl Fn(&Waiting) -> bool) -> Result<Vec<Waiting>> {
        let mut dropped = Vec::new();
        let mut i = 0;
        while i < self.entries.len() {
            if keep(&self.entries[i]) {
                i += 1;
                continue;
            }
            self.store.remove(&self.entries[i].key)?;
            dropped.push(self.entries.remove(i));
        }
        Ok(dropped)
    }

    fn of_type(&self, type_id: u32) -> impl Iterator<Item = &Waiting> {
        self.entries.iter().filter(move |e| e.type_id == type_id)
    }

    /// The entries waiting for `type_id`, in hand-over order at `now`.
    pub fn order(&self, type_id: u32, now: SystemTime) -> Vec<&Waiting> {
        order::sorted(self.of_type(type_id), now, self.settings.aging_step)
    }

    /// Where `key`'s entry stands within its type at `now` (one pass, no sorting).
    pub fn position(&self, key: &[u8], now: SystemTime) -> Option<Position> {
        let entry = self.get(key)?;
        let step = self.settings.aging_step;
        let mut ahead = 0;
        let mut waiting = 0;
        for other in self.of_type(entry.type_id) {
            waiting += 1;
            if order::hand_over_cmp(other, entry, now, step).is_lt() {
                ahead += 1;
            }
        }
        Some(Position {
            position: count(ahead + 1),
            waiting: count(waiting),
        })
    }

    /// The first entry for `type_id` in hand-over order at `now` that `eligible` accepts (the
    /// caller passes over clients not connected right now, or that want another station).
    pub fn next_for(
        &self,
        type_id: u32,
        now: SystemTime,
        eligible: impl Fn(&Waiting) -> bool,
    ) -> Option<&Waiting> {
        order::first(
            self.of_type(type_id).filter(|e| eligible(e)),
            now,
            self.settings.aging_step,
        )
    }

    /// `key`'s entry, if it waits.
    pub fn get(&self, key: &[u8]) -> Option<&Waiting> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// How many wait for `type_id` (LISTX's `queued`).
    pub fn len(&self, type_id: u32) -> u32 {
        count(self.of_type(type_id).count())
    }

    /// How many wait over all types.
    pub fn total(&self) -> usize {
        self.entries.len()
    }

    /// Every entry in join (`seq`) order, for reports.
    pub fn entries(&self) -> &[Waiting] {
        &self.entries
    }
}
