//! The wait queue's life at the master (`docs/protocol.md` §5.10.3): who waits on which
//! connection, handing freed stations to the head of the queue, positions and ETAs pushed to
//! the waiting clients, and the queue's survival of a restart.
//!
//! The queue itself (order, priority classes, aging, its store) is [`crate::queue`]. Here it
//! sits in the [`Lobby`] with the *waiters*: the live connections waiting for their entry.
//! An entry without a waiter is *away* (its client lost the connection, or the master
//! restarted): it keeps its place for `queue.rejoin_grace`, and a RESERVE with WAIT from the
//! same principal takes it back. A freed station goes to the head of the queue even when it is
//! away: it is held for it as a **claim** for `queue.claim_timeout`; the client coming back
//! gets it at once, and a missed claim passes the station on (the entry is dropped). So a
//! restart keeps the order: whoever reconnects first cannot overtake the head.
//!
//! Lock order: the lobby, then the registry. A direct RESERVE or BIND takes the lobby first
//! too, and does not take a station while anyone connected waits for its type: a freed
//! station always goes to the head of the queue.

use std::collections::HashMap;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use burnstand_wire::farm::{QueueEntry, Reserve};
use burnstand_wire::gss::Principal;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::queue::{class_of, eta, eta_seconds, Means, Queue, Waiting};
use crate::registry::{BindRefusal, Bound, Registration, Teardown};
use crate::server::Shared;

/// Where a waiting client stands, pushed whenever it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    pub position: u32,
    pub waiting: u32,
    pub eta_seconds: u32,
}

/// How a wait ends, other than by the client.
#[derive(Debug)]
pub enum Outcome {
    /// A station (or several) was reserved for the waiting connection.
    Handed(Bound),
    /// An admin cleared the queue.
    Cleared,
}

/// Stations held for an away head of the queue until it comes back.
struct Claim {
    stations: Vec<usize>,
    until: Instant,
}

struct Waiter {
    conn_id: u64,
    principal: Principal,
    /// The waiting connection's own token: cancelled by a teardown of the user (a QUIT on
    /// another connection), after which nothing may be handed to it.
    cancel: CancellationToken,
    hold: bool,
    standing: watch::Sender<Standing>,
    outcome: Option<oneshot::Sender<Outcome>>,
}

/// The queue and its waiters, behind one lock.
pub struct Lobby {
    queue: Queue,
    waiters: HashMap<Vec<u8>, Waiter>,
    /// Entries without a waiter, since when.
    away: HashMap<Vec<u8>, Instant>,
    /// Stations held for away entries.
    claims: HashMap<Vec<u8>, Claim>,
    means: Means,
}

impl Lobby {
    /// The lobby over `queue` (loaded from its store): every loaded entry is away until its
    /// client comes back.
    pub fn new(queue: Queue, default_eta: Duration) -> Lobby {
        let now = Instant::now();
        let away = queue
            .entries()
            .iter()
            .map(|w| (w.key.clone(), now))
            .collect();
        Lobby {
            queue,
            waiters: HashMap::new(),
            away,
            claims: HashMap::new(),
            means: Means::new(default_eta),
        }
    }

    /// Whether a connected waiter of `type_id` could be handed a station now (one was just
    /// freed and the hand-over has not run yet): a direct reservation must not take it.
    fn someone_waiting_could_take(&self, shared: &Shared, type_id: u32) -> bool {
        self.queue.entries().iter().any(|w| {
            w.type_id == type_id
                && self
                    .waiters
                    .get(&w.key)
                    .is_some_and(|waiter| shared.registry.could_get(&waiter.principal, w))
        })
    }
}

fn lobby(shared: &Shared) -> MutexGuard<'_, Lobby> {
    shared.lobby.lock().unwrap_or_else(PoisonError::into_inner)
}

/// RESERVE or BIND without waiting: a free station, unless connected users wait for the type.
pub(crate) fn try_reserve(
    shared: &Shared,
    reg: &Registration,
    principal: &Principal,
    request: &Reserve,
) -> Result<Bound, BindRefusal> {
    let lobby = lobby(shared);
    if lobby.someone_waiting_could_take(shared, request.type_id) {
        // Checked first so that a user who may not use the type hears that, not "busy".
        shared.registry.check_reservable(reg, principal, request)?;
        return Err(BindRefusal::NoneFree);
    }
    shared.registry.reserve(reg, principal, request)
}

/// A connection's place in the queue; dropping it without [`Ticket::leave`] leaves the entry
/// away (it keeps its place for the rejoin grace time).
pub struct Ticket {
    shared: Arc<Shared>,
    key: Vec<u8>,
    conn_id: u64,
    pub standing: watch::Receiver<Standing>,
    pub outcome: oneshot::Receiver<Outcome>,
    /// Whether the principal had an entry already (after a restart or a lost connection).
    pub rejoined: bool,
}

/// Why a connection could not join the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// Another connection of the same principal is waiting.
    AlreadyWaiting,
    /// The queue holds [`crate::queue::MAX_WAITING`] entries.
    Full,
    /// Its store failed (logged; the user is not told the details).
    Unavailable,
}

/// Joins (or rejoins) the queue for `request` on connection `conn_id`.
pub(crate) fn join(
    shared: &Arc<Shared>,
    conn_id: u64,
    principal: &Principal,
    request: &Reserve,
    cancel: CancellationToken,
) -> Result<Ticket, JoinRefusal> {
    let key = principal.exported().to_vec();
    let mut lobby = lobby(shared);
    if lobby.waiters.contains_key(&key) {
        return Err(JoinRefusal::AlreadyWaiting);
    }
    let (class, priority) = class_of(&shared.config.queue, principal);
    let entry = Waiting {
        key: key.clone(),
        user: principal.as_str().to_owned(),
        type_id: request.type_id,
        drives: request.drives,
        station: request.station.clone(),
        class,
        priority,
        joined: SystemTime::now(),
        seq: 0,
    };
    let joined = lobby.queue.join(entry).map_err(|e| match e {
        crate::error::Error::QueueFull { .. } => JoinRefusal::Full,
        e => {
            warn!(error = %e, "cannot record a place in the queue");
            JoinRefusal::Unavailable
        }
    })?;
    let (standing_tx, standing) = watch::channel(Standing::default());
    let (outcome_tx, outcome) = oneshot::channel();
    lobby.away.remove(&key);
    let mut outcome_tx = Some(outcome_tx);
    if let Some(claim) = lobby.claims.remove(&key) {
        // The head of the queue is back for the same place: the stations held for it (if
        // they are still healthy) are its reservation. Anything else gives them back.
        let claim_by =
            (!request.holds()).then(|| Instant::now() + shared.config.queue.claim_timeout);
        let stations = claim.stations.clone();
        let same_place = matches!(joined, crate::queue::Joined::Rejoined { .. });
        let converted = if same_place {
            shared.registry.reserve_claimed(
                &key,
                conn_id,
                claim.stations,
                request.holds(),
                claim_by,
            )
        } else {
            None
        };
        match converted {
            Some(bound) => {
                if let Err(e) = lobby.queue.leave(&key) {
                    warn!(error = %e, "cannot remove a queue entry from the store");
                }
                info!(user = %principal.as_str(), stations = %bound.station_name, "the head of the queue came back for its stations");
                if let Some(tx) = outcome_tx.take() {
                    let _ = tx.send(Outcome::Handed(bound));
                }
            }
            None => shared.registry.release_claim(&stations),
        }
    }
    lobby.waiters.insert(
        key.clone(),
        Waiter {
            conn_id,
            principal: principal.clone(),
            cancel,
            hold: request.holds(),
            standing: standing_tx,
            outcome: outcome_tx,
        },
    );
    publish(shared, &mut lobby);
    Ok(Ticket {
        shared: Arc::clone(shared),
        key,
        conn_id,
        standing,
        outcome,
        rejoined: joined.rejoined(),
    })
}

impl Ticket {
    /// Leaves the queue (LEAVE, QUIT, the end of the user's connections). Returns the
    /// reservation handed to this connection just before, if the wait did not take it.
    pub fn leave(mut self) -> Option<Bound> {
        {
            let mut lobby = lobby(&self.shared);
            if lobby
                .waiters
                .get(&self.key)
                .is_some_and(|w| w.conn_id == self.conn_id)
            {
                lobby.waiters.remove(&self.key);
                if let Err(e) = lobby.queue.leave(&self.key) {
                    warn!(error = %e, "cannot remove a queue entry from the store");
                }
                publish(&self.shared, &mut lobby);
            }
        }
        self.unclaimed()
    }

    /// The connection goes, the place stays (away) for the rejoin grace time (dropping the
    /// ticket marks it). Returns the reservation handed to this connection just before, if
    /// the wait did not take it.
    pub fn step_away(mut self) -> Option<Bound> {
        self.unclaimed()
    }

    /// A hand-over that arrived and was not read. Hand-over and leaving both run under the
    /// lobby's lock, so after [`Ticket::leave`] nothing more can arrive.
    fn unclaimed(&mut self) -> Option<Bound> {
        match self.outcome.try_recv() {
            Ok(Outcome::Handed(bound)) => Some(bound),
            _ => None,
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut lobby = lobby(&self.shared);
        if lobby
            .waiters
            .get(&self.key)
            .is_some_and(|w| w.conn_id == self.conn_id)
        {
            lobby.waiters.remove(&self.key);
            if lobby.queue.position(&self.key, SystemTime::now()).is_some() {
                lobby.away.insert(self.key.clone(), Instant::now());
            }
        }
    }
}

/// Pushes every connected waiter's standing if it changed.
fn publish(shared: &Shared, lobby: &mut Lobby) {
    shared.registry.changed();
    let now = SystemTime::now();
    let Lobby {
        queue,
        waiters,
        means,
        ..
    } = lobby;
    for (key, waiter) in waiters.iter() {
        let Some(at) = queue.position(key, now) else {
            continue;
        };
        let type_id = queue.get(key).map_or(0, |w| w.type_id);
        let stations = shared.registry.healthy_of_type(type_id);
        let standing = Standing {
            position: at.position,
            waiting: at.waiting,
            eta_seconds: eta_seconds(eta(at.position, stations, means.mean(type_id))),
        };
        waiter.standing.send_if_modified(|old| {
            let changed = *old != standing;
            *old = standing;
            changed
        });
    }
}

/// A reservation ended: its length feeds the ETA, and its stations go to the queue.
pub(crate) async fn ended(shared: &Arc<Shared>, teardown: &Teardown) {
    if let (Some(held), Some(&first)) = (teardown.held, teardown.freed.first()) {
        let type_id = shared.registry.type_of(first);
        lobby(shared).means.record(type_id, held);
    }
    hand_over(shared).await;
}

/// Hands free stations to the heads of the queue, drops entries away too long, and pushes
/// the new standings.
pub(crate) async fn hand_over(shared: &Arc<Shared>) {
    let mut handed_but_gone = Vec::new();
    let mut dropped = Vec::new();
    {
        let mut lobby = lobby(shared);
        let lobby = &mut *lobby;
        let now_instant = Instant::now();
        // Claims that ran out pass their stations on; their entries go.
        let missed: Vec<Vec<u8>> = lobby
            .claims
            .iter()
            .filter(|(_, claim)| claim.until <= now_instant)
            .map(|(key, _)| key.clone())
            .collect();
        for key in missed {
            if let Some(claim) = lobby.claims.remove(&key) {
                shared.registry.release_claim(&claim.stations);
            }
            lobby.away.remove(&key);
            if let Ok(Some(entry)) = lobby.queue.leave(&key) {
                info!(user = %entry.user, "queue entry dropped: its client did not come back for its station");
                dropped.push((entry.user, "claim missed"));
            }
        }
        let grace = shared.config.queue.rejoin_grace;
        let expired: Vec<Vec<u8>> = lobby
            .away
            .iter()
            .filter(|(key, since)| since.elapsed() > grace && !lobby.claims.contains_key(*key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            lobby.away.remove(&key);
            if let Ok(Some(entry)) = lobby.queue.leave(&key) {
                info!(user = %entry.user, "queue entry dropped: its client did not come back");
                dropped.push((entry.user, "client did not come back"));
            }
        }
        let now = SystemTime::now();
        let claim_by = now_instant + shared.config.queue.claim_timeout;
        let types: Vec<u32> = shared
            .registry
            .types()
            .iter()
            .map(|t| t.record.id)
            .collect();
        for type_id in types {
            loop {
                let view = shared.registry.free_view();
                let next = lobby
                    .queue
                    .next_for(type_id, now, |w| {
                        if lobby.claims.contains_key(&w.key) {
                            return false;
                        }
                        let registry = &shared.registry;
                        match lobby.waiters.get(&w.key) {
                            Some(waiter) if waiter.cancel.is_cancelled() => false,
                            Some(waiter) => registry.could_get_in(&view, &waiter.principal, w),
                            None => Principal::parse(&w.user)
                                .is_ok_and(|p| registry.could_get_in(&view, &p, w)),
                        }
                    })
                    .cloned();
                let Some(entry) = next else { break };
                let Some(waiter) = lobby.waiters.remove(&entry.key) else {
                    // Away: hold the stations for it until it comes back.
                    let held = Principal::parse(&entry.user)
                        .ok()
                        .and_then(|p| shared.registry.hold_for_claim(&p, &entry));
                    let Some(stations) = held else { break };
                    info!(user = %entry.user, "station held for the head of the queue until it comes back");
                    lobby.claims.insert(
                        entry.key.clone(),
                        Claim {
                            stations,
                            until: claim_by,
                        },
                    );
                    continue;
                };
                let request = entry.request();
                let claim = (!waiter.hold).then_some(claim_by);
                let bound = shared.registry.reserve_handed(
                    &entry.key,
                    waiter.conn_id,
                    &waiter.principal,
                    &request,
                    (waiter.hold, claim),
                    &waiter.cancel,
                );
                let bound = match bound {
                    Ok(bound) => bound,
                    Err(_) => {
                        lobby.waiters.insert(entry.key.clone(), waiter);
                        break;
                    }
                };
                if let Err(e) = lobby.queue.leave(&entry.key) {
                    warn!(error = %e, "cannot remove a queue entry from the store");
                }
                info!(user = %entry.user, stations = %bound.station_name, "station handed to the head of the queue");
                if let Some(tx) = waiter.outcome {
                    if let Err(Outcome::Handed(bound)) = tx.send(Outcome::Handed(bound)) {
                        handed_but_gone.push((entry.key.clone(), bound));
                    }
                }
            }
        }
        publish(shared, lobby);
    }
    for (user, reason) in dropped {
        let event = burnstand_audit::Event::new("queue.drop")
            .field("principal", user.as_str())
            .field("reason", reason);
        if let Err(e) = shared.audit.append(event).await {
            warn!(error = %e, "cannot audit a dropped queue entry");
        }
    }
    for (key, bound) in handed_but_gone {
        // The waiting connection ended between the check and the hand-over: pass it on.
        if let Some(teardown) = shared.registry.end_session(&key, bound.session_id) {
            let event = crate::audit::ended_by_master(&teardown, "claim missed");
            if let Err(e) = shared.audit.append(event).await {
                warn!(error = %e, "cannot audit a missed claim");
            }
        }
    }
}

/// QREPORT: the queue in hand-over order per type.
pub(crate) fn report(shared: &Shared) -> Vec<QueueEntry> {
    let lobby = lobby(shared);
    let now = SystemTime::now();
    let mut rows = Vec::new();
    for t in shared.registry.types() {
        let stations = shared.registry.healthy_of_type(t.record.id);
        for (i, w) in lobby.queue.order(t.record.id, now).into_iter().enumerate() {
            let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
            rows.push(QueueEntry {
                position,
                user: w.user.clone(),
                type_id: w.type_id,
                class: w.class.clone(),
                drives: w.drives,
                waited_seconds: u32::try_from(
                    now.duration_since(w.joined).unwrap_or_default().as_secs(),
                )
                .unwrap_or(u32::MAX),
                eta_seconds: eta_seconds(eta(position, stations, lobby.means.mean(w.type_id))),
                connected: lobby.waiters.contains_key(&w.key),
            });
        }
    }
    rows
}

/// QCLEAR: empties the queue; every waiting client is told. Returns how many entries went,
/// `None` if the store failed (then nothing changed).
pub(crate) async fn clear(shared: &Arc<Shared>) -> Option<usize> {
    let mut lobby = lobby(shared);
    let cleared = match lobby.queue.clear() {
        Ok(cleared) => cleared,
        Err(e) => {
            warn!(error = %e, "cannot clear the queue's store");
            return None;
        }
    };
    lobby.away.clear();
    shared.registry.changed();
    let claims: Vec<Claim> = lobby.claims.drain().map(|(_, claim)| claim).collect();
    for claim in claims {
        shared.registry.release_claim(&claim.stations);
    }
    for (_, mut waiter) in lobby.waiters.drain() {
        if let Some(tx) = waiter.outcome.take() {
            let _ = tx.send(Outcome::Cleared);
        }
    }
    Some(cleared.len())
}

/// Entries waiting, per station type (LISTX). Call it without holding the registry's lock.
pub(crate) fn queued_per_type(shared: &Shared) -> HashMap<u32, u32> {
    let lobby = lobby(shared);
    let mut counts = HashMap::new();
    for entry in lobby.queue.entries() {
        *counts.entry(entry.type_id).or_insert(0) += 1;
    }
    counts
}
