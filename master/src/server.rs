//! The accept loop: connection budgets, fail-closed audit check, graceful drain.
//!
//! Every accepted connection must take a slot of the overall budget (`max_connections`) and,
//! until its handshake completes, a slot of the smaller unauthenticated budget
//! (`max_unauthenticated`), of which one peer address may hold at most
//! `max_handshakes_per_address` (the station's `PeerBudget`, shared through `burnstand-wire`).
//! A connection that finds any budget full is closed at once, so peers that never
//! authenticate can delay other unauthenticated peers but never starve the authenticated
//! sessions, and one address cannot lock the others out. While the audit log is unhealthy no connection is accepted at all.
//!
//! Shutdown (the `shutdown` token, cancelled on SIGTERM by `main`): stop accepting, abandon
//! handshakes in progress, let authenticated sessions finish (new BINDs are refused) for up to
//! `drain_deadline`, then cancel every connection, which ends reservations with an audit
//! record, and after [`FORCE_GRACE`] abort what is left.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use burnstand_audit::SharedAuditLog;
use burnstand_daemon::{abort, accept_loop, drain, HandshakeBudgets};
use burnstand_wire::gss::Cred;
use burnstand_wire::gss::{acceptor_credentials, initiator_credentials};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::connection::{self, Permits};
use crate::control;
use crate::error::Result;
use crate::ledger::{Ledger, SqliteLedger, LEDGER_FILE};
use crate::queue::{Queue, SqliteQueueStore, QUEUE_FILE};
use crate::receipts;
use crate::registry::Registry;
use crate::waiting::Lobby;

/// After the drain deadline, how long cancelled connections get to write their teardown
/// records before their tasks are aborted.
pub const FORCE_GRACE: Duration = Duration::from_secs(5);

/// What every connection task shares.
pub(crate) struct Shared {
    pub config: Arc<Config>,
    /// The policy in force: the config's at start, replaced by a reload (SIGHUP).
    pub policy: crate::reload::LivePolicy,
    pub registry: Arc<Registry>,
    pub audit: crate::audit::TimedAudit,
    /// Accept users as the master's principal.
    pub acceptor: Cred,
    /// Authenticate to stations as the master's principal.
    pub initiator: Cred,
    /// Cancelled when shutdown starts: handshakes stop, BIND is refused.
    pub draining: CancellationToken,
    /// Every copy granted or received, by copy id: what quotas count (see [`crate::ledger`]).
    pub ledger: Arc<dyn Ledger>,
    /// Held while a grant is decided and recorded, or a receipt recorded: a quota is checked
    /// and used in one step, and a receipt arriving twice at once is recorded once.
    pub records: tokio::sync::Mutex<()>,
    /// Bounds the `auth.fail` records unauthenticated peers can cause.
    pub auth_failures: crate::audit::FailureBudget,
    /// Budgets of the records users can cause, and the free-space watermark.
    pub guards: crate::flood::Guards,
    /// The wait queue and the connections waiting in it (see [`crate::waiting`]).
    pub lobby: std::sync::Mutex<Lobby>,
    /// An admin's RELEASE of a burning station: (station index, session id) for its control
    /// link to send FINISH.
    pub finish: tokio::sync::broadcast::Sender<(usize, String)>,
    /// What `/metrics` shows (see [`crate::metrics`]).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// RELEASE requests on their way to the control links; an admin sends a few a day.
const FINISH_QUEUE: usize = 16;

/// Serves `listener` until `shutdown` is cancelled, then drains (see the module docs).
///
/// GSSAPI finds the keytab through KRB5_KTNAME and KRB5_CLIENT_KTNAME, which the caller must
/// have set (`main` does, from `config.keytab`, before starting the runtime). Fails only at
/// start-up, when the master's credentials cannot be acquired.
pub async fn run(
    listener: TcpListener,
    config: Config,
    audit: SharedAuditLog,
    shutdown: CancellationToken,
) -> Result<()> {
    let web = match &config.web {
        Some(web) => Some(TcpListener::bind(web.listen).await.map_err(|e| {
            crate::error::Error::ConfigInvalid(format!(
                "[web] cannot listen on {}: {e}",
                web.listen
            ))
        })?),
        None => None,
    };
    run_with_web(listener, web, config, audit, shutdown).await
}

/// [`run`] with the status page's listener bound by the caller (`main` prints its address;
/// tests bind port 0). `web` is used only when the config has a `[web]` section.
pub async fn run_with_web(
    listener: TcpListener,
    web: Option<TcpListener>,
    config: Config,
    audit: SharedAuditLog,
    shutdown: CancellationToken,
) -> Result<()> {
    // First, before anything that takes time: from here on a SIGHUP reloads instead of
    // ending the process.
    let hangups = crate::reload::hangups();
    std::fs::create_dir_all(&config.state_dir).map_err(|e| {
        crate::error::Error::Ledger(format!("cannot create {}: {e}", config.state_dir.display()))
    })?;
    let ledger = SqliteLedger::open(&config.state_dir.join(LEDGER_FILE))?;
    let imported = receipts::import_log(&ledger, &config.audit_log)?;
    info!(copies = ledger.copies()?, imported, "copy ledger ready");
    let acceptor = acceptor_credentials(&config.principal)?;
    let initiator = initiator_credentials(Some(&config.principal))?;
    let guards = crate::flood::Guards::new(&config);
    let store = SqliteQueueStore::open(&config.state_dir.join(QUEUE_FILE))?;
    let queue = Queue::open(Box::new(store), config.queue.clone())?;
    if queue.total() > 0 {
        info!(
            waiting = queue.total(),
            "wait queue restored; entries keep their places while their clients come back"
        );
    }
    let lobby = std::sync::Mutex::new(Lobby::new(queue, config.queue.default_eta));
    let config = Arc::new(config);
    let metrics = Arc::new(crate::metrics::Metrics::new(&config));
    let stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        policy: crate::reload::LivePolicy::new(config.policy.clone()),
        registry: Arc::new(Registry::new(Arc::clone(&config), stop.clone())),
        config: Arc::clone(&config),
        audit: crate::audit::TimedAudit::new(audit, Arc::clone(&metrics)),
        acceptor,
        initiator,
        draining: shutdown.clone(),
        ledger: Arc::new(ledger),
        records: tokio::sync::Mutex::new(()),
        auth_failures: crate::audit::FailureBudget::default(),
        guards,
        lobby,
        finish: tokio::sync::broadcast::channel(FINISH_QUEUE).0,
        metrics,
    });
    let scrapes = crate::metrics::Listener::start(&shared).await?;
    // Checked before anything starts: a status page that cannot serve stops the start.
    let web = match (web, &config.web) {
        (Some(web_listener), Some(settings)) => {
            let tls = crate::web::tls::server_config(settings)
                .map_err(|e| crate::error::Error::ConfigInvalid(format!("[web] {e}")))?;
            let web =
                crate::web::Web::new(Arc::clone(&shared), settings.clone(), shutdown.clone())?;
            Some((web_listener, tls, Arc::new(web)))
        }
        _ => None,
    };
    // The control links live until the master has stopped serving users: grants for the
    // burns of draining sessions still need them.
    let links_stop = CancellationToken::new();
    let mut links = control::start_all(&shared, &links_stop);
    links.spawn(crate::farm::watch(Arc::clone(&shared), links_stop.clone()));
    links.spawn(crate::reload::on_sighup(
        Arc::clone(&shared),
        hangups,
        links_stop.clone(),
    ));
    let flush_stop = CancellationToken::new();
    let flusher = tokio::spawn(crate::flood::flush_suppressed(
        Arc::clone(&shared),
        flush_stop.clone(),
    ));
    // The status page runs beside the accept loop and stops with it (the same shutdown).
    let web_task =
        web.map(|(listener, tls, web)| tokio::spawn(crate::web::serve(listener, tls, web)));
    let total = Arc::new(Semaphore::new(config.limits.max_connections));
    let budgets = HandshakeBudgets::new(
        config.limits.max_unauthenticated,
        config.limits.handshakes_per_address(),
    );
    let next_id = AtomicU64::new(1);
    let mut tasks = JoinSet::new();
    info!(address = ?listener.local_addr().ok(), stations = config.stations.len(), "master accepting connections");
    accept_loop(
        &listener,
        &budgets,
        &shutdown,
        &mut tasks,
        "connection",
        |stream, peer, handshake| {
            if !shared.audit.is_healthy() {
                error!(%peer, "audit log is not writable: refusing the connection (fail closed); fix the disk under the audit log, then restart the master");
                return None;
            }
            if let Err(low) = shared.guards.space.check() {
                if low.log {
                    error!("{low}");
                }
                return None;
            }
            let Ok(total) = Arc::clone(&total).try_acquire_owned() else {
                warn!(%peer, "connection budget exhausted: closing the connection");
                return None;
            };
            let conn_id = next_id.fetch_add(1, Ordering::Relaxed);
            debug!(conn_id, %peer, "accepted");
            let permits = Permits { total, handshake };
            Some(connection::serve(
                Arc::clone(&shared),
                stream,
                peer,
                conn_id,
                permits,
            ))
        },
    )
    .await;

    drop(listener);
    info!(connections = tasks.len(), deadline = ?config.limits.drain_deadline, "draining");
    if !drain(&mut tasks, config.limits.drain_deadline, "connection").await {
        warn!(
            connections = tasks.len(),
            "drain deadline passed: closing the remaining connections"
        );
        stop.cancel();
        if !drain(&mut tasks, FORCE_GRACE, "connection").await {
            abort(&mut tasks).await;
        }
    }
    links_stop.cancel();
    while links.join_next().await.is_some() {}
    flush_stop.cancel();
    let _ = flusher.await;
    if let Some(web_task) = web_task {
        let _ = web_task.await;
    }
    scrapes.stop().await;
    info!("master stopped");
    Ok(())
}
