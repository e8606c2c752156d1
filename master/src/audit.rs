//! The master's audit records: one constructor per event, so names and fields stay consistent.
//!
//! Records go to the hash-chained, fsync-before-ack log of `burnstand-audit`. The rule every
//! caller follows: an action is acknowledged to the client only after its record's append
//! returned `Ok`; if the append fails the connection is closed without the acknowledgement and,
//! since the log is then poisoned, the server refuses new connections (fail closed).
//!
//! Every record carries `conn` (the connection id also in the tracing span) and, once known,
//! `principal` (display form). Never tokens, keys or relayed payload.

use std::net::SocketAddr;

use burnstand_audit::Event;
use burnstand_wire::gss::Principal;

/// A connection authenticated.
pub fn auth_ok(conn: u64, peer: SocketAddr, principal: &Principal) -> Event {
    Event::new("auth.ok")
        .field("conn", conn)
        .field("peer", peer)
        .field("principal", principal.as_str())
}

/// Failed handshakes audited per second once the burst is used up.
pub const AUTH_FAIL_RATE: f64 = 10.0;
/// Failed handshakes audited back to back before the rate applies.
pub const AUTH_FAIL_BURST: f64 = 100.0;

/// A token bucket for `auth.fail` records: anyone can open connections and fail the
/// handshake, and a full disk would fail the master closed, so their records are bounded to
/// [`AUTH_FAIL_BURST`] at once and [`AUTH_FAIL_RATE`] per second (about 3 KB/s of log). The
/// failures not recorded are counted, and the count is written (`auth.fail.suppressed`) with
/// the next failure that is. One bucket for everyone (the peer is not authenticated); the
/// implementation is the stations' and the other records' (`burnstand_audit::budget`).
#[derive(Debug)]
pub struct FailureBudget(burnstand_audit::budget::Budget);

impl Default for FailureBudget {
    fn default() -> Self {
        FailureBudget(burnstand_audit::budget::Budget::new(
            burnstand_audit::budget::Rate::new(
                AUTH_FAIL_BURST as u32,
                (AUTH_FAIL_RATE * 60.0) as u32,
            ),
        ))
    }
}

impl FailureBudget {
    /// `Some(n)`: record this failure, after a record that `n` (> 0) were suppressed before
    /// it; `None`: over the budget, count it only.
    pub fn admit(&self) -> Option<u64> {
        self.0.admit()
    }
}

/// Failed handshakes that were not recorded one by one (see [`FailureBudget`]).
pub fn auth_fail_suppressed(count: u64) -> Event {
    Event::new("auth.fail.suppressed").field("count", count)
}

/// A handshake failed, timed out or was abandoned.
pub fn auth_fail(conn: u64, peer: SocketAddr, reason: &str) -> Event {
    Event::new("auth.fail")
        .field("conn", conn)
        .field("peer", peer)
        .field("reason", reason)
}

/// An authenticated connection was refused (per-user budget).
pub fn connection_deny(conn: u64, principal: &Principal, reason: &str) -> Event {
    Event::new("connection.deny")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("reason", reason)
}

/// A well-protected message that is not a valid command, or not valid in this state
/// (answered ERRINVCMD).
pub fn command_invalid(conn: u64, principal: &Principal, reason: &str) -> Event {
    Event::new("command.invalid")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("reason", reason)
}

/// LIST answered with `types` station types.
pub fn list(conn: u64, principal: &Principal, types: usize) -> Event {
    Event::new("list")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("types", types)
}

/// BIND granted: `station` reserved for `principal` as reservation `session`.
pub fn bind(
    conn: u64,
    principal: &Principal,
    station_type: u32,
    station: &str,
    session: &str,
) -> Event {
    Event::new("bind")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("station_type", station_type)
        .field("station", station)
        .field("session", session)
}

/// BIND refused (answered ERRUNAVAL).
pub fn bind_deny(conn: u64, principal: &Principal, station_type: u32, reason: &str) -> Event {
    Event::new("bind.deny")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("station_type", station_type)
        .field("reason", reason)
}

/// SERV granted: the pass-through to `station` is about to start.
pub fn serv(conn: u64, principal: &Principal, service: u32, station: &str, session: &str) -> Event {
    Event::new("serv")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("service", service)
        .field("station", station)
        .field("session", session)
}

/// SERV refused; `reply` is what the client got (ERRNOCONN or ERRNOTAVL).
pub fn serv_deny(
    conn: u64,
    principal: &Principal,
    service: u32,
    reply: &str,
    reason: &str,
) -> Event {
    Event::new("serv.deny")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("service", service)
        .field("reply", reply)
        .field("reason", reason)
}

/// A pass-through ended.
pub fn serv_end(
    conn: u64,
    principal: &Principal,
    session: &str,
    blocks_up: u64,
    blocks_down: u64,
    reason: &str,
) -> Event {
    Event::new("serv.end")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("session", session)
        .field("blocks_up", blocks_up)
        .field("blocks_down", blocks_down)
        .field("reason", reason)
}

/// QUIT received; the OK follows only once this is durable.
pub fn quit(conn: u64, principal: &Principal) -> Event {
    Event::new("quit")
        .field("conn", conn)
        .field("principal", principal.as_str())
}

/// Every connection of `principal` was closed and its reservation (if any) released.
pub fn teardown(
    conn: u64,
    principal: &Principal,
    station: Option<&str>,
    session: Option<&str>,
    connections: usize,
    reason: &str,
) -> Event {
    let mut event = Event::new("teardown")
        .field("conn", conn)
        .field("principal", principal.as_str());
    if let (Some(station), Some(session)) = (station, session) {
        event = event.field("station", station).field("session", session);
    }
    event
        .field("connections", connections)
        .field("reason", reason)
}

/// A reservation ended by the master, not by its user (an admin's RELEASE, a missed claim).
pub fn ended_by_master(teardown: &crate::registry::Teardown, reason: &str) -> Event {
    let mut event = Event::new("teardown").field("principal", teardown.user.as_str());
    if let (Some(station), Some(session)) = (&teardown.station, &teardown.session_id) {
        event = event
            .field("station", station.as_str())
            .field("session", session.as_str());
    }
    event
        .field("connections", teardown.connections)
        .field("reason", reason)
}

/// An admin command, before it is answered.
pub fn admin(conn: u64, principal: &Principal, command: &str, target: &str) -> Event {
    Event::new("admin")
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("command", command)
        .field("target", target)
}

/// A station's health changed: quarantined (with the reason) or healthy again.
pub fn station_health(station: &str, quarantined: Option<&str>) -> Event {
    match quarantined {
        Some(reason) => Event::new("station.quarantine")
            .field("station", station)
            .field("reason", reason),
        None => Event::new("station.healthy").field("station", station),
    }
}

/// A user joined or left the wait queue (`event` is `queue.join` or `queue.leave`).
pub fn queue(conn: u64, principal: &Principal, event: &str, station_type: u32) -> Event {
    Event::new(event)
        .field("conn", conn)
        .field("principal", principal.as_str())
        .field("station_type", station_type)
}

/// The master's handle on its audit log: [`burnstand_audit::SharedAuditLog`] with the latency
/// of every append (fsync included) measured for `/metrics`. Every append of the master goes
/// through here, so the histogram sees them all without a call at each site.
#[derive(Clone, Debug)]
pub struct TimedAudit {
    log: burnstand_audit::SharedAuditLog,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl TimedAudit {
    pub fn new(
        log: burnstand_audit::SharedAuditLog,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        TimedAudit { log, metrics }
    }

    /// Appends `event` durably; see [`burnstand_audit::SharedAuditLog::append`].
    pub async fn append(&self, event: Event) -> burnstand_audit::Result<burnstand_audit::Appended> {
        let started = std::time::Instant::now();
        let appended = self.log.append(event).await;
        self.metrics.audit_write(started.elapsed());
        appended
    }

    /// False once an append failed: the master fails closed.
    pub fn is_healthy(&self) -> bool {
        self.log.is_healthy()
    }

    /// The log itself, for what the timing has no business with.
    pub fn log(&self) -> &burnstand_audit::SharedAuditLog {
        &self.log
    }
}

/// A login to the status page by HTTP Negotiate: `ok` with the principal and whether it got
/// the admin view, or a failure with the reason (bounded like `auth.fail`).
pub fn web_login(conn: u64, peer: SocketAddr, principal: &Principal, admin: bool) -> Event {
    Event::new("web.login")
        .field("conn", conn)
        .field("peer", peer)
        .field("principal", principal.as_str())
        .field("result", "ok")
        .field("admin", admin)
}

/// A refused status-page login (a token that does not authenticate).
pub fn web_login_fail(conn: u64, peer: SocketAddr, reason: &str) -> Event {
    Event::new("web.login")
        .field("conn", conn)
        .field("peer", peer)
        .field("result", "fail")
        .field("reason", reason)
}
