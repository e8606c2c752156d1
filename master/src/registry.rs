//! Station types (built in `registry/types.rs`), station health, reservations, and the
//! connections of every user.
//!
//! All mutable state of the master lives behind one `std::sync::Mutex`, held only for short,
//! synchronous bookkeeping (never across an `.await`). That single lock is what makes the BIND
//! race safe: two clients asking for the last free station are serialized, exactly one gets it.
//!
//! A **reservation** is what BIND creates: one station, one principal, one session id (a
//! UUID, sent to the station in the identity block), held by one container connection. It
//! ends — and with it every connection of the user — on QUIT, when the container connection
//! is lost, when its Kerberos ticket ends, or when it sits idle too long. Each authenticated
//! connection holds a [`Registration`] whose cancellation token is how the teardown reaches it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use burnstand_wire::command::StationType;
use burnstand_wire::gss::Principal;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{Config, StationConfig};

mod types;

pub use types::{station_types, TypeEntry};

/// Why BIND was refused (all answered ERRUNAVAL; the reason goes to the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRefusal {
    UnknownType,
    NotPermitted,
    AlreadyReserved,
    NoHealthyStation,
    NoneFree,
    /// The connection is being torn down (a QUIT on another connection of the user won the
    /// race): a reservation made now would outlive its teardown.
    TornDown,
}

impl BindRefusal {
    /// The audit reason.
    pub fn reason(self) -> &'static str {
        match self {
            BindRefusal::UnknownType => "unknown station type",
            BindRefusal::NotPermitted => "principal may not reserve this station type",
            BindRefusal::AlreadyReserved => "principal already holds a reservation",
            BindRefusal::NoHealthyStation => "no healthy station of this type",
            BindRefusal::NoneFree => "every station of this type is reserved",
            BindRefusal::TornDown => "the user's connections are being closed",
        }
    }
}

/// Why SERV could not get a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServRefusal {
    /// No live container connection with a reservation (answered ERRNOCONN).
    NoContainer,
    /// The reserved station does not offer the service (answered ERRNOTAVL).
    NotOffered,
}

/// A granted BIND.
#[derive(Debug, Clone)]
pub struct Bound {
    pub session_id: Uuid,
    pub station: usize,
    pub station_name: String,
}

/// What a teardown closed and released, for its audit record.
#[derive(Debug, Clone, Default)]
pub struct Teardown {
    pub station: Option<String>,
    pub session_id: Option<String>,
    /// Connections of the user that were open (including the one that triggered it).
    pub connections: usize,
}

struct Reservation {
    session_id: Uuid,
    station: usize,
    container_conn: u64,
    modules_open: usize,
    last_activity: Instant,
}

struct User {
    /// Cancelled by a teardown, then replaced so later connections start fresh.
    cancel: CancellationToken,
    connections: usize,
    reservation: Option<Reservation>,
}

struct State {
    down_until: Vec<Option<Instant>>,
    /// Station ids presented over live control links, by configured station.
    station_ids: HashMap<usize, String>,
    /// Stations whose last control link presented an id another station holds: out of LIST
    /// and BIND until a link of theirs presents an id of their own (not merely for
    /// `station_retry_after`, which may be shorter than the link's back-off).
    conflicted: Vec<bool>,
    reserved: Vec<bool>,
    users: HashMap<Vec<u8>, User>,
}

/// The master's shared bookkeeping; see the module docs.
pub struct Registry {
    config: Arc<Config>,
    types: Vec<TypeEntry>,
    /// Parent of every user's token: cancelled when the drain deadline passes.
    stop: CancellationToken,
    state: Mutex<State>,
}

impl Registry {
    /// A registry for `config`; `stop` ends every connection when cancelled.
    pub fn new(config: Arc<Config>, stop: CancellationToken) -> Registry {
        let types = station_types(&config);
        let n = config.stations.len();
        let state = State {
            down_until: vec![None; n],
            station_ids: HashMap::new(),
            conflicted: vec![false; n],
            reserved: vec![false; n],
            users: HashMap::new(),
        };
        Registry {
            config,
            types,
            stop,
            state: Mutex::new(state),
        }
    }

    /// Never panics while holding the lock, so a poisoned lock still holds consistent state.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The station types.
    pub fn types(&self) -> &[TypeEntry] {
        &self.types
    }

    /// A station's configuration.
    pub fn station(&self, index: usize) -> Option<&StationConfig> {
        self.config.stations.get(index)
    }

    /// LIST: the types with at least one healthy station `principal` may reserve. Types
    /// whose stations are all reserved are listed (BIND then answers ERRUNAVAL); types the
    /// principal may not use are not, so LIST reveals nothing about them.
    pub fn list(&self, principal: &Principal) -> Vec<StationType> {
        let now = Instant::now();
        let state = self.state();
        self.types
            .iter()
            .filter(|t| {
                t.stations
                    .iter()
                    .any(|&s| self.permits(s, principal) && state.healthy(s, now))
            })
            .map(|t| t.record.clone())
            .collect()
    }

    fn permits(&self, station: usize, principal: &Principal) -> bool {
        self.config
            .stations
            .get(station)
            .is_some_and(|s| s.allow.permits(principal))
    }

    /// Records a new authenticated connection of `principal`, or refuses it past the
    /// per-user budget.
    pub fn register(self: &Arc<Self>, principal: &Principal, conn_id: u64) -> Option<Registration> {
        let mut state = self.state();
        let stop = &self.stop;
        let user = state
            .users
            .entry(principal.exported().to_vec())
            .or_insert_with(|| User {
                cancel: stop.child_token(),
                connections: 0,
                reservation: None,
            });
        if user.connections >= self.config.limits.max_connections_per_user {
            return None;
        }
        user.connections += 1;
        Some(Registration {
            registry: Arc::clone(self),
            key: principal.exported().to_vec(),
            conn_id,
            cancel: user.cancel.child_token(),
        })
    }

    /// BIND: reserves the first free, healthy station of `type_id` that `reg`'s principal may
    /// use, for the connection `reg`.
    pub fn bind(
        &self,
        reg: &Registration,
        principal: &Principal,
        type_id: u32,
    ) -> Result<Bound, BindRefusal> {
        let now = Instant::now();
        let mut state = self.state();
        // Checked under the lock that teardown takes too: a BIND racing a QUIT either sees the
        // cancellation or its reservation is seen (and ended) by the teardown.
        if reg.cancel.is_cancelled() {
            return Err(BindRefusal::TornDown);
        }
        if state
            .users
            .get(&reg.key)
            .is_some_and(|u| u.reservation.is_some())
        {
            return Err(BindRefusal::AlreadyReserved);
        }
        let entry = self
            .types
            .iter()
            .find(|t| t.record.id == type_id)
            .ok_or(BindRefusal::UnknownType)?;
        let permitted: Vec<usize> = entry
            .stations
            .iter()
            .copied()
            .filter(|&s| self.permits(s, principal))
            .collect();
        if permitted.is_empty() {
            return Err(BindRefusal::NotPermitted);
        }
        let healthy: Vec<usize> = permitted
            .into_iter()
            .filter(|&s| state.healthy(s, now))
            .collect();
        if healthy.is_empty() {
            return Err(BindRefusal::NoHealthyStation);
        }
        let station = healthy
            .into_iter()
            .find(|&s| !state.reserved[s])
            .ok_or(BindRefusal::NoneFree)?;
        let user = state.users.get_mut(&reg.key).ok_or(BindRefusal::NoneFree)?;
        let session_id = Uuid::new_v4();
        user.reservation = Some(Reservation {
            session_id,
            station,
            container_conn: reg.conn_id,
            modules_open: 0,
            last_activity: now,
        });
        state.reserved[station] = true;
        let station_name = self
            .config
            .stations
            .get(station)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        Ok(Bound {
            session_id,
            station,
            station_name,
        })
    }

    /// SERV: the station reserved by `principal`'s container, if it offers `service_id`.
    /// The lease counts as activity on the reservation while it lives.
    pub fn open_module(
        self: &Arc<Self>,
        principal: &Principal,
        service_id: u32,
    ) -> Result<ModuleLease, ServRefusal> {
        let mut state = self.state();
        let reservation = state
            .users
            .get_mut(principal.exported())
            .and_then(|u| u.reservation.as_mut())
            .ok_or(ServRefusal::NoContainer)?;
        let station = self
            .config
            .stations
            .get(reservation.station)
            .ok_or(ServRefusal::NoContainer)?;
        if !station.services.iter().any(|s| s.id() == service_id) {
            return Err(ServRefusal::NotOffered);
        }
        reservation.modules_open += 1;
        reservation.last_activity = Instant::now();
        Ok(ModuleLease {
            registry: Arc::clone(self),
            key: principal.exported().to_vec(),
            session_id: reservation.session_id,
            station: reservation.station,
        })
    }

    /// Marks a station as failed: left out of LIST and BIND until `retry_after` has passed.
    pub fn mark_down(&self, station: usize, retry_after: Duration) {
        if let Some(slot) = self.state().down_until.get_mut(station) {
            *slot = Some(Instant::now() + retry_after);
        }
    }

    /// Counts a command on the reservation as activity.
    pub fn touch(&self, principal: &Principal, session_id: Uuid) {
        let mut state = self.state();
        if let Some(r) = state
            .users
            .get_mut(principal.exported())
            .and_then(|u| u.reservation.as_mut())
        {
            if r.session_id == session_id {
                r.last_activity = Instant::now();
            }
        }
    }

    /// How long the reservation may still sit idle (no module connection open, no command);
    /// `None` once it has been idle for `limit`, or if it is gone.
    pub fn reservation_idle_left(
        &self,
        principal: &Principal,
        session_id: Uuid,
        limit: Duration,
    ) -> Option<Duration> {
        let state = self.state();
        let r = state
            .users
            .get(principal.exported())
            .and_then(|u| u.reservation.as_ref())?;
        if r.session_id != session_id {
            return None;
        }
        if r.modules_open > 0 {
            return Some(limit);
        }
        limit
            .checked_sub(r.last_activity.elapsed())
            .filter(|left| !left.is_zero())
    }

    /// Whether `session_id` is still `principal`'s reservation.
    pub fn is_current(&self, principal: &Principal, session_id: Uuid) -> bool {
        let state = self.state();
        let r = state
            .users
            .get(principal.exported())
            .and_then(|u| u.reservation.as_ref());
        r.is_some_and(|r| r.session_id == session_id)
    }

    /// Whether the user with exported name `user` holds reservation `session_id` of `station`
    /// now: a copy grant is only for a burn of a live reservation.
    pub fn holds(&self, user: &[u8], session_id: &str, station: usize) -> bool {
        let state = self.state();
        let r = state.users.get(user).and_then(|u| u.reservation.as_ref());
        r.is_some_and(|r| r.station == station && r.session_id.to_string() == session_id)
    }

    /// Claims station id `id` for configured station `station` while its control link is up.
    /// Two configured stations presenting one id would share quotas and receipts: the second
    /// is refused with the name of the first, and kept out of LIST and BIND until a claim of
    /// its own succeeds.
    pub fn claim_station_id(&self, station: usize, id: &str) -> Result<(), String> {
        let mut state = self.state();
        if let Some((&other, _)) = state
            .station_ids
            .iter()
            .find(|(&s, claimed)| s != station && claimed.as_str() == id)
        {
            let name = self
                .config
                .stations
                .get(other)
                .map_or_else(String::new, |s| s.name.clone());
            if let Some(flag) = state.conflicted.get_mut(station) {
                *flag = true;
            }
            return Err(name);
        }
        state.station_ids.insert(station, id.to_owned());
        if let Some(flag) = state.conflicted.get_mut(station) {
            *flag = false;
        }
        Ok(())
    }

    /// Gives up the id claimed for `station` (its control link went down).
    pub fn release_station_id(&self, station: usize) {
        self.state().station_ids.remove(&station);
    }

    /// Ends reservation `session_id` (its container connection is going away): closes every
    /// connection of the user and frees the station. `None` if it had already ended.
    pub fn end_session(&self, key: &[u8], session_id: Uuid) -> Option<Teardown> {
        let mut state = self.state();
        let current = state.users.get(key)?.reservation.as_ref()?.session_id == session_id;
        current.then(|| self.teardown_locked(&mut state, key))
    }

    /// QUIT: closes every connection of the user and frees their station, if any.
    pub fn end_user(&self, key: &[u8]) -> Teardown {
        let mut state = self.state();
        self.teardown_locked(&mut state, key)
    }

    fn teardown_locked(&self, state: &mut State, key: &[u8]) -> Teardown {
        let Some(user) = state.users.get_mut(key) else {
            return Teardown::default();
        };
        // Cancel before freeing the station: a module connection that is still connecting
        // sees the cancellation before anyone else can reserve the station.
        user.cancel.cancel();
        user.cancel = self.stop.child_token();
        let connections = user.connections;
        let released = user.reservation.take();
        let mut teardown = Teardown {
            connections,
            ..Teardown::default()
        };
        if let Some(r) = released {
            if let Some(slot) = state.reserved.get_mut(r.station) {
                *slot = false;
            }
            teardown.station = self.config.stations.get(r.station).map(|s| s.name.clone());
            teardown.session_id = Some(r.session_id.to_string());
        }
        teardown
    }

    fn deregister(&self, key: &[u8], conn_id: u64) {
        let mut state = self.state();
        // Backstop: the container task ends its reservation (with an audit record) before it
        // drops its registration; if it was aborted instead, the station must not stay taken.
        let orphaned = state
            .users
            .get(key)
            .and_then(|u| u.reservation.as_ref())
            .is_some_and(|r| r.container_conn == conn_id);
        if orphaned {
            self.teardown_locked(&mut state, key);
        }
        if let Some(user) = state.users.get_mut(key) {
            user.connections = user.connections.saturating_sub(1);
            if user.connections == 0 && user.reservation.is_none() {
                state.users.remove(key);
            }
        }
    }
}

impl State {
    fn healthy(&self, station: usize, now: Instant) -> bool {
        let up = self.down_until.get(station).is_some_and(|down| match down {
            None => true,
            Some(until) => now >= *until,
        });
        up && !self.conflicted.get(station).copied().unwrap_or(true)
    }
}

/// One authenticated connection in the registry. Dropping it deregisters the connection.
pub struct Registration {
    registry: Arc<Registry>,
    key: Vec<u8>,
    conn_id: u64,
    cancel: CancellationToken,
}

impl Registration {
    /// Cancelled when the user's connections are torn down or the master stops.
    pub fn cancelled(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The principal's exported name (the registry key).
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.deregister(&self.key, self.conn_id);
    }
}

/// A module connection's claim on the reserved station; dropping it ends the claim.
pub struct ModuleLease {
    registry: Arc<Registry>,
    key: Vec<u8>,
    /// The reservation this module belongs to.
    pub session_id: Uuid,
    /// Index of the reserved station.
    pub station: usize,
}

impl Drop for ModuleLease {
    fn drop(&mut self) {
        let mut state = self.registry.state();
        if let Some(r) = state
            .users
            .get_mut(&self.key)
            .and_then(|u| u.reservation.as_mut())
        {
            if r.session_id == self.session_id {
                r.modules_open = r.modules_open.saturating_sub(1);
                r.last_activity = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_TEXT: &str = include_str!("../../docs/master.example.toml");

    /// The documented example, reading the documented example policy.
    fn example() -> String {
        EXAMPLE_TEXT.replace(
            "/etc/burnstand/policy.toml",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy.example.toml"),
        )
    }

    /// A station refused for presenting another's id stays out of BIND (with no down mark to
    /// run out) until a claim of its own succeeds.
    #[test]
    fn a_station_whose_id_conflicts_is_never_bound() {
        let config = Arc::new(Config::from_toml(&example()).expect("valid"));
        let registry = Arc::new(Registry::new(config, CancellationToken::new()));
        let user =
            |name: &str| Principal::parse(&format!("{name}@LAB.EXAMPLE.EDU")).expect("principal");
        let (alice, bob) = (user("alice"), user("bob"));
        assert_eq!(registry.claim_station_id(0, "same"), Ok(()));
        assert_eq!(
            registry.claim_station_id(1, "same"),
            Err("dvd-1".to_owned())
        );
        let a = registry.register(&alice, 1).expect("alice registered");
        let b = registry.register(&bob, 2).expect("bob registered");
        assert_eq!(registry.bind(&a, &alice, 1).map(|b| b.station), Ok(0));
        assert_eq!(
            registry.bind(&b, &bob, 1).map(|b| b.station),
            Err(BindRefusal::NoneFree)
        );
        // Its link ending changes nothing; a link presenting an id of its own does.
        registry.release_station_id(1);
        assert_eq!(
            registry.bind(&b, &bob, 1).map(|b| b.station),
            Err(BindRefusal::NoneFree)
        );
        assert_eq!(registry.claim_station_id(1, "its-own"), Ok(()));
        assert_eq!(registry.bind(&b, &bob, 1).map(|b| b.station), Ok(1));
    }
}
