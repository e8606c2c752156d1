//! Reloading the master's policy and station list without a restart: SIGHUP (systemd's
//! `ExecReload=kill -HUP $MAINPID`) makes the master read its configuration file again.
//!
//! What a reload changes, and nothing else:
//! - **the policy** (the file `policy` names): swapped whole ([`LivePolicy`]); a BIND or copy
//!   grant being decided finishes with the policy it started with, the next one uses the new
//!   one;
//! - **the stations** (`[[station]]`): the registry's roster is reconfigured (see
//!   `registry/roster.rs`): a station keeps its index while its name stays, new names are
//!   added (and get a control link), a changed address or principal reopens the station's
//!   control link, and a removed station gets no new reservation while one running on it
//!   (and its burns and their grants) goes on until it ends.
//!
//! Sessions, reservations, burns and the queue are untouched. Other settings (listen address,
//! principal, keytab, audit log, limits, groups of admins, queue and farm settings) take
//! effect at the next restart; a reload that finds one of the first five changed says so.
//!
//! A file that cannot be read, parsed or validated (the policy file included) is **refused**:
//! everything stays as it was, the reason is logged at ERROR. Every attempt is audited
//! (`config.reload`: `result` "ok" or "refused", `config` the file, `digest` the policy digest
//! in force afterwards, `previous` the one before, `reason` when refused, and for an applied
//! one the names of the stations `added`, `removed` and `moved`) before it takes effect; a
//! reload that cannot be audited is not applied.
//!
//! After a reload the master compares its policy digest with every station's (reported over
//! the control links, link version 4) and logs each station that differs at WARN.

use std::sync::{Arc, PoisonError, RwLock};

use burnstand_audit::Event;
use burnstand_policy::Policy;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::registry::Changes;
use crate::server::Shared;

/// The audit event of every reload attempt.
pub const RELOAD_EVENT: &str = "config.reload";

/// The policy in force, replaced whole by a reload.
#[derive(Debug)]
pub struct LivePolicy {
    current: RwLock<Arc<Policy>>,
}

impl LivePolicy {
    pub fn new(policy: Policy) -> LivePolicy {
        LivePolicy {
            current: RwLock::new(Arc::new(policy)),
        }
    }

    /// The policy in force now. Callers keep the `Arc` for one decision, never longer.
    pub fn get(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, policy: Policy) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The new configuration is in force.
    Applied(Changes),
    /// It was refused (nothing changed); why.
    Refused(String),
}

/// Takes SIGHUP over from its default action (ending the process); `run` calls it first
/// thing, before anything that could take a while. `None` (logged) if it cannot be caught.
pub(crate) fn hangups() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .inspect_err(|e| error!(error = %e, "cannot listen for SIGHUP: reloading needs a restart"))
        .ok()
}

/// Reloads on every SIGHUP `hangup` (from [`hangups`]) reports, until `stop` fires; control
/// links of stations a reload adds run in this task's set and end with `stop` too.
pub(crate) async fn on_sighup(
    shared: Arc<Shared>,
    hangup: Option<tokio::signal::unix::Signal>,
    stop: CancellationToken,
) {
    let Some(mut hangup) = hangup else {
        return;
    };
    let mut links = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(_) = links.join_next(), if !links.is_empty() => {}
            got = hangup.recv() => {
                if got.is_none() {
                    break;
                }
                info!("SIGHUP: reloading the policy and the stations");
                if let Err(e) = reload(&shared, &mut links, &stop).await {
                    error!(error = %e, "cannot audit the reload; nothing was changed");
                }
            }
        }
    }
    while links.join_next().await.is_some() {}
}

/// Reads the configuration file again and puts its policy and stations in force if it is
/// valid (see the module docs). `Err` only when the attempt could not be audited; then
/// nothing changed.
pub(crate) async fn reload(
    shared: &Arc<Shared>,
    links: &mut JoinSet<()>,
    stop: &CancellationToken,
) -> crate::error::Result<Outcome> {
    let previous = shared.registry.policy_digest();
    let Some(path) = shared.config.source.clone() else {
        let reason = "the configuration was not read from a file".to_owned();
        refused(shared, "", previous, &reason).await?;
        return Ok(Outcome::Refused(reason));
    };
    let shown = path.display().to_string();
    // Reading and validating (the policy file and every principal too) blocks: off the
    // runtime's worker threads.
    let read = tokio::task::spawn_blocking(move || Config::load(&path)).await;
    let config = match read {
        Ok(Ok(config)) => config,
        Ok(Err(e)) => {
            let reason = e.to_string();
            refused(shared, &shown, previous, &reason).await?;
            return Ok(Outcome::Refused(reason));
        }
        Err(e) => {
            let reason = format!("reading the configuration failed: {e}");
            refused(shared, &shown, previous, &reason).await?;
            return Ok(Outcome::Refused(reason));
        }
    };
    let changes = match shared.registry.roster().reconfigured(&config.stations) {
        Ok((_, changes)) => changes,
        Err(reason) => {
            refused(shared, &shown, previous, &reason).await?;
            return Ok(Outcome::Refused(reason));
        }
    };
    warn_restart_only(&shared.config, &config);
    let digest = config.policy.digest();
    let roster = shared.registry.roster();
    let names = |indices: &[usize]| -> String {
        indices
            .iter()
            .filter_map(|&i| roster.stations.get(i).map(|s| s.name.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let added = added_names(&roster.stations, &config, &changes);
    shared
        .audit
        .append(
            Event::new(RELOAD_EVENT)
                .field("result", "ok")
                .field("config", &shown)
                .field("digest", digest.to_hex())
                .field("previous", previous.to_hex())
                .field("added", added.join(", "))
                .field("removed", names(&changes.retired))
                .field("moved", names(&changes.moved)),
        )
        .await?;
    // Applied in this order: a station added now is checked against the new policy's
    // digest when its link reports.
    shared.policy.replace(config.policy);
    shared.registry.set_policy_digest(digest);
    let changes = match shared.registry.reconfigure(&config.stations) {
        Ok(changes) => changes,
        // Only a second reload racing this one could get here; there is none (one task).
        Err(reason) => {
            error!(reason = %reason, "stations not reconfigured");
            return Ok(Outcome::Refused(reason));
        }
    };
    for &index in &changes.added {
        crate::control::spawn_link(shared, index, stop, links);
    }
    info!(
        policy = %digest,
        previous = %previous,
        added = changes.added.len(),
        removed = changes.retired.len(),
        moved = changes.moved.len(),
        "configuration reloaded"
    );
    for (station, station_policy) in shared.registry.policy_mismatches() {
        warn!(
            station = %station,
            station_policy = %station_policy,
            master_policy = %digest,
            "station runs another policy than the master: install the master's policy file on the station and reload it (systemctl reload burnstand-station)"
        );
    }
    Ok(Outcome::Applied(changes))
}

/// The names of the stations `changes.added` names, from the current roster (a station
/// added back) or the new configuration (a new one).
fn added_names(
    roster: &[crate::config::StationConfig],
    config: &Config,
    changes: &Changes,
) -> Vec<String> {
    let mut fresh = config
        .stations
        .iter()
        .filter(|s| !roster.iter().any(|r| r.name == s.name));
    changes
        .added
        .iter()
        .filter_map(|&i| match roster.get(i) {
            Some(station) => Some(station.name.clone()),
            None => fresh.next().map(|s| s.name.clone()),
        })
        .collect()
}

/// Logs and audits a refused reload.
async fn refused(
    shared: &Shared,
    config: &str,
    digest: burnstand_wire::burner::Sha256,
    reason: &str,
) -> crate::error::Result<()> {
    error!(
        reason = %reason,
        policy = %digest,
        "new configuration refused; the old one stays in force: correct the file and reload again"
    );
    shared
        .audit
        .append(
            Event::new(RELOAD_EVENT)
                .field("result", "refused")
                .field("config", config)
                .field("digest", digest.to_hex())
                .field("previous", digest.to_hex())
                .field("reason", reason),
        )
        .await?;
    Ok(())
}

/// Warns about changed settings a reload does not apply.
fn warn_restart_only(running: &Config, new: &Config) {
    let changed: Vec<&str> = [
        ("listen", running.listen != new.listen),
        ("principal", running.principal != new.principal),
        ("keytab", running.keytab != new.keytab),
        ("audit_log", running.audit_log != new.audit_log),
        ("state_dir", running.state_dir != new.state_dir),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    if !changed.is_empty() {
        warn!(
            settings = %changed.join(", "),
            "these settings changed but take effect only at the next restart"
        );
    }
}
