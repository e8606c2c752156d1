//! The station's side of the control link (`docs/protocol.md` §5.9): the one connection each
//! trusted master keeps open to this station, over which the station asks for a **copy grant**
//! before each copy of a quota-limited or dated image, pushes every receipt it writes, and
//! answers the master's SYNC with the receipts the master has not recorded. A master that
//! sends WATCH (link version 3) also gets the station's live state ([`watch`]); one that
//! sends POLICY (link version 4) gets the policy's digest at once and after every reload
//! ([`crate::reload`]).
//!
//! One task per link owns its GSSAPI session and serves it from one `select!`: messages from
//! the master (cancel-safe receive), the live state once watched (a `watch` receiver and the
//! heartbeat), the receipts of a SYNC in progress (a channel fed by a blocking log scan), and
//! requests from burn jobs (a channel). Sends are never raced.
//! A newer link from the same master replaces the older one.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use burnstand_wire::burner::{Receipt, Sha256};
use burnstand_wire::io::Session as WireSession;
use burnstand_wire::link::{GrantRequest, MasterMessage, StationMessage};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::reconcile;
use crate::state_board::StateBoard;

mod watch;

/// How long a burn waits for the master's answer to a grant request. The master answers
/// after one fsync; a master that takes longer is treated as unreachable.
pub const GRANT_TIMEOUT: Duration = Duration::from_secs(20);

/// Requests from burn jobs queued towards one link; a job waits when it is full.
const OUTGOING_QUEUE: usize = 64;

/// Receipts a SYNC scan reads ahead of the link (each at most one audit record, 64 KiB).
const SYNC_QUEUE: usize = 16;

/// Grant requests awaiting an answer on one link (one per running burn at most in practice;
/// a station runs one burn at a time). A bound against a bug, not a tuning knob.
const MAX_PENDING_GRANTS: usize = 64;

/// Why a copy got no grant. The text goes to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoGrant {
    /// The master refused: quota used up, expired, no reservation…
    Refused(String),
    /// No control link to the session's master is up, or it went down while waiting.
    Unreachable,
    /// The master did not answer within [`GRANT_TIMEOUT`].
    TimedOut,
}

impl std::fmt::Display for NoGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoGrant::Refused(reason) => write!(f, "the master refused the copy: {reason}"),
            NoGrant::Unreachable => f.write_str(
                "this image is limited and the master that counts its copies cannot be reached \
                 from the station right now; try again in a minute, or tell the lab staff",
            ),
            NoGrant::TimedOut => f.write_str(
                "the master did not answer the copy grant in time; try again in a minute",
            ),
        }
    }
}

enum Outgoing {
    Grant(GrantRequest, oneshot::Sender<Result<(), NoGrant>>),
    Receipt(Receipt),
    Finished(String),
}

struct Link {
    id: u64,
    tx: mpsc::Sender<Outgoing>,
}

/// The control links of this station, one per trusted master (by exported name).
#[derive(Default)]
pub struct ControlLinks {
    links: Mutex<HashMap<Vec<u8>, Link>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Sessions a master asked to finish (`FINISH`, an admin's release) and sessions with a
    /// burn running: together they say when to answer `FINISHED`.
    finish: Mutex<FinishBook>,
}

/// See [`ControlLinks::request_finish`].
#[derive(Default)]
struct FinishBook {
    /// Sessions asked to start no other copy; an entry goes when its session ends. Bounded
    /// by [`MAX_FINISHING`].
    finishing: std::collections::HashSet<String>,
    /// Sessions with a burn job running (a session runs one at a time).
    running: std::collections::HashSet<String>,
}

/// Sessions remembered as "finish after this copy" at once: a station serves a handful of
/// sessions; a master asking for more is mistaken, and the oldest requests matter least.
const MAX_FINISHING: usize = 64;

impl std::fmt::Debug for ControlLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlLinks").finish_non_exhaustive()
    }
}

impl ControlLinks {
    fn sender(&self, master: &[u8]) -> Option<mpsc::Sender<Outgoing>> {
        let links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        links.get(master).map(|l| l.tx.clone())
    }

    /// Asks `master` (exported name) whether the copy may be burned; `Ok` once granted.
    pub async fn grant(&self, master: &[u8], request: GrantRequest) -> Result<(), NoGrant> {
        let tx = self.sender(master).ok_or(NoGrant::Unreachable)?;
        let (answer_tx, answer_rx) = oneshot::channel();
        tx.send(Outgoing::Grant(request, answer_tx))
            .await
            .map_err(|_| NoGrant::Unreachable)?;
        match tokio::time::timeout(GRANT_TIMEOUT, answer_rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(NoGrant::Unreachable),
            Err(_) => Err(NoGrant::TimedOut),
        }
    }

    /// Pushes a receipt just written to every master linked now (best effort: a master that
    /// misses it gets it with its next SYNC).
    pub fn push_receipt(&self, receipt: &Receipt) {
        let links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        for link in links.values() {
            if link
                .tx
                .try_send(Outgoing::Receipt(receipt.clone()))
                .is_err()
            {
                tracing::warn!("control link busy; the receipt goes with the next sync");
            }
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, FinishBook> {
        self.finish.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A master asked that session `session_id` start no other copy (FINISH). Returns
    /// whether a copy of it runs now: if not, the master is answered FINISHED at once, else
    /// when its job ends ([`ControlLinks::job_ended`]).
    fn request_finish(&self, session_id: String) -> bool {
        let mut book = self.book();
        if book.finishing.len() >= MAX_FINISHING {
            // Only a confused master gets here; keep the requests that still matter.
            let running = book.running.clone();
            book.finishing.retain(|s| running.contains(s));
        }
        let running = book.running.contains(&session_id);
        book.finishing.insert(session_id);
        running
    }

    /// Whether session `session_id` was asked to start no other copy.
    pub fn finish_requested(&self, session_id: &str) -> bool {
        self.book().finishing.contains(session_id)
    }

    /// A burn job of session `session_id` starts.
    pub fn job_started(&self, session_id: &str) {
        self.book().running.insert(session_id.to_owned());
    }

    /// The burn job of session `session_id` ended: a master waiting for it hears FINISHED.
    pub fn job_ended(&self, session_id: &str) {
        let asked = {
            let mut book = self.book();
            book.running.remove(session_id);
            book.finishing.contains(session_id)
        };
        if asked {
            let links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
            for link in links.values() {
                let finished = Outgoing::Finished(session_id.to_owned());
                if link.tx.try_send(finished).is_err() {
                    tracing::warn!("control link busy; a FINISHED is lost (the reservation then ends with its session)");
                }
            }
        }
    }

    /// Session `session_id` ended: its FINISH request goes.
    pub fn session_ended(&self, session_id: &str) {
        self.book().finishing.remove(session_id);
    }

    fn register(&self, master: &[u8]) -> (u64, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        if links.insert(master.to_vec(), Link { id, tx }).is_some() {
            tracing::info!("a new control link replaces the previous one of this master");
        }
        (id, rx)
    }

    fn unregister(&self, master: &[u8], id: u64) {
        let mut links = self.links.lock().unwrap_or_else(PoisonError::into_inner);
        if links.get(master).is_some_and(|l| l.id == id) {
            links.remove(master);
        }
    }
}

/// Serves one control link until the master closes it, it fails, or `shutdown` fires.
pub async fn serve(
    links: &ControlLinks,
    board: &StateBoard,
    policy: tokio::sync::watch::Receiver<Sha256>,
    audit_log: std::path::PathBuf,
    mut wire: WireSession<TcpStream>,
    shutdown: CancellationToken,
) -> String {
    let master = wire.peer().exported().to_vec();
    let (id, mut outgoing) = links.register(&master);
    tracing::info!("control link up");
    let mut pending: HashMap<String, oneshot::Sender<Result<(), NoGrant>>> = HashMap::new();
    let mut sync: Option<mpsc::Receiver<reconcile::SyncItem>> = None;
    let mut watching: Option<watch::Watch> = None;
    // Set once the master asked POLICY: the digest in force, marked changed by a reload.
    let mut policy_asked: Option<tokio::sync::watch::Receiver<Sha256>> = None;
    let reason = loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break "station shutting down".to_owned(),
            message = wire.recv::<MasterMessage>() => {
                let message = match message {
                    Ok(m) => m,
                    Err(burnstand_wire::IoError::Closed) => break "master closed the link".to_owned(),
                    Err(e) => break format!("control link lost: {e}"),
                };
                let sent = match message {
                    MasterMessage::Grant { copy_id } => {
                        answer(&mut pending, &copy_id, Ok(()));
                        Ok(())
                    }
                    MasterMessage::NoGrant { copy_id, reason } => {
                        answer(&mut pending, &copy_id, Err(NoGrant::Refused(reason)));
                        Ok(())
                    }
                    MasterMessage::Sync { after_seq, after_hash } => {
                        sync = Some(reconcile::start_sync(audit_log.clone(), after_seq, after_hash, SYNC_QUEUE));
                        Ok(())
                    }
                    MasterMessage::Ping => wire.send(&StationMessage::Pong).await,
                    MasterMessage::Finish { session_id } => {
                        tracing::info!(session = %session_id, "master asks the session to stop after its running copy");
                        if links.request_finish(session_id.clone()) {
                            Ok(())
                        } else {
                            wire.send(&StationMessage::Finished { session_id }).await
                        }
                    }
                    MasterMessage::Watch { heartbeat_ms } => {
                        tracing::info!(heartbeat_ms, "master watches the station state");
                        let (watch, now) = watch::Watch::start(board, heartbeat_ms);
                        watching = Some(watch);
                        wire.send(&StationMessage::State(now)).await
                    }
                    MasterMessage::Policy => {
                        let digests = policy_asked.get_or_insert_with(|| policy.clone());
                        let digest = *digests.borrow_and_update();
                        tracing::info!(digest = %digest, "master asks for the policy digest");
                        wire.send(&StationMessage::Policy { digest }).await
                    }
                };
                if let Err(e) = sent {
                    break format!("cannot send: {e}");
                }
            }
            digest = next_digest(&mut policy_asked) => {
                if let Err(e) = wire.send(&StationMessage::Policy { digest }).await {
                    break format!("cannot send: {e}");
                }
            }
            state = watch::next_state(&mut watching) => {
                if let Err(e) = wire.send(&StationMessage::State(state)).await {
                    break format!("cannot send: {e}");
                }
            }
            item = next_sync_item(&mut sync) => {
                let message = match item {
                    Some(reconcile::SyncItem::Receipt(r)) => StationMessage::Receipt(r),
                    Some(reconcile::SyncItem::Done { head_seq, head_hash }) => {
                        sync = None;
                        StationMessage::Synced { head_seq, head_hash }
                    }
                    Some(reconcile::SyncItem::Failed(e)) => {
                        tracing::error!(error = %e, "cannot read the audit log for a sync");
                        break "audit log unreadable during sync".to_owned();
                    }
                    None => {
                        sync = None;
                        continue;
                    }
                };
                if let Err(e) = wire.send(&message).await {
                    break format!("cannot send: {e}");
                }
            }
            out = outgoing.recv() => {
                let Some(out) = out else { break "replaced".to_owned() };
                let message = match out {
                    Outgoing::Grant(request, answer_tx) => {
                        if pending.len() >= MAX_PENDING_GRANTS {
                            let _ = answer_tx.send(Err(NoGrant::Unreachable));
                            continue;
                        }
                        pending.insert(request.copy_id.clone(), answer_tx);
                        StationMessage::GrantRequest(request)
                    }
                    Outgoing::Receipt(r) => StationMessage::Receipt(r),
                    Outgoing::Finished(session_id) => StationMessage::Finished { session_id },
                };
                if let Err(e) = wire.send(&message).await {
                    break format!("cannot send: {e}");
                }
            }
        }
    };
    links.unregister(&master, id);
    // Waiting burns learn at once that no grant will come.
    for (_, answer_tx) in pending.drain() {
        let _ = answer_tx.send(Err(NoGrant::Unreachable));
    }
    tracing::info!(reason = %reason, "control link down");
    reason
}

fn answer(
    pending: &mut HashMap<String, oneshot::Sender<Result<(), NoGrant>>>,
    copy_id: &str,
    result: Result<(), NoGrant>,
) {
    match pending.remove(copy_id) {
        Some(tx) => {
            let _ = tx.send(result);
        }
        None => tracing::warn!(copy_id, "an answer for a copy nobody asked about; ignored"),
    }
}

/// The digest after the next reload, once the master asked POLICY; pending forever before
/// (or once the station's policy holder is gone, which happens only at exit), so it can sit
/// in a `select!`. Cancel-safe: `changed` marks nothing seen until it returns.
async fn next_digest(asked: &mut Option<tokio::sync::watch::Receiver<Sha256>>) -> Sha256 {
    if let Some(rx) = asked {
        if rx.changed().await.is_ok() {
            return *rx.borrow_and_update();
        }
        *asked = None;
    }
    std::future::pending().await
}

async fn next_sync_item(
    sync: &mut Option<mpsc::Receiver<reconcile::SyncItem>>,
) -> Option<reconcile::SyncItem> {
    match sync {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
