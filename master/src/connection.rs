//! One client connection, from TCP accept to close: handshake, greeting, command mode, and for
//! a module connection the pass-through.
//!
//! The states are types: an [`Unauthenticated`] connection can only run the handshake; the
//! [`Session`] it yields is what command mode works on; a successful SERV hands the session to
//! the [`relay`](crate::relay) and never returns to command mode.
//!
//! What ends a connection, and what does not (`docs/protocol.md` §5):
//! * A well-protected message that is not a valid command (unknown word, bad argument,
//!   trailing bytes) is answered ERRINVCMD and command mode goes on.
//! * Anything that breaks the protected stream — bad base64, an oversized line, a block that
//!   fails GSSAPI unwrap (tampered, replayed, not encrypted), end of stream — is lost sync:
//!   the connection closes without a reply. Other connections never notice; each has its own
//!   task, buffers and context.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Instant;

use burnstand_audit::Event;
use burnstand_wire::command::{Command, Greeting, Reply};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::farm::Reserve;
use burnstand_wire::gss::Principal;
use burnstand_wire::io::{Session, Unauthenticated};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tracing::{debug, info, warn, Instrument};

use crate::audit;
use crate::flood;
use crate::metrics::HandshakeResult;
use crate::receipts;
use crate::registry::{Bound, Registration, Teardown};
use crate::server::Shared;

mod farm;
mod nucleus;
mod push;
mod serv;

/// Budget slots a connection holds; the unauthenticated one is returned after the handshake.
pub(crate) struct Permits {
    pub total: OwnedSemaphorePermit,
    /// Its place in the handshake budgets (global and the address's share), until the
    /// handshake is done.
    pub handshake: burnstand_daemon::HandshakeSlot,
}

/// Serves one accepted TCP connection to its end.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    conn_id: u64,
    permits: Permits,
) {
    let span = tracing::info_span!(
        "conn",
        conn_id,
        %peer,
        principal = tracing::field::Empty,
        client_version = tracing::field::Empty
    );
    async move {
        let Permits {
            total: _total,
            handshake: handshake_slot,
        } = permits;
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        // A second descriptor of the socket, held until a failed handshake is audited, so the
        // peer sees the close only after the record is durable. (Without a spare descriptor the
        // close merely comes before the record.)
        let hold = stream.as_fd().try_clone_to_owned();
        let handshake = Unauthenticated::new(stream).accept(
            shared.acceptor.clone(),
            shared.config.limits.handshake_timeout,
        );
        let session = tokio::select! {
            session = handshake => session,
            // Draining: no new sessions. Not audited: nothing was attempted yet.
            () = shared.draining.cancelled() => return,
        };
        drop(handshake_slot);
        let session = match session {
            Ok(session) => session,
            Err(e) => {
                let reason = e.to_string();
                info!(reason = %reason, "authentication failed");
                shared.metrics.handshake(HandshakeResult::Failed);
                let Some(suppressed) = shared.auth_failures.admit() else {
                    return;
                };
                if suppressed > 0 {
                    warn!(
                        suppressed,
                        "failed authentications were not audited one by one"
                    );
                    if let Err(e) = shared
                        .audit
                        .append(audit::auth_fail_suppressed(suppressed))
                        .await
                    {
                        warn!(error = %e, "cannot audit suppressed authentication failures");
                    }
                }
                if let Err(e) = shared
                    .audit
                    .append(audit::auth_fail(conn_id, peer, &reason))
                    .await
                {
                    warn!(error = %e, "cannot audit a failed authentication");
                }
                return;
            }
        };
        let principal = session.peer().clone();
        tracing::Span::current().record("principal", principal.as_str());
        info!(protection = %session.protection().path(), "session protected");
        // auth.ok must be durable before the greeting, so it cannot be left out: a login over
        // its budget gets no greeting at all (crate::flood).
        let admitted = if shared.guards.login(principal.as_str(), peer.ip()) {
            shared
                .registry
                .register(&principal, conn_id)
                .ok_or("too many connections for this principal")
        } else {
            Err(flood::TOO_MANY_LOGINS)
        };
        let registration = match admitted {
            Ok(registration) => registration,
            Err(reason) => {
                info!(reason, "connection refused");
                shared.metrics.handshake(HandshakeResult::Refused);
                let event = audit::connection_deny(conn_id, &principal, reason);
                let kind = flood::Kind::ConnectionDeny;
                if !flood::record_within(&shared, kind, principal.as_str(), peer.ip(), event).await
                {
                    warn!("cannot audit a refused connection");
                }
                return;
            }
        };
        drop(hold);
        // The greeting acknowledges the authentication: the record comes first.
        if !record(&shared, audit::auth_ok(conn_id, peer, &principal)).await {
            return;
        }
        info!("authenticated");
        shared.metrics.handshake(HandshakeResult::Ok);
        let _counted = shared.metrics.session();
        let expires_at = Instant::now() + session.protection().remaining();
        let mut conn = Connection {
            shared,
            conn_id,
            peer,
            principal,
            registration,
            expires_at,
            mode: Mode::Command,
            invalid: 0,
            nucleus: None,
        };
        let end = conn.run(session).await;
        conn.finish(&end).await;
    }
    .instrument(span)
    .await
}

/// Appends `event`; on failure logs it and returns false: the caller must not acknowledge.
async fn record(shared: &Shared, event: Event) -> bool {
    match shared.audit.append(event).await {
        Ok(_) => true,
        Err(e) => {
            warn!(error = %e, "audit log refused a record: closing the connection unacknowledged");
            false
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The peer closed, or the stream lost sync (framing, unwrap, I/O).
    Lost(String),
    /// QUIT was answered and the user's connections torn down.
    Quit,
    /// A teardown of this user (QUIT or container loss elsewhere), or the drain deadline.
    Cancelled,
    /// The user's Kerberos ticket ended.
    Expired,
    /// No command within the idle timeout, or a reservation idle too long.
    Idle,
    /// The audit log refused a record.
    AuditFailed,
    /// SERV was refused with ERRNOTAVL (the remote-laboratory design requires closing).
    NotAvailable,
    /// HELLO from a client older than `min_client_version`: refused with ERRVERSION.
    ClientTooOld,
    /// A pass-through ended.
    Relayed,
}

impl End {
    fn reason(&self) -> String {
        match self {
            End::Lost(reason) => format!("container connection lost: {reason}"),
            End::Quit => "quit".into(),
            // A reservation still held when its connection is cancelled was not ended by a
            // QUIT (which releases it first): the master is shutting down.
            End::Cancelled => "master shutting down".into(),
            End::Expired => "Kerberos ticket ended".into(),
            End::Idle => "reservation idle".into(),
            End::AuditFailed => "audit log failed".into(),
            End::ClientTooOld => "client too old".into(),
            End::NotAvailable | End::Relayed => "connection closed".into(),
        }
    }
}

struct Connection {
    shared: Arc<Shared>,
    conn_id: u64,
    peer: SocketAddr,
    principal: Principal,
    registration: Registration,
    expires_at: Instant,
    /// What the next command may be: any, or (after BIND) only QUIT.
    mode: Mode,
    /// ERRINVCMD answers so far; at [`MAX_INVALID_COMMANDS`] the connection is closed.
    invalid: u32,
    /// The nucleus version agreed by HELLO; `None` for a client that never said HELLO (one
    /// from before the nucleus), which gets no nucleus message (`docs/protocol.md` §4.5).
    nucleus: Option<u32>,
}

/// Where a connection stands in command mode (`docs/protocol.md` §4.3).
enum Mode {
    /// Before BIND: LIST, BIND, SERV and QUIT are accepted; the idle timeout is the
    /// connection's own.
    Command,
    /// A granted BIND made this the user's container connection: only QUIT is accepted, the
    /// reservation's idle timeout applies, and the connection's end ends the reservation.
    Bound(Bound),
}

impl Mode {
    /// The reservation of a container connection.
    fn bound(&self) -> Option<&Bound> {
        match self {
            Mode::Command => None,
            Mode::Bound(bound) => Some(bound),
        }
    }
}

/// Invalid commands one connection gets answered (and audited) before it is closed: a
/// confused client learns from the first; a flood of them is not worth a disk.
pub const MAX_INVALID_COMMANDS: u32 = 16;

/// The audited reason of a reservation an admin's RELEASE ended.
pub const RELEASED_BY_ADMIN: &str = "released by an admin";

/// The outcome of SERV.
enum Serv {
    /// Refused with ERRNOCONN: back to command mode.
    Refused(Box<Session<TcpStream>>),
    /// The connection is done (pass-through over, or refused with ERRNOTAVL).
    Ended(End),
}

impl Connection {
    async fn run(&mut self, session: Session<TcpStream>) -> End {
        let mut session = session;
        if let Err(e) = session.send(&Greeting::CURRENT).await {
            return End::Lost(e.to_string());
        }
        loop {
            let message = match self.next_message(&mut session).await {
                Ok(message) => message,
                Err(end) => return end,
            };
            if let Some(bound) = self.mode.bound() {
                self.shared
                    .registry
                    .touch(&self.principal, bound.session_id);
            }
            let flow = match (from_bytes::<Command>(&message), &self.mode) {
                (Err(e), _) => {
                    self.invalid(&mut session, &format!("not a command: {e}"))
                        .await
                }
                (Ok(Command::Quit), _) => return self.quit(&mut session).await,
                (Ok(Command::ListX(version)), _) => self.list_x(&mut session, version).await,
                (Ok(command), Mode::Bound(_)) => {
                    let reason = format!(
                        "{} after BIND: only QUIT and LISTX are accepted",
                        command.word()
                    );
                    self.invalid(&mut session, &reason).await
                }
                (Ok(Command::Hello(hello)), Mode::Command) => self.hello(&mut session, hello).await,
                (Ok(Command::List), Mode::Command) => self.list(&mut session).await,
                (Ok(Command::Bind(station_type)), Mode::Command) => {
                    let request = Reserve {
                        type_id: station_type.id,
                        station: String::new(),
                        drives: 1,
                        flags: 0,
                    };
                    self.reserve(&mut session, &request, farm::Asked::Bind)
                        .await
                }
                (Ok(Command::Reserve(request)), Mode::Command) => {
                    self.reserve(&mut session, &request, farm::Asked::Reserve)
                        .await
                }
                (Ok(Command::Push(request)), Mode::Command) => {
                    self.push(&mut session, &request).await
                }
                (Ok(command), Mode::Command) if command.is_admin() => {
                    self.admin(&mut session, &command).await
                }
                (Ok(Command::Serv(service)), Mode::Command) => {
                    match self.serv(session, &service).await {
                        Serv::Refused(back) => {
                            session = *back;
                            None
                        }
                        Serv::Ended(end) => return end,
                    }
                }
                (Ok(command), Mode::Command) => {
                    let reason = format!("{} outside a wait in the queue", command.word());
                    self.invalid(&mut session, &reason).await
                }
            };
            if let Some(end) = flow {
                return end;
            }
        }
    }

    /// Waits for the next message of command mode, or for what ends the connection.
    ///
    /// The receive future is created once and kept across the idle re-checks of a
    /// reservation. `Session::recv_bytes` is cancel-safe (no byte is lost or read twice when it
    /// is dropped), so this is not needed for correctness; it only saves re-creating the
    /// future on each re-check.
    async fn next_message(&self, session: &mut Session<TcpStream>) -> Result<Vec<u8>, End> {
        let recv = session.recv_bytes();
        tokio::pin!(recv);
        loop {
            let idle = self.idle_left()?;
            tokio::select! {
                biased;
                () = self.registration.cancelled().cancelled() => return Err(End::Cancelled),
                () = tokio::time::sleep_until(self.expires_at.into()) => return Err(End::Expired),
                received = &mut recv => {
                    return received.map_err(|e| {
                        debug!(reason = %e, "connection lost");
                        End::Lost(e.to_string())
                    });
                }
                () = tokio::time::sleep(idle) => {
                    if let Mode::Command = self.mode {
                        info!("idle timeout in command mode");
                        return Err(End::Idle);
                    }
                    // A reservation re-checks: a module may have been active meanwhile.
                }
            }
        }
    }

    /// How long this connection may stay silent from now on.
    fn idle_left(&self) -> Result<std::time::Duration, End> {
        let limits = &self.shared.config.limits;
        match &self.mode {
            Mode::Command => Ok(limits.idle_timeout),
            Mode::Bound(bound) => self
                .shared
                .registry
                .reservation_idle_left(
                    &self.principal,
                    bound.session_id,
                    limits.reservation_idle_timeout,
                )
                .ok_or(End::Idle),
        }
    }

    /// Sends a reply; `Some(end)` if the connection is gone.
    async fn reply(&self, session: &mut Session<TcpStream>, reply: Reply) -> Option<End> {
        session
            .send(&reply)
            .await
            .err()
            .map(|e| End::Lost(e.to_string()))
    }

    async fn invalid(&mut self, session: &mut Session<TcpStream>, reason: &str) -> Option<End> {
        info!(reason, "invalid command");
        self.invalid += 1;
        if self.invalid > MAX_INVALID_COMMANDS {
            return Some(End::Lost("too many invalid commands".into()));
        }
        let event = audit::command_invalid(self.conn_id, &self.principal, reason);
        if !self.record_within(flood::Kind::CommandInvalid, event).await {
            return Some(End::AuditFailed);
        }
        self.reply(session, Reply::ErrInvCmd).await
    }

    /// Appends a refusal's record within its budget (crate::flood); false if the log failed.
    async fn record_within(&self, kind: flood::Kind, event: Event) -> bool {
        let (principal, address) = (self.principal.as_str(), self.peer.ip());
        flood::record_within(&self.shared, kind, principal, address, event).await
    }

    async fn list(&self, session: &mut Session<TcpStream>) -> Option<End> {
        let types = self.shared.registry.list(&self.principal);
        if !record(
            &self.shared,
            audit::list(self.conn_id, &self.principal, types.len()),
        )
        .await
        {
            return Some(End::AuditFailed);
        }
        debug!(types = types.len(), "LIST");
        session
            .send(&types)
            .await
            .err()
            .map(|e| End::Lost(e.to_string()))
    }

    /// Why the policy refuses this user a station of type `type_id` (no entitlement that
    /// could lead to a burn there), if it does. Unknown types are the registry's business.
    fn policy_refusal(&self, type_id: u32) -> Option<burnstand_policy::Refusal> {
        let entry = self
            .shared
            .registry
            .types()
            .into_iter()
            .find(|t| t.record.id == type_id)?;
        let drive = self
            .shared
            .registry
            .station(*entry.stations.first()?)?
            .drive;
        let who = burnstand_policy::Subject {
            exported: self.principal.exported(),
            display: self.principal.as_str(),
        };
        let usage = &*self.shared.ledger;
        self.shared
            .policy
            .get()
            .may_bind(&who, &drive, receipts::now(), usage)
            .err()
    }

    async fn quit(&mut self, session: &mut Session<TcpStream>) -> End {
        if !record(&self.shared, audit::quit(self.conn_id, &self.principal)).await {
            return End::AuditFailed;
        }
        // Tear down *before* the OK: once the client has the OK it may connect again at once,
        // and that new connection must not be caught by this teardown (it was, rarely, when
        // the OK went first: docs/benchmarks.md, "the one failed session").
        let teardown = self.shared.registry.end_user(self.registration.key());
        self.mode = Mode::Command;
        // The OK may not arrive if the peer is gone; the teardown happened regardless.
        let _ = self.reply(session, Reply::Ok).await;
        info!(
            connections = teardown.connections,
            "QUIT: user's connections closed"
        );
        let event = audit::teardown(
            self.conn_id,
            &self.principal,
            teardown.station.as_deref(),
            teardown.session_id.as_deref(),
            teardown.connections,
            teardown_reason(&teardown, "quit"),
        );
        if let Err(e) = self.shared.audit.append(event).await {
            warn!(error = %e, "cannot audit a teardown");
        }
        crate::waiting::ended(&self.shared, &teardown).await;
        End::Quit
    }

    /// Runs when the connection ends: a container connection takes its reservation and every
    /// other connection of the user with it.
    async fn finish(&mut self, end: &End) {
        let Mode::Bound(bound) = std::mem::replace(&mut self.mode, Mode::Command) else {
            debug!(?end, "connection closed");
            return;
        };
        let Some(teardown) = self
            .shared
            .registry
            .end_session(self.registration.key(), bound.session_id)
        else {
            return;
        };
        let reason = teardown_reason(&teardown, &end.reason()).to_owned();
        info!(reason = %reason, connections = teardown.connections, "reservation ended");
        let event = audit::teardown(
            self.conn_id,
            &self.principal,
            teardown.station.as_deref(),
            teardown.session_id.as_deref(),
            teardown.connections,
            &reason,
        );
        if let Err(e) = self.shared.audit.append(event).await {
            warn!(error = %e, "cannot audit a teardown");
        }
        crate::waiting::ended(&self.shared, &teardown).await;
    }
}

/// The audited reason of a reservation its user ended: an admin's pending release is the
/// cause, whatever the user did after hearing of it.
fn teardown_reason<'a>(teardown: &Teardown, users: &'a str) -> &'a str {
    if teardown.released_by_admin {
        RELEASED_BY_ADMIN
    } else {
        users
    }
}
