//! The accept loop: one task per connection, bounded, and an orderly shutdown.
//!
//! Shutdown follows the hickory-dns pattern: one [`CancellationToken`] for the whole server,
//! a child token per session, and a [`JoinSet`] holding every session task. When the token
//! fires the listener stops accepting, every session cancels its burn (xorriso is stopped and
//! reaped) and audits its end, and `run` returns only after the last session task is gone —
//! or, if some session does not end within [`DRAIN_DEADLINE`] (a master that stopped
//! reading), after it was aborted.
//!
//! Two budgets: a connection needs a slot of `max_unauthenticated` until its handshake is
//! done, and then one of `max_sessions` for the rest of its life (see [`Admission`]). Silent
//! or slow peers can fill only the first, never lock the master out.

use std::sync::Arc;
use std::time::Duration;

use burnstand_daemon::{abort, accept_loop, drain, HandshakeBudgets, HandshakeSlot};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::Config;
use crate::error::Result;
use crate::receipt;
use crate::session;
use crate::station::Station;

/// After shutdown, how long sessions get to cancel their burns and audit their end before
/// their tasks are aborted. A cancelled burn reaps xorriso within seconds (SIGTERM, SIGKILL
/// after 5 s), so only a session stuck writing to a peer that stopped reading takes longer.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// Connections one peer address may have in the handshake at once. With the global
/// `max_unauthenticated` this keeps a flood from one host (or a few) from taking every
/// handshake slot: the master's own address always finds one free.
pub const MAX_HANDSHAKES_PER_PEER: usize = 4;

/// A connection's place in the budgets: the handshake slots it holds (global and per peer
/// address), and the session budget it must get a slot of once authenticated.
pub struct Admission {
    pub handshake: HandshakeSlot,
    pub sessions: Arc<Semaphore>,
}

impl Admission {
    /// The handshake is over: give its slots back.
    pub fn handshake_done(self) -> Arc<Semaphore> {
        self.sessions
    }
}

/// Builds the station from `config` and serves `listener` until `shutdown` fires.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<()> {
    let station = prepare(config).await?;
    serve(listener, station, shutdown).await
}

/// Builds the station from `config` and hashes its catalog (new or changed images only), so
/// the first session does not wait for digests.
pub async fn prepare(config: Config) -> Result<Arc<Station>> {
    let station = Station::from_config(config)?;
    // Not fatal: sessions are refused while the drive is unusable (e.g. another process holds
    // it), and accepted as soon as it is usable again. Say so now, not at the first session.
    if let Err(e) = station.drive().check_usable() {
        tracing::warn!(
            error = %e,
            "the drive is not usable now, sessions are refused until it is: check the device, its group (cdrom) and that no other program holds it"
        );
    }
    let images = crate::push::refresh_catalog(&station).await?;
    tracing::info!(
        images = images.len(),
        hashed = station.catalog().digests_computed(),
        "catalog ready"
    );
    Ok(station)
}

/// Serves `listener` with an already built station until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    station: Arc<Station>,
    shutdown: CancellationToken,
) -> Result<()> {
    // First, before any await: from here on a SIGHUP reloads instead of ending the process.
    let hangups = crate::reload::hangups();
    let listen = listener
        .local_addr()
        .map_err(|e| crate::error::StationError::io("reading the listen address", e))?;
    let drive = format!("{:?}", station.drive());
    station
        .audit(receipt::station_start(station.id(), listen, &drive))
        .await?;
    // Before anyone is accepted: copies a crash left without a receipt are used copies.
    let interrupted = crate::reconcile::close_interrupted(&station).await?;
    if interrupted > 0 {
        tracing::warn!(
            copies = interrupted,
            "closed copies the station was burning when it stopped as interrupted"
        );
    }
    tracing::info!(%listen, station = station.id(), "serving");
    let background_stop = CancellationToken::new();
    let flusher = tokio::spawn(crate::flood::flush_suppressed(
        Arc::clone(&station),
        background_stop.clone(),
    ));
    let checker = tokio::spawn(crate::state_board::check::run(
        Arc::clone(&station),
        background_stop.clone(),
    ));
    let reloader = tokio::spawn(crate::reload::on_sighup(
        Arc::clone(&station),
        hangups,
        background_stop.clone(),
    ));

    let budgets = HandshakeBudgets::new(
        station.config().max_unauthenticated,
        MAX_HANDSHAKES_PER_PEER,
    );
    let limit = Arc::new(Semaphore::new(station.config().max_sessions));
    let mut sessions = JoinSet::new();
    accept_loop(
        &listener,
        &budgets,
        &shutdown,
        &mut sessions,
        "session",
        |tcp, peer, handshake| {
            let admission = Admission {
                handshake,
                sessions: Arc::clone(&limit),
            };
            let conn = station.next_conn();
            let span = tracing::info_span!(
                "session",
                conn,
                %peer,
                master = tracing::field::Empty,
                user = tracing::field::Empty,
            );
            let task = session::serve(
                Arc::clone(&station),
                tcp,
                peer,
                conn,
                admission,
                shutdown.child_token(),
            );
            Some(task.instrument(span))
        },
    )
    .await;
    drop(listener);
    tracing::info!(sessions = sessions.len(), "shutting down");
    if !drain(&mut sessions, DRAIN_DEADLINE, "session").await {
        tracing::warn!(
            left = sessions.len(),
            "sessions did not end in time; aborting them"
        );
        abort(&mut sessions).await;
    }
    background_stop.cancel();
    let _ = flusher.await;
    let _ = checker.await;
    let _ = reloader.await;
    station.audit(receipt::station_stop(station.id())).await?;
    tracing::info!("stopped");
    Ok(())
}
