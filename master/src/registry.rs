//! Station types (built in `registry/types.rs`), station health, reservations, and the
//! connections of every user. The stations themselves come from a roster a reload can change
//! without moving any station's index (`registry/roster.rs`, `registry/reconfigure.rs`).
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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use burnstand_wire::command::StationType;
use burnstand_wire::farm::Reserve;
use burnstand_wire::gss::Principal;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::{Config, StationConfig};

mod farm;
mod live;
mod reconfigure;
mod roster;
mod types;

pub use farm::{today, HealthChange, Release};
pub(crate) use live::CopyOutcome;
pub use roster::{Changes, Roster};
pub use types::{station_types, TypeEntry};

/// Why BIND was refused (all answered ERRUNAVAL; the reason goes to the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRefusal {
    UnknownType,
    NotPermitted,
    AlreadyReserved,
    NoHealthyStation,
    NoneFree,
    /// RESERVE named a station that is not configured, not of the type, or not permitted.
    UnknownStation,
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
            BindRefusal::UnknownStation => "no such station of this type for this principal",
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

/// A granted BIND or RESERVE.
#[derive(Debug, Clone)]
pub struct Bound {
    pub session_id: Uuid,
    /// The reserved stations (one for BIND; up to RESERVE's `drives`).
    pub stations: Vec<usize>,
    /// Their names, comma-separated, for logs and audit records.
    pub station_name: String,
    /// Whether the reservation is held across commands (no idle timeout).
    pub hold: bool,
}

/// What a teardown closed and released, for its audit record.
#[derive(Debug, Clone, Default)]
pub struct Teardown {
    pub station: Option<String>,
    pub session_id: Option<String>,
    /// Connections of the user that were open (including the one that triggered it).
    pub connections: usize,
    /// The stations it freed.
    pub freed: Vec<usize>,
    /// The user's principal (display form), for records of teardowns the user did not cause.
    pub user: String,
    /// How long the reservation was held (it feeds the queue's ETA).
    pub held: Option<Duration>,
    /// An admin's RELEASE was pending: the reservation ended because of it, even when its
    /// user left (having heard why from the station) before the station's FINISHED came.
    pub released_by_admin: bool,
}

struct Reservation {
    session_id: Uuid,
    /// The reserved stations, with the module connections open to each.
    stations: Vec<(usize, usize)>,
    container_conn: u64,
    last_activity: Instant,
    /// Held across commands: no idle timeout (`burnstand reserve`).
    hold: bool,
    /// Handed over from the queue: the user must open a module by then, or it passes on.
    claim_by: Option<Instant>,
    since: Instant,
    /// An admin asked for its release (RELEASE); it ends when the stations answer.
    released_by_admin: bool,
}

impl Reservation {
    fn modules_open(&self) -> usize {
        self.stations.iter().map(|(_, open)| open).sum()
    }

    fn holds_station(&self, station: usize) -> bool {
        self.stations.iter().any(|(s, _)| *s == station)
    }
}

struct User {
    /// The principal's display form (reports).
    display: String,
    /// Cancelled by a teardown, then replaced so later connections start fresh.
    cancel: CancellationToken,
    connections: usize,
    reservation: Option<Reservation>,
}

pub(crate) struct State {
    down_until: Vec<Option<Instant>>,
    /// Station ids presented over live control links, by configured station.
    station_ids: HashMap<usize, String>,
    /// Stations whose last control link presented an id another station holds: out of LIST
    /// and BIND until a link of theirs presents an id of their own (not merely for
    /// `station_retry_after`, which may be shorter than the link's back-off).
    conflicted: Vec<bool>,
    reserved: Vec<bool>,
    /// Each station's live record (control link, reports, health, today's counts).
    live: Vec<live::Live>,
    /// By station: a control-link task runs for it (so a reload starts at most one).
    linked: Vec<bool>,
    /// Reservations an admin's release ended, until their relays have closed.
    released: std::collections::HashSet<Uuid>,
    users: HashMap<Vec<u8>, User>,
}

/// The master's shared bookkeeping; see the module docs.
pub struct Registry {
    /// The configuration the master started with: budgets, timeouts, farm settings. The
    /// stations come from the roster, which a reload replaces.
    config: Arc<Config>,
    /// The stations and their types ([`Roster`]); replaced whole, under the state lock, by
    /// [`Registry::reconfigure`]. Readers clone the `Arc` and never hold this lock.
    roster: RwLock<Arc<Roster>>,
    /// The master's policy digest, which every station's is compared with.
    policy_digest: Mutex<burnstand_wire::burner::Sha256>,
    /// Bumped by every reconfiguration: control links look whether theirs changed.
    generation: tokio::sync::watch::Sender<u64>,
    /// Parent of every user's token: cancelled when the drain deadline passes.
    stop: CancellationToken,
    state: Mutex<State>,
    /// When (Unix ms) the master last learnt of a change a viewer could see: a station's
    /// report or link, a reservation, the queue. The status page's event streams wait on it.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Registry {
    /// A registry for `config`; `stop` ends every connection when cancelled.
    pub fn new(config: Arc<Config>, stop: CancellationToken) -> Registry {
        let roster = Roster::new(&config);
        let n = config.stations.len();
        let state = State {
            down_until: vec![None; n],
            station_ids: HashMap::new(),
            conflicted: vec![false; n],
            reserved: vec![false; n],
            live: (0..n).map(|_| live::Live::default()).collect(),
            linked: vec![false; n],
            released: std::collections::HashSet::new(),
            users: HashMap::new(),
        };
        Registry {
            policy_digest: Mutex::new(config.policy.digest()),
            config,
            roster: RwLock::new(Arc::new(roster)),
            generation: tokio::sync::watch::channel(0).0,
            stop,
            state: Mutex::new(state),
            changes: tokio::sync::watch::Sender::new(unix_ms()),
        }
    }

    /// Something a status-page viewer could see changed: wakes the event streams.
    pub fn changed(&self) {
        self.changes.send_replace(unix_ms());
    }

    /// When (Unix ms) the master last learnt of a change.
    pub fn last_change(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Waits for [`Registry::changed`]; the value is when the master learnt of the change.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Never panics while holding the lock, so a poisoned lock still holds consistent state.
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The station types offered now (a reload may change them).
    pub fn types(&self) -> Vec<TypeEntry> {
        self.roster().types.clone()
    }

    /// A station's configuration (also of a station a reload removed).
    pub fn station(&self, index: usize) -> Option<StationConfig> {
        self.roster().stations.get(index).cloned()
    }

    /// The stations as the last reload left them.
    pub fn roster(&self) -> Arc<Roster> {
        Arc::clone(&self.roster.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// LIST: the types with at least one healthy station `principal` may reserve. Types
    /// whose stations are all reserved are listed (BIND then answers ERRUNAVAL); types the
    /// principal may not use are not, so LIST reveals nothing about them.
    pub fn list(&self, principal: &Principal) -> Vec<StationType> {
        let now = Instant::now();
        let state = self.state();
        self.roster()
            .types
            .iter()
            .filter(|t| {
                t.stations
                    .iter()
                    .any(|&s| self.permits(s, principal) && self.healthy(&state, s, now))
            })
            .map(|t| t.record.clone())
            .collect()
    }

    fn permits(&self, station: usize, principal: &Principal) -> bool {
        self.roster()
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
                display: principal.as_str().to_owned(),
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
        let request = Reserve {
            type_id,
            station: String::new(),
            drives: 1,
            flags: 0,
        };
        self.reserve(reg, principal, &request)
    }

    /// RESERVE: reserves up to `request.drives` free, healthy stations of the type (at least
    /// one), or the one named, for the connection `reg`.
    pub fn reserve(
        &self,
        reg: &Registration,
        principal: &Principal,
        request: &Reserve,
    ) -> Result<Bound, BindRefusal> {
        let now = Instant::now();
        let mut state = self.state();
        Self::may_reserve_more(&state, reg)?;
        let free = self.free_for(&state, principal, request, now)?;
        Ok(self.reserve_locked(
            &mut state,
            &reg.key,
            reg.conn_id,
            free,
            request.holds(),
            None,
            now,
        ))
    }

    /// Whether `request` would get a station if one were free: every refusal but
    /// [`BindRefusal::NoneFree`].
    pub fn check_reservable(
        &self,
        reg: &Registration,
        principal: &Principal,
        request: &Reserve,
    ) -> Result<(), BindRefusal> {
        let state = self.state();
        Self::may_reserve_more(&state, reg)?;
        match self.free_for(&state, principal, request, Instant::now()) {
            Ok(_) | Err(BindRefusal::NoneFree) => Ok(()),
            Err(refusal) => Err(refusal),
        }
    }

    /// Whether the queue entry `entry` of `principal` could be handed a station now.
    pub fn could_get(&self, principal: &Principal, entry: &crate::queue::Waiting) -> bool {
        let request = entry.request();
        let state = self.state();
        let holds = state
            .users
            .get(&entry.key)
            .is_some_and(|u| u.reservation.is_some());
        !holds
            && self
                .free_for(&state, principal, &request, Instant::now())
                .is_ok()
    }

    /// Which stations may be handed out now, and who holds a reservation: one consistent
    /// picture for a whole pass over the queue. Judging each waiting entry against the live
    /// registry instead let a station freed in the middle of a pass go to an entry far back
    /// (found by burnstand-bench (e)); a station freed after the picture waits for the next
    /// pass, which the freeing teardown starts.
    pub fn free_view(&self) -> FreeView {
        let now = Instant::now();
        let state = self.state();
        FreeView {
            free: (0..state.reserved.len())
                .map(|s| !state.reserved[s] && self.healthy(&state, s, now))
                .collect(),
            holders: state
                .users
                .iter()
                .filter(|(_, u)| u.reservation.is_some())
                .map(|(key, _)| key.clone())
                .collect(),
        }
    }

    /// Whether the queue entry `entry` of `principal` could be handed a station in `view`.
    pub fn could_get_in(
        &self,
        view: &FreeView,
        principal: &Principal,
        entry: &crate::queue::Waiting,
    ) -> bool {
        if view.holders.contains(&entry.key) {
            return false;
        }
        let roster = self.roster();
        roster
            .types
            .iter()
            .find(|t| t.record.id == entry.type_id)
            .is_some_and(|t| {
                t.stations.iter().any(|&s| {
                    view.free.get(s).copied().unwrap_or(false)
                        && self.permits(s, principal)
                        && (entry.station.is_empty()
                            || roster
                                .stations
                                .get(s)
                                .is_some_and(|c| c.name == entry.station))
                })
            })
    }

    /// Reserves for a waiting connection `conn_id` of user `key` (the queue's hand-over);
    /// `claim_by`: a module must be opened by then, or the reservation ends.
    pub fn reserve_handed(
        &self,
        key: &[u8],
        conn_id: u64,
        principal: &Principal,
        request: &Reserve,
        (hold, claim_by): (bool, Option<Instant>),
        cancel: &CancellationToken,
    ) -> Result<Bound, BindRefusal> {
        let now = Instant::now();
        let mut state = self.state();
        // The waiting connection's own token, checked under the lock a teardown takes too:
        // a connection being torn down is never handed anything.
        if cancel.is_cancelled() {
            return Err(BindRefusal::TornDown);
        }
        match state.users.get(key) {
            Some(user) if user.cancel.is_cancelled() => return Err(BindRefusal::TornDown),
            Some(user) if user.reservation.is_some() => return Err(BindRefusal::AlreadyReserved),
            Some(_) => {}
            None => return Err(BindRefusal::TornDown),
        }
        let free = self.free_for(&state, principal, request, now)?;
        Ok(self.reserve_locked(&mut state, key, conn_id, free, hold, claim_by, now))
    }

    /// Holds free stations for the away queue entry `entry` of `principal` (the head of the
    /// queue whose client is not connected right now): they are kept from everyone else until
    /// it comes back ([`Registry::reserve_claimed`]) or its claim runs out
    /// ([`Registry::release_claim`]).
    pub fn hold_for_claim(
        &self,
        principal: &Principal,
        entry: &crate::queue::Waiting,
    ) -> Option<Vec<usize>> {
        let request = entry.request();
        let mut state = self.state();
        let free = self
            .free_for(&state, principal, &request, Instant::now())
            .ok()?;
        for &s in &free {
            if let Some(slot) = state.reserved.get_mut(s) {
                *slot = true;
            }
        }
        Some(free)
    }

    /// Gives back stations held for a claim that ran out.
    pub fn release_claim(&self, stations: &[usize]) {
        let mut state = self.state();
        for &s in stations {
            if let Some(slot) = state.reserved.get_mut(s) {
                *slot = false;
            }
        }
    }

    /// Turns stations held for user `key`'s claim into their reservation on connection
    /// `conn_id`. `None` if the user is not registered (the stations stay held).
    pub fn reserve_claimed(
        &self,
        key: &[u8],
        conn_id: u64,
        stations: Vec<usize>,
        hold: bool,
        claim_by: Option<Instant>,
    ) -> Option<Bound> {
        let mut state = self.state();
        let user = state.users.get(key)?;
        if user.reservation.is_some() || user.cancel.is_cancelled() {
            return None;
        }
        // Held stations that fell ill meanwhile are not handed out.
        let now = Instant::now();
        if !stations.iter().all(|&s| self.healthy(&state, s, now)) {
            return None;
        }
        Some(self.reserve_locked(
            &mut state,
            key,
            conn_id,
            stations,
            hold,
            claim_by,
            Instant::now(),
        ))
    }

    /// The id of the type `station` belongs to (0 if none).
    pub fn type_of(&self, station: usize) -> u32 {
        self.roster().type_id(station)
    }

    /// Refuses a reservation for a connection being torn down, or a user who holds one.
    /// Checked under the lock that teardown takes too: a BIND racing a QUIT either sees the
    /// cancellation or its reservation is seen (and ended) by the teardown.
    fn may_reserve_more(state: &State, reg: &Registration) -> Result<(), BindRefusal> {
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
        Ok(())
    }

    /// The free stations `request` could get now (at most `drives`, at least one), or why none.
    fn free_for(
        &self,
        state: &State,
        principal: &Principal,
        request: &Reserve,
        now: Instant,
    ) -> Result<Vec<usize>, BindRefusal> {
        let roster = self.roster();
        let entry = roster
            .types
            .iter()
            .find(|t| t.record.id == request.type_id)
            .ok_or(BindRefusal::UnknownType)?;
        let permitted: Vec<usize> = entry
            .stations
            .iter()
            .copied()
            .filter(|&s| self.permits(s, principal))
            .filter(|&s| {
                request.station.is_empty()
                    || roster
                        .stations
                        .get(s)
                        .is_some_and(|c| c.name == request.station)
            })
            .collect();
        if permitted.is_empty() {
            return Err(if request.station.is_empty() {
                BindRefusal::NotPermitted
            } else {
                BindRefusal::UnknownStation
            });
        }
        let healthy: Vec<usize> = permitted
            .into_iter()
            .filter(|&s| self.healthy(state, s, now))
            .collect();
        if healthy.is_empty() {
            return Err(BindRefusal::NoHealthyStation);
        }
        let free: Vec<usize> = healthy
            .into_iter()
            .filter(|&s| !state.reserved[s])
            .take(request.drives.max(1) as usize)
            .collect();
        if free.is_empty() {
            return Err(BindRefusal::NoneFree);
        }
        Ok(free)
    }

    #[allow(clippy::too_many_arguments)]
    fn reserve_locked(
        &self,
        state: &mut State,
        key: &[u8],
        conn_id: u64,
        stations: Vec<usize>,
        hold: bool,
        claim_by: Option<Instant>,
        now: Instant,
    ) -> Bound {
        let session_id = Uuid::new_v4();
        self.changed();
        for &s in &stations {
            if let Some(slot) = state.reserved.get_mut(s) {
                *slot = true;
            }
        }
        let station_name = self.names(&stations);
        if let Some(user) = state.users.get_mut(key) {
            user.reservation = Some(Reservation {
                session_id,
                stations: stations.iter().map(|&s| (s, 0)).collect(),
                container_conn: conn_id,
                last_activity: now,
                hold,
                claim_by,
                since: now,
                released_by_admin: false,
            });
        }
        Bound {
            session_id,
            stations,
            station_name,
            hold,
        }
    }

    /// The stations' names, comma-separated.
    fn names(&self, stations: &[usize]) -> String {
        let roster = self.roster();
        stations
            .iter()
            .filter_map(|&s| roster.stations.get(s).map(|c| c.name.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
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
        // Of the reserved stations offering the service, the one with the fewest modules open:
        // a job's module connections each get a drive of their own.
        let roster = self.roster();
        let slot = reservation
            .stations
            .iter_mut()
            .filter(|(s, _)| {
                roster
                    .stations
                    .get(*s)
                    .is_some_and(|c| c.services.iter().any(|sv| sv.id() == service_id))
            })
            .min_by_key(|(_, open)| *open)
            .ok_or(ServRefusal::NotOffered)?;
        slot.1 += 1;
        let station = slot.0;
        reservation.last_activity = Instant::now();
        reservation.claim_by = None;
        Ok(ModuleLease {
            registry: Arc::clone(self),
            key: principal.exported().to_vec(),
            session_id: reservation.session_id,
            station,
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
        if let Some(claim_by) = r.claim_by {
            return claim_by
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero());
        }
        if r.modules_open() > 0 || r.hold {
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
        r.is_some_and(|r| r.holds_station(station) && r.session_id.to_string() == session_id)
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
                .roster()
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

    pub(crate) fn teardown_locked(&self, state: &mut State, key: &[u8]) -> Teardown {
        self.changed();
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
            user: user.display.clone(),
            ..Teardown::default()
        };
        if let Some(r) = released {
            let stations: Vec<usize> = r.stations.iter().map(|(s, _)| *s).collect();
            for &s in &stations {
                if let Some(slot) = state.reserved.get_mut(s) {
                    *slot = false;
                }
                if let Some(live) = state.live.get_mut(s) {
                    live.release_pending = false;
                }
            }
            teardown.station = Some(self.names(&stations));
            teardown.session_id = Some(r.session_id.to_string());
            teardown.freed = stations;
            teardown.held = Some(r.since.elapsed());
            teardown.released_by_admin = r.released_by_admin;
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

impl Registry {
    /// Whether `station` may get a new reservation now (reserved or not): its control link is
    /// not down, it is not quarantined or drained, its id does not conflict, and no failed
    /// SERV keeps it out.
    fn healthy(&self, state: &State, station: usize, now: Instant) -> bool {
        let up = state
            .down_until
            .get(station)
            .is_some_and(|down| match down {
                None => true,
                Some(until) => now >= *until,
            });
        let conflicted = state.conflicted.get(station).copied().unwrap_or(true);
        // A station a reload removed gets no new reservation (a held claim is not handed).
        let configured = self.roster().is_active(station);
        let live = state.live.get(station).is_some_and(|live| {
            live.condition(&self.config.farm, now, false).0 == burnstand_wire::farm::Condition::Free
        });
        up && !conflicted && live && configured
    }
}

/// See [`Registry::free_view`].
#[derive(Debug, Clone)]
pub struct FreeView {
    /// By station: free and healthy.
    free: Vec<bool>,
    /// Users holding a reservation (exported names).
    holders: std::collections::HashSet<Vec<u8>>,
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
                if let Some(slot) = r.stations.iter_mut().find(|(s, _)| *s == self.station) {
                    slot.1 = slot.1.saturating_sub(1);
                }
                r.last_activity = Instant::now();
            }
        }
    }
}

/// Milliseconds since the Unix epoch, now (0 before 1970).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
        assert_eq!(registry.bind(&a, &alice, 1).map(|b| b.stations[0]), Ok(0));
        assert_eq!(
            registry.bind(&b, &bob, 1).map(|b| b.stations[0]),
            Err(BindRefusal::NoneFree)
        );
        // Its link ending changes nothing; a link presenting an id of its own does.
        registry.release_station_id(1);
        assert_eq!(
            registry.bind(&b, &bob, 1).map(|b| b.stations[0]),
            Err(BindRefusal::NoneFree)
        );
        assert_eq!(registry.claim_station_id(1, "its-own"), Ok(()));
        assert_eq!(registry.bind(&b, &bob, 1).map(|b| b.stations[0]), Ok(1));
    }

    /// An admin's RELEASE of one station of a job's reservation never cuts a copy running on
    /// another: every station of it is asked to finish, and it ends when all have answered.
    #[test]
    fn releasing_one_drive_of_a_job_waits_for_every_station() {
        let config = Arc::new(Config::from_toml(&example()).expect("valid"));
        let registry = Arc::new(Registry::new(config, CancellationToken::new()));
        let alice = Principal::parse("alice@LAB.EXAMPLE.EDU").expect("principal");
        let reg = registry.register(&alice, 1).expect("registered");
        let job = Reserve {
            type_id: 1,
            station: String::new(),
            drives: 2,
            flags: 0,
        };
        let bound = registry.reserve(&reg, &alice, &job).expect("reserved");
        assert_eq!(bound.stations, [0, 1]);
        let session = bound.session_id.to_string();
        for s in [0, 1] {
            registry.link_up(s, 3);
        }
        match registry.release(0) {
            Release::AfterCopy { stations, .. } => assert_eq!(stations, [0, 1]),
            other => panic!("{other:?}"),
        }
        assert!(registry.finished(0, "another session").is_none());
        assert!(
            registry.finished(0, &session).is_none(),
            "dvd-2 has not answered"
        );
        let (_, teardown) = registry.finished(1, &session).expect("released");
        assert_eq!(teardown.freed, [0, 1]);
    }

    /// A hand-over pass judges every waiting entry against one picture of the free stations:
    /// a station freed after the picture was taken is nobody's in that pass.
    #[test]
    fn a_free_view_does_not_change_under_a_pass() {
        let config = Arc::new(Config::from_toml(&example()).expect("valid"));
        let registry = Arc::new(Registry::new(config, CancellationToken::new()));
        let user =
            |name: &str| Principal::parse(&format!("{name}@LAB.EXAMPLE.EDU")).expect("principal");
        let (alice, bob) = (user("alice"), user("bob"));
        let a = registry.register(&alice, 1).expect("alice registered");
        let both = Reserve {
            type_id: 1,
            station: String::new(),
            drives: 2,
            flags: 0,
        };
        registry.reserve(&a, &alice, &both).expect("alice's job");
        let waiting = crate::queue::Waiting {
            key: bob.exported().to_vec(),
            user: bob.as_str().to_owned(),
            type_id: 1,
            drives: 1,
            station: String::new(),
            class: String::new(),
            priority: 0,
            joined: std::time::SystemTime::now(),
            seq: 1,
        };
        let before = registry.free_view();
        assert!(!registry.could_get_in(&before, &bob, &waiting));
        registry.end_user(a.key());
        assert!(
            !registry.could_get_in(&before, &bob, &waiting),
            "the picture stays"
        );
        assert!(registry.could_get_in(&registry.free_view(), &bob, &waiting));
    }
}
