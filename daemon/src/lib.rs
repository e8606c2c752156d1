//! `burnstand-daemon`: the edge both daemons share — the master (`burnstand-master`) and every
//! station (`burnstand-station`) accept TCP connections the same way and drain them the same
//! way at shutdown, so that code lives once, here.
//!
//! ```text
//! listener ─► accept ─► per-address handshake share ─► global handshake budget ─► admit() ─► task
//!                 │ error: back off             │ full: close           │ full: close    │ None: close
//! ```
//!
//! The daemon decides the rest in its `admit` closure (the master's overall connection budget
//! and fail-closed audit checks; the station's nothing more) and returns the connection's task,
//! which holds its [`HandshakeSlot`] until its Kerberos handshake is done. Shutdown follows the
//! hickory-dns pattern: one [`CancellationToken`] stops the loop, the caller then [`drain`]s the
//! [`JoinSet`] of connection tasks within its deadline. Both `main`s also set up logging
//! ([`logging`]: `--log-format text|json`, colour only on a terminal), talk to systemd
//! ([`notify`]: readiness, stopping, watchdog) and read their configuration file
//! ([`read_config_text`]) the same way.
#![forbid(unsafe_code)]

pub mod logging;
pub mod notify;

pub use logging::LogFormat;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burnstand_wire::admission::{PeerBudget, PeerSlot};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Pause after a failed `accept` (out of file descriptors, …) so the loop cannot spin.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The budgets a connection must fit before its handshake starts.
#[derive(Debug, Clone)]
pub struct HandshakeBudgets {
    /// Connections in the handshake at once, from all addresses (`max_unauthenticated`).
    pub global: Arc<Semaphore>,
    /// Each address's share of them.
    pub per_address: Arc<PeerBudget>,
}

impl HandshakeBudgets {
    /// `global` handshakes at once, at most `per_address` of them from one address.
    pub fn new(global: usize, per_address: usize) -> HandshakeBudgets {
        HandshakeBudgets {
            global: Arc::new(Semaphore::new(global)),
            per_address: PeerBudget::new(per_address),
        }
    }
}

/// A connection's place in both handshake budgets; dropping it gives them back (when the
/// handshake is done, failed, or timed out).
#[derive(Debug)]
pub struct HandshakeSlot {
    _global: OwnedSemaphorePermit,
    _address: PeerSlot,
}

/// Accepts connections on `listener` until `shutdown` fires; each one that fits the budgets
/// and that `admit` takes (`Some(task)`) runs as a task in `tasks`. Finished tasks are reaped
/// as the loop goes, so `tasks` holds only live connections. `what` names the tasks in logs.
pub async fn accept_loop<F, T>(
    listener: &TcpListener,
    budgets: &HandshakeBudgets,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
    what: &'static str,
    mut admit: F,
) where
    F: FnMut(TcpStream, SocketAddr, HandshakeSlot) -> Option<T>,
    T: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                log_join(done, what);
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(address) = budgets.per_address.try_take(peer.ip()) else {
            tracing::warn!(%peer, "too many handshakes from this address: connection closed");
            continue;
        };
        let Ok(global) = Arc::clone(&budgets.global).try_acquire_owned() else {
            tracing::warn!(%peer, "too many connections in the handshake: connection closed");
            continue;
        };
        let slot = HandshakeSlot {
            _global: global,
            _address: address,
        };
        if let Some(task) = admit(stream, peer, slot) {
            tasks.spawn(task);
        }
    }
}

/// Waits for every task in `tasks` to end, for at most `deadline`; `true` if they all did.
/// Tasks left over are still in `tasks` (the caller cancels them, or [`abort`]s them).
pub async fn drain(tasks: &mut JoinSet<()>, deadline: Duration, what: &'static str) -> bool {
    tokio::time::timeout(deadline, async {
        while let Some(done) = tasks.join_next().await {
            log_join(done, what);
        }
    })
    .await
    .is_ok()
}

/// Aborts every task left in `tasks` and waits until they are gone.
pub async fn abort(tasks: &mut JoinSet<()>) {
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

fn log_join(done: Result<(), tokio::task::JoinError>, what: &'static str) {
    if let Err(e) = done {
        if !e.is_cancelled() {
            tracing::error!(error = %e, task = what, "task failed");
        }
    }
}

/// Text logs to stderr ([`logging::init`] with [`LogFormat::Text`]): for callers without a
/// `--log-format` option.
pub fn init_logging() {
    logging::init(LogFormat::Text);
}

/// Why a configuration file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ConfigTextError {
    /// Opening or reading it failed.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// It is longer than the daemon's bound: probably not the configuration file.
    #[error("configuration {path} is longer than {limit} bytes; is this the right file?")]
    TooLong {
        path: std::path::PathBuf,
        limit: u64,
    },
}

/// The text of the configuration file at `path`, read at most to `limit` bytes (a wrong path
/// pointing at a large file must not be read whole).
pub fn read_config_text(path: &std::path::Path, limit: u64) -> Result<String, ConfigTextError> {
    use std::io::Read;
    let read_err = |source| ConfigTextError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    file.take(limit.saturating_add(1))
        .read_to_string(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > limit {
        return Err(ConfigTextError::TooLong {
            path: path.to_owned(),
            limit,
        });
    }
    Ok(text)
}

/// Chooses the protection path for every session of this process from the daemon's
/// `fast_path` setting: the Rust RFC 4121 fast path only if configured *and* its known-answer
/// self-test passes here (a failure is logged as an error; sessions then stay on MIT's
/// wrap/unwrap, which works everywhere). Call once in `main`, before serving.
pub fn choose_fast_path(configured: bool) {
    let works = configured
        && match burnstand_wire::fastpath::self_test() {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "fast path self-test failed: every session uses MIT's wrap/unwrap");
                false
            }
        };
    burnstand_wire::gss::set_fast_path_default(works);
}

/// The `fast path` line of `--check-config`: the setting and, if on, whether it will be used
/// (after [`choose_fast_path`]).
pub fn fast_path_summary(configured: bool) -> &'static str {
    if !configured {
        "off (fast_path = false): MIT wrap/unwrap"
    } else if burnstand_wire::gss::fast_path_default() {
        "on (self-test passed): RFC 4121 in Rust for AES contexts, MIT otherwise"
    } else {
        "on, but the self-test failed: MIT wrap/unwrap"
    }
}
