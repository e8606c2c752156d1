//! The burner-farm commands on a connection (`docs/protocol.md` §5.10): LISTX, RESERVE with
//! its wait in the queue, and the admin commands. Part of [`super`]'s connection; split off
//! so each file reads in one sitting.

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::farm::{ListX, Reserve, ReserveReply, ReservedStation, LISTX_VERSION};
use burnstand_wire::io::Session;
use burnstand_wire::nucleus::RequestDelay;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::{record, Connection, End, Mode};
use crate::audit;
use crate::flood;
use crate::metrics::BindResult;
use crate::registry::{BindRefusal, Bound};
use crate::waiting::{self, JoinRefusal, Outcome};

/// Why a RESERVE got no station at once.
enum Refused {
    /// It asked to wait, and waiting may help.
    Wait,
    /// Refused, with the audit reason and, for a client that said HELLO, how long to wait
    /// before asking again (none: asking again will not help).
    Now(&'static str, Option<RequestDelay>),
}

/// How a reservation request is answered: BIND's one word, or RESERVE's reply.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    Bind,
    Reserve,
}

impl Connection {
    /// LISTX: the types with their counts, in the highest version both sides know.
    pub(super) async fn list_x(
        &self,
        session: &mut Session<TcpStream>,
        version: u32,
    ) -> Option<End> {
        let shared = &self.shared;
        // Taken before the registry's lock: the lobby's lock always comes first.
        let queued = waiting::queued_per_type(shared);
        let types = shared
            .registry
            .counts(&self.principal, |t| queued.get(&t).copied().unwrap_or(0));
        if self.mode.bound().is_none()
            && !record(
                shared,
                audit::list(self.conn_id, &self.principal, types.len()),
            )
            .await
        {
            // Only command mode's LISTX is recorded: a held reservation's keep-alive would
            // otherwise write a record every few minutes for hours.
            return Some(End::AuditFailed);
        }
        let reply = ListX {
            version: version.min(LISTX_VERSION),
            types,
        };
        session
            .send(&reply)
            .await
            .err()
            .map(|e| End::Lost(e.to_string()))
    }

    /// RESERVE (and BIND, as a RESERVE of one station that does not wait).
    pub(super) async fn reserve(
        &mut self,
        session: &mut Session<TcpStream>,
        request: &Reserve,
        asked: Asked,
    ) -> Option<End> {
        if let Some(refusal) = self.policy_refusal(request.type_id) {
            let reason = refusal.to_string();
            info!(station_type = request.type_id, reason = %reason, "reservation refused by policy");
            self.shared.metrics.bind(BindResult::Denied);
            let event = audit::bind_deny(self.conn_id, &self.principal, request.type_id, &reason);
            if !self.record_within(flood::Kind::BindDeny, event).await {
                return Some(End::AuditFailed);
            }
            return self.answer(session, asked, Reply::ErrDenied(reason)).await;
        }
        let delays = &self.shared.config.nucleus;
        let result = if self.shared.draining.is_cancelled() {
            Err(Refused::Now(
                "master is shutting down",
                Some(delays.drain_request_delay),
            ))
        } else {
            waiting::try_reserve(&self.shared, &self.registration, &self.principal, request)
                .map_err(|refusal| match refusal {
                    // A station of the type may free up or come back: wait for it.
                    BindRefusal::NoneFree | BindRefusal::NoHealthyStation if request.waits() => {
                        Refused::Wait
                    }
                    // Asking again later may find one free (or healthy again).
                    other @ (BindRefusal::NoneFree | BindRefusal::NoHealthyStation) => {
                        Refused::Now(other.reason(), Some(delays.busy_request_delay))
                    }
                    other => Refused::Now(other.reason(), None),
                })
        };
        match result {
            Ok(bound) => self.reserved(session, bound, request.type_id, asked).await,
            Err(Refused::Wait) => self.wait(session, request).await,
            Err(Refused::Now(reason, delay)) => {
                self.shared.metrics.bind(BindResult::Refused);
                info!(
                    station_type = request.type_id,
                    reason, "reservation refused"
                );
                let event =
                    audit::bind_deny(self.conn_id, &self.principal, request.type_id, reason);
                if !self.record_within(flood::Kind::BindDeny, event).await {
                    return Some(End::AuditFailed);
                }
                if let Some(end) = self.request_delay(session, delay).await {
                    return Some(end);
                }
                self.answer(session, asked, Reply::ErrUnaval).await
            }
        }
    }

    async fn answer(
        &self,
        session: &mut Session<TcpStream>,
        asked: Asked,
        reply: Reply,
    ) -> Option<End> {
        let sent = match asked {
            Asked::Bind => session.send(&reply).await,
            Asked::Reserve => session.send(&ReserveReply::Refused(reply)).await,
        };
        sent.err().map(|e| End::Lost(e.to_string()))
    }

    /// A reservation was made for this connection: it becomes the container connection.
    async fn reserved(
        &mut self,
        session: &mut Session<TcpStream>,
        bound: Bound,
        type_id: u32,
        asked: Asked,
    ) -> Option<End> {
        let session_id = bound.session_id.to_string();
        // From here on this is the container connection: if anything below fails, `finish`
        // ends the reservation like any other loss of the container.
        self.mode = Mode::Bound(bound.clone());
        let event = audit::bind(
            self.conn_id,
            &self.principal,
            type_id,
            &bound.station_name,
            &session_id,
        );
        if !record(&self.shared, event).await {
            return Some(End::AuditFailed);
        }
        info!(station = %bound.station_name, session = %session_id, hold = bound.hold, "station reserved");
        self.shared.metrics.bind(BindResult::Reserved);
        let sent = match asked {
            Asked::Bind => session.send(&Reply::Ok).await,
            Asked::Reserve => {
                let stations = bound
                    .stations
                    .iter()
                    .filter_map(|&s| self.shared.registry.station(s))
                    .map(|c| ReservedStation {
                        name: c.name.clone(),
                        location: c.location.clone(),
                    })
                    .collect();
                session
                    .send(&ReserveReply::Reserved {
                        session_id,
                        stations,
                    })
                    .await
            }
        };
        sent.err().map(|e| End::Lost(e.to_string()))
    }

    /// Waits in the queue until a station is handed over, the client leaves, or the
    /// connection ends. The client's place is pushed as it changes.
    async fn wait(&mut self, session: &mut Session<TcpStream>, request: &Reserve) -> Option<End> {
        let cancel = self.registration.cancelled().clone();
        let joined = waiting::join(&self.shared, self.conn_id, &self.principal, request, cancel);
        let ticket = match joined {
            Ok(ticket) => ticket,
            Err(refusal) => {
                let busy = Some(self.shared.config.nucleus.busy_request_delay);
                let (reason, delay) = match refusal {
                    JoinRefusal::AlreadyWaiting => {
                        ("you are already waiting for a station in another session", None)
                    }
                    JoinRefusal::Full => ("the queue is full; try again later", busy),
                    JoinRefusal::Unavailable => (
                        "the queue cannot record your place right now; try again, or tell the lab staff",
                        busy,
                    ),
                };
                info!(reason, "queue join refused");
                self.shared.metrics.bind(BindResult::Refused);
                let event =
                    audit::bind_deny(self.conn_id, &self.principal, request.type_id, reason);
                if !self.record_within(flood::Kind::BindDeny, event).await {
                    return Some(End::AuditFailed);
                }
                if let Some(end) = self.request_delay(session, delay).await {
                    return Some(end);
                }
                return self
                    .answer(session, Asked::Reserve, Reply::ErrDenied(reason.to_owned()))
                    .await;
            }
        };
        let event = audit::queue(self.conn_id, &self.principal, "queue.join", request.type_id);
        if !record(&self.shared, event).await {
            let handed = ticket.leave();
            self.end_handed(handed, "audit log failed").await;
            return Some(End::AuditFailed);
        }
        info!(rejoined = ticket.rejoined, "waiting in the queue");
        self.shared.metrics.bind(BindResult::Queued);
        let joined_at = std::time::Instant::now();
        let mut ticket = ticket;
        let mut standing = ticket.standing.clone();
        standing.mark_changed();
        loop {
            tokio::select! {
                biased;
                // The master is stopping: the entry stays (away) for the client to rejoin
                // after the restart; no need to hold the connection through the drain.
                () = self.shared.draining.cancelled() => {
                    let handed = ticket.step_away();
                    self.end_handed(handed, "master shutting down").await;
                    // A client that said HELLO comes back after the restart, not before.
                    let delay = Some(self.shared.config.nucleus.drain_request_delay);
                    let _ = self.request_delay(session, delay).await;
                    return Some(End::Cancelled);
                }
                () = self.registration.cancelled().cancelled() => {
                    let handed = ticket.leave();
                    self.end_handed(handed, "the user's connections were closed").await;
                    return Some(End::Cancelled);
                }
                // A renewed ticket on a new connection takes the place back.
                () = tokio::time::sleep_until(self.expires_at.into()) => {
                    let handed = ticket.step_away();
                    self.end_handed(handed, "Kerberos ticket ended").await;
                    return Some(End::Expired);
                }
                outcome = &mut ticket.outcome => {
                    return match outcome {
                        Ok(Outcome::Handed(bound)) => {
                            drop(ticket);
                            self.shared.metrics.queue_wait(joined_at.elapsed());
                            self.reserved(session, bound, request.type_id, Asked::Reserve).await
                        }
                        Ok(Outcome::Cleared) => {
                            drop(ticket);
                            let reason = Reply::ErrDenied("the lab staff cleared the queue".into());
                            self.answer(session, Asked::Reserve, reason).await
                        }
                        Err(_) => Some(End::Lost("queue entry lost".into())),
                    };
                }
                changed = standing.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    let now = *standing.borrow_and_update();
                    if now.position == 0 {
                        continue;
                    }
                    let update = ReserveReply::Queued {
                        position: now.position,
                        eta_seconds: now.eta_seconds,
                        waiting: now.waiting,
                    };
                    if let Err(e) = session.send(&update).await {
                        // The entry stays (away) for the rejoin grace time.
                        let handed = ticket.step_away();
                        self.end_handed(handed, "container connection lost").await;
                        return Some(End::Lost(e.to_string()));
                    }
                }
                received = session.recv_bytes() => {
                    let message = match received {
                        Ok(message) => message,
                        Err(e) => {
                            debug!(reason = %e, "connection lost while waiting");
                            let handed = ticket.step_away();
                            self.end_handed(handed, "container connection lost").await;
                            return Some(End::Lost(e.to_string()));
                        }
                    };
                    match from_bytes::<Command>(&message) {
                        Ok(Command::Leave) => {
                            if let Some(bound) = ticket.leave() {
                                // A station was handed over as the LEAVE came: the client
                                // gets RESERVED (§5.10.3) and must QUIT it.
                                return self.reserved(session, bound, request.type_id, Asked::Reserve).await;
                            }
                            let event = audit::queue(self.conn_id, &self.principal, "queue.leave", request.type_id);
                            if !record(&self.shared, event).await {
                                return Some(End::AuditFailed);
                            }
                            info!("left the queue");
                            return session.send(&ReserveReply::Left).await.err().map(|e| End::Lost(e.to_string()));
                        }
                        Ok(Command::Quit) => {
                            // QUIT ends whatever the user holds, a reservation handed just
                            // now included.
                            let _ = ticket.leave();
                            return Some(self.quit(session).await);
                        }
                        Ok(command) => {
                            let reason = format!("{} while waiting: only LEAVE and QUIT are accepted", command.word());
                            if let Some(end) = self.invalid(session, &reason).await {
                                return Some(end);
                            }
                        }
                        Err(e) => {
                            if let Some(end) = self.invalid(session, &format!("not a command: {e}")).await {
                                return Some(end);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Ends a reservation handed to this connection that its wait did not take (it ended
    /// as the station was handed over): recorded, and the stations go back to the queue.
    async fn end_handed(&self, handed: Option<Bound>, reason: &str) {
        let Some(bound) = handed else { return };
        let Some(teardown) = self
            .shared
            .registry
            .end_session(self.registration.key(), bound.session_id)
        else {
            return;
        };
        info!(
            reason,
            "a station handed over as the wait ended goes back to the queue"
        );
        let event = audit::ended_by_master(&teardown, reason);
        if let Err(e) = self.shared.audit.append(event).await {
            warn!(error = %e, "cannot audit a teardown");
        }
        waiting::ended(&self.shared, &teardown).await;
    }

    /// An admin command: audited, then answered.
    pub(super) async fn admin(
        &mut self,
        session: &mut Session<TcpStream>,
        command: &Command,
    ) -> Option<End> {
        let Some(reply) = crate::farm::admin(
            &self.shared,
            self.conn_id,
            &self.principal,
            self.peer,
            command,
        )
        .await
        else {
            return Some(End::AuditFailed);
        };
        session
            .send(&reply)
            .await
            .err()
            .map(|e| End::Lost(e.to_string()))
    }
}
