//! The accept loop: one task per connection, bounded, and an orderly shutdown.
//!
//! Shutdown follows the hickory-dns pattern: one [`CancellationToken`] for the whole server,
//! a child token per session, and a [`JoinSet`] holding every session task. When the token
//! fires the listener stops accepting, every session cancels its burn (xorriso is stopped and
//! reaped) and audits its end, and `run` returns only after the last session task is gone.

use std::sync::Arc;
use std::time::Duration;

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

/// Pause after a failed `accept` (out of file descriptors, …) so the loop cannot spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Builds the station from `config` and serves `listener` until `shutdown` fires.
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) -> Result<()> {
    let station = prepare(config).await?;
    serve(listener, station, shutdown).await
}

/// Builds the station from `config` and hashes its catalog (new or changed images only), so
/// the first session does not wait for digests.
pub async fn prepare(config: Config) -> Result<Arc<Station>> {
    let station = Station::from_config(config)?;
    let images = station.catalog().refresh().await?;
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
    let listen = listener
        .local_addr()
        .map_err(|e| crate::error::StationError::io("reading the listen address", e))?;
    let drive = format!("{:?}", station.drive());
    station
        .audit(receipt::station_start(station.id(), listen, &drive))
        .await?;
    tracing::info!(%listen, station = station.id(), "serving");

    let limit = Arc::new(Semaphore::new(station.config().max_sessions));
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = sessions.join_next(), if !sessions.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "session task failed");
                }
            }
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                    tracing::warn!(%peer, "too many sessions; connection closed");
                    continue;
                };
                let conn = station.next_conn();
                let span = tracing::info_span!(
                    "session",
                    conn,
                    %peer,
                    master = tracing::field::Empty,
                    user = tracing::field::Empty,
                );
                let task = session::serve(Arc::clone(&station), tcp, peer, conn, shutdown.child_token());
                sessions.spawn(
                    async move {
                        task.await;
                        drop(permit);
                    }
                    .instrument(span),
                );
            }
        }
    }
    drop(listener);
    tracing::info!(sessions = sessions.len(), "shutting down");
    while let Some(done) = sessions.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "session task failed");
        }
    }
    station.audit(receipt::station_stop(station.id())).await?;
    tracing::info!("stopped");
    Ok(())
}
