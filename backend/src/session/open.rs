//! The part of a connection before the burner protocol or the control link: handshake, trust
//! check, admission (a session slot, a usable drive and audit log), OK or ERRNOTAVL, what the
//! master opens the link for, and for a user session the identity block and the policy's say.
//!
//! Every step either hands the next one what it established or ends the connection (`None`),
//! having logged — and, where the station made a decision about an authenticated master,
//! audited — why.

use std::net::SocketAddr;
use std::sync::Arc;

use burnstand_wire::burner::{ErrorCode, Event};
use burnstand_wire::command::Identity;
use burnstand_wire::gss::acceptor_credentials;
use burnstand_wire::io::{Session as WireSession, Unauthenticated};
use burnstand_wire::link::{LinkOpen, StationHello};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Span;

use crate::flood::{self, Kind};
use crate::receipt::{self, Who};
use crate::server::Admission;
use crate::station::Station;

/// Longest text accepted in each identity block field; the master sends a principal, a UUID
/// and an address.
pub const MAX_IDENTITY_FIELD_LEN: usize = 1024;

/// What an accepted link turned out to be.
pub(super) enum Opened {
    /// A user's session: the burner protocol follows. Holds its slot of `max_sessions`.
    Session(WireSession<TcpStream>, Who, OwnedSemaphorePermit),
    /// The master's control link (with the master's display name).
    Control(WireSession<TcpStream>, String),
    /// An image push (with the master's display name); holds a slot of `max_sessions`.
    Push(
        WireSession<TcpStream>,
        String,
        Box<burnstand_wire::push::PushOpen>,
        OwnedSemaphorePermit,
    ),
}

/// The connection as far as the station knows it once the master is authenticated: what its
/// records name.
struct Accepted<'a> {
    station: &'a Arc<Station>,
    conn: u64,
    peer: SocketAddr,
    /// The authenticated master, display form.
    master: String,
}

/// Opens an accepted connection up to the burner protocol or the control link; `None` when
/// the connection was closed. A session's slot of `max_sessions` comes with it, held until the
/// session ends; a control link gives its slot back.
pub(super) async fn open(
    station: &Arc<Station>,
    tcp: TcpStream,
    peer: SocketAddr,
    conn: u64,
    admission: Admission,
    shutdown: &CancellationToken,
) -> Option<Opened> {
    let mut wire = authenticate(station, tcp, shutdown).await?;
    let master_exported = wire.peer().exported().to_vec();
    let accepted = Accepted {
        station,
        conn,
        peer,
        master: wire.peer().as_str().to_owned(),
    };
    Span::current().record("master", accepted.master.as_str());
    if !station.is_trusted_master(&master_exported) {
        tracing::warn!(principal = %accepted.master, "refused: not a trusted master");
        let record = receipt::session_deny(station.id(), conn, peer, &accepted.master);
        let _ = flood::audit_within(
            station,
            Kind::SessionDeny,
            &accepted.master,
            peer.ip(),
            record,
        )
        .await;
        return None;
    }
    let slot = admit(&accepted, &mut wire, admission).await?;
    let identity = match opening(station, &mut wire, shutdown).await? {
        LinkOpen::Session(identity) => identity,
        LinkOpen::Control => {
            drop(slot);
            return Some(Opened::Control(wire, accepted.master));
        }
        LinkOpen::Push(push) => return Some(Opened::Push(wire, accepted.master, push, slot)),
    };
    let who = who(accepted, master_exported, identity)?;
    Span::current().record("user", who.user.as_str());
    start(station, &mut wire, &who).await?;
    tracing::info!(session_id = %who.session_id, "session started");
    Some(Opened::Session(wire, who, slot))
}

/// The GSSAPI handshake with the station's keytab. Unauthenticated peers are logged, not
/// audited: anyone can connect, and the audit log must not be theirs to fill.
async fn authenticate(
    station: &Station,
    tcp: TcpStream,
    shutdown: &CancellationToken,
) -> Option<WireSession<TcpStream>> {
    let config = station.config();
    let principal = config.principal.clone();
    let cred = match tokio::task::spawn_blocking(move || acceptor_credentials(&principal)).await {
        Ok(Ok(cred)) => cred,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot acquire acceptor credentials; check the keytab");
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "credential task failed");
            return None;
        }
    };
    tokio::select! {
        wire = Unauthenticated::new(tcp).accept(cred, config.handshake_timeout()) => match wire {
            Ok(wire) => {
                tracing::info!(protection = %wire.protection().path(), "session protected");
                Some(wire)
            }
            Err(e) => {
                tracing::warn!(error = %e, "authentication failed");
                None
            }
        },
        _ = shutdown.cancelled() => None,
    }
}

/// Trades the handshake slots for a session slot, checks that the station can serve, and
/// answers OK; or audits the refusal and answers ERRNOTAVL.
async fn admit(
    accepted: &Accepted<'_>,
    wire: &mut WireSession<TcpStream>,
    admission: Admission,
) -> Option<OwnedSemaphorePermit> {
    let sessions = admission.handshake_done();
    let Ok(slot) = sessions.try_acquire_owned() else {
        tracing::warn!("too many sessions; answering ERRNOTAVL");
        refuse(accepted, wire, "too many sessions").await;
        return None;
    };
    if let Some(reason) = unusable(accepted.station) {
        tracing::warn!(reason = %reason, "answering ERRNOTAVL");
        refuse(accepted, wire, &reason).await;
        return None;
    }
    if let Err(e) = wire.send(&StationHello::ready(accepted.station.id())).await {
        tracing::info!(error = %e, "connection lost before OK");
        return None;
    }
    Some(slot)
}

/// Why the station cannot serve a new session now, if it cannot: the drive is unusable, the
/// audit log cannot be written, or space is low (new sessions wait; running ones keep the
/// margin for their records).
fn unusable(station: &Station) -> Option<String> {
    match station.drive().check_usable() {
        Err(e) => Some(e.to_string()),
        Ok(()) if !station.audit_healthy() => Some("the audit log cannot be written".to_owned()),
        Ok(()) => station.guards().space.check().err().map(|low| {
            if low.log {
                tracing::error!("{low}");
            }
            low.to_string()
        }),
    }
}

/// Audits a refused session within its budget and answers ERRNOTAVL.
async fn refuse(accepted: &Accepted<'_>, wire: &mut WireSession<TcpStream>, reason: &str) {
    let Accepted {
        station,
        conn,
        peer,
        master,
    } = accepted;
    let record = receipt::session_refuse(station.id(), *conn, *peer, master, reason);
    let _ = flood::audit_within(station, Kind::SessionRefuse, master, peer.ip(), record).await;
    let _ = wire.send(&StationHello::NotAvailable).await;
}

/// What the master opens the link for, within the handshake timeout.
async fn opening(
    station: &Station,
    wire: &mut WireSession<TcpStream>,
    shutdown: &CancellationToken,
) -> Option<LinkOpen> {
    let timeout = station.config().handshake_timeout();
    let opening = tokio::select! {
        opening = tokio::time::timeout(timeout, wire.recv::<LinkOpen>()) => opening,
        _ = shutdown.cancelled() => return None,
    };
    match opening {
        Ok(Ok(opening)) => Some(opening),
        Ok(Err(burnstand_wire::IoError::Codec(burnstand_wire::Error::UnknownCommand))) => {
            // A newer master's opening: say so, so it can tell the station is too old.
            tracing::warn!("the master opened the link for something this station does not know; answering ERRINVCMD");
            let _ = wire.send(&burnstand_wire::command::Reply::ErrInvCmd).await;
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no valid identity block from the master; closing");
            None
        }
        Err(_) => {
            tracing::warn!("the master sent no identity block in time; closing");
            None
        }
    }
}

/// Whom the session is for, from the identity block: every field present and at most
/// [`MAX_IDENTITY_FIELD_LEN`] long (they go into every record of the session).
fn who(accepted: Accepted<'_>, master_exported: Vec<u8>, identity: Identity) -> Option<Who> {
    let fields = [
        &identity.user,
        &identity.session_id,
        &identity.client_address,
    ];
    if identity.user.is_empty()
        || identity.user_exported_name.is_empty()
        || fields
            .iter()
            .any(|f| f.chars().count() > MAX_IDENTITY_FIELD_LEN)
        || identity.user_exported_name.len() > MAX_IDENTITY_FIELD_LEN
    {
        tracing::warn!("identity block with an empty or oversized field; closing");
        return None;
    }
    Some(Who {
        station: accepted.station.id().to_owned(),
        conn: accepted.conn,
        peer: accepted.peer,
        master: accepted.master,
        master_exported,
        user: identity.user,
        user_exported: identity.user_exported_name,
        session_id: identity.session_id,
        client: identity.client_address,
    })
}

/// The station's final say on the user (the master should have refused them at BIND), then
/// the `session.start` record; a refusal or an audit failure is told to the user as ERROR.
async fn start(station: &Station, wire: &mut WireSession<TcpStream>, who: &Who) -> Option<()> {
    if let Err(refusal) = station.admits(who) {
        tracing::warn!(reason = %refusal, "user refused by policy; closing");
        let record = receipt::session_refuse(
            station.id(),
            who.conn,
            who.peer,
            &who.user,
            &refusal.to_string(),
        );
        let address = flood::client_ip(who);
        let budgeted =
            flood::audit_within(station, Kind::SessionRefuse, &who.user, address, record);
        if let Err(e) = budgeted.await {
            let _ = wire.send(&Event::Error(e.report())).await;
            return None;
        }
        let _ = wire
            .send(&Event::error(ErrorCode::Denied, refusal.to_string()))
            .await;
        return None;
    }
    if let Err(e) = station.audit(receipt::session_start(who)).await {
        let _ = wire.send(&Event::Error(e.report())).await;
        return None;
    }
    Some(())
}
