//! Reloading the station's policy without a restart: SIGHUP (systemd's
//! `ExecReload=kill -HUP $MAINPID`) makes the station read its policy file again.
//!
//! A reload never drops a session or a burn. The policy is one `Arc` swapped whole under a
//! short lock ([`LivePolicy`]): a decision in progress finishes with the policy it started
//! with, the next one sees the new one. A new file that cannot be read, parsed or validated
//! is **refused**: the old policy stays in force, the reason is logged at ERROR, and the
//! `config.reload` record says so. Every attempt is audited (`config.reload`: `result` "ok"
//! or "refused", `policy` the file, `digest` the digest in force afterwards, `previous` the
//! one before, `reason` when refused) before it takes effect; a reload that cannot be audited
//! is not applied (the station fails closed, as for every other action).
//!
//! Only the policy is re-read: the station's own configuration (drive, catalog, principals,
//! trusted masters) needs a restart, which the docs say.
//!
//! The policy's digest (`burnstand_policy::digest_of`) goes to every master that asked for it
//! on its control link (`POLICY`, link version 4), at once and after each reload, so the master
//! can show a station that runs another policy.

use std::sync::{Arc, PoisonError, RwLock};

use burnstand_audit::Event;
use burnstand_policy::Policy;
use burnstand_wire::burner::Sha256;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::station::Station;

/// The audit event of every reload attempt.
pub const RELOAD_EVENT: &str = "config.reload";

/// The policy in force, replaced whole by a reload, and its digest for the control links.
#[derive(Debug)]
pub struct LivePolicy {
    current: RwLock<Arc<Policy>>,
    digest: watch::Sender<Sha256>,
}

impl LivePolicy {
    pub fn new(policy: Policy) -> LivePolicy {
        let (digest, _) = watch::channel(policy.digest());
        LivePolicy {
            current: RwLock::new(Arc::new(policy)),
            digest,
        }
    }

    /// The policy in force now. Callers keep the `Arc` for one decision, never longer.
    pub fn get(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `policy` in force and tells the control links its digest.
    fn replace(&self, policy: Policy) {
        let digest = policy.digest();
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
        self.digest.send_replace(digest);
    }

    /// The digest in force, and every later one (a control link's `POLICY` answers).
    pub fn digests(&self) -> watch::Receiver<Sha256> {
        self.digest.subscribe()
    }
}

/// The realm of the station's own principal: the policy's default realm.
pub fn home_realm(config: &Config) -> Option<&str> {
    config.principal.rsplit_once('@').map(|(_, realm)| realm)
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new policy is in force; its digest.
    Applied(Sha256),
    /// The file was refused (the old policy stays); why.
    Refused(String),
}

/// Reads the policy file again and puts it in force if it is valid (see the module docs).
/// `Err` only when the attempt could not be audited; then nothing changed.
pub async fn reload(station: &Station) -> crate::error::Result<Outcome> {
    let config = station.config();
    let previous = station.policy().digest();
    let loaded = match home_realm(config) {
        Some(realm) => Policy::load(&config.policy, realm).map_err(|e| e.to_string()),
        None => Err(format!(
            "principal {:?} has no realm; write it as name/host@REALM",
            config.principal
        )),
    };
    let record = Event::new(RELOAD_EVENT)
        .field("station", station.id())
        .field("policy", config.policy.display().to_string());
    match loaded {
        Ok(policy) => {
            let digest = policy.digest();
            station
                .audit(
                    record
                        .field("result", "ok")
                        .field("digest", digest.to_hex())
                        .field("previous", previous.to_hex()),
                )
                .await?;
            station.live_policy().replace(policy);
            tracing::info!(digest = %digest, previous = %previous, "policy reloaded");
            Ok(Outcome::Applied(digest))
        }
        Err(reason) => {
            tracing::error!(
                reason = %reason,
                digest = %previous,
                "new policy refused; the old policy stays in force: correct the file and reload again"
            );
            station
                .audit(
                    record
                        .field("result", "refused")
                        .field("digest", previous.to_hex())
                        .field("previous", previous.to_hex())
                        .field("reason", &reason),
                )
                .await?;
            Ok(Outcome::Refused(reason))
        }
    }
}

/// Takes SIGHUP over from its default action (ending the process). Call it before the
/// daemon says it is ready: a SIGHUP that came earlier would end the station. `None` (logged)
/// if the signal cannot be caught.
pub fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .inspect_err(|e| {
            tracing::error!(error = %e, "cannot listen for SIGHUP: reloading needs a restart");
        })
        .ok()
}

/// Reloads on every SIGHUP `hangup` (from [`hangups`]) reports, until `stop` fires.
pub async fn on_sighup(
    station: Arc<Station>,
    hangup: Option<tokio::signal::unix::Signal>,
    stop: CancellationToken,
) {
    let Some(mut hangup) = hangup else {
        return;
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            got = hangup.recv() => {
                if got.is_none() {
                    return;
                }
                tracing::info!("SIGHUP: reloading the policy");
                if let Err(e) = reload(&station).await {
                    tracing::error!(error = %e, "cannot audit the reload; the old policy stays in force");
                }
            }
        }
    }
}
