//! The master's control link to every configured station (`docs/protocol.md` §5.9).
//!
//! One task per station keeps one authenticated link open (the master is the initiator, as
//! for SERV links) and reconnects with back-off when it drops. When it comes up the master
//! asks for every receipt it has not recorded (SYNC from its ledger's position for that
//! station) and records them. Then it serves the station's **copy grant** requests: a grant
//! is decided against the policy and the ledger over *all* stations, written to the audit log
//! (`copy.grant`, fsync) and the ledger, and only then answered — so every copy that may
//! start writing is counted before it does. Receipts the station pushes are recorded as they
//! come. A PING every [`PING_EVERY`] finds a dead link. A station speaking link version 4 is
//! asked for its policy digest (`POLICY`), which the master compares with its own.
//!
//! A reload (`crate::reload`) starts links for stations it added, reopens the link of a
//! station whose address or principal changed, and ends the link of a removed station once no
//! reservation runs on it (a running burn still needs its grants).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use burnstand_audit::Event;
use burnstand_policy::{Policy, Subject, Usage};
use burnstand_wire::burner::Sha256;
use burnstand_wire::link::{
    GrantRequest, LinkOpen, MasterMessage, StationMessage, POLICY_LINK_VERSION,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use crate::error::{Error, Result};
use crate::ledger::{Copy, LogPosition};
use crate::receipts::{ReceiptWatch, GRANT_EVENT};
use crate::server::Shared;
use crate::station;

/// First pause before reconnecting a dropped control link; doubled up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between reconnection attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the master checks that the station still answers.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// A station that has not answered for this long is taken for gone; the link is reopened.
pub const PING_DEADLINE: Duration = Duration::from_secs(45);
/// The link is reopened this long before its Kerberos context ends.
pub const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);

/// Starts one control-link task per configured station; they run until `stop` fires.
pub(crate) fn start_all(shared: &Arc<Shared>, stop: &CancellationToken) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let roster = shared.registry.roster();
    for index in (0..roster.stations.len()).filter(|&i| roster.is_active(i)) {
        spawn_link(shared, index, stop, &mut tasks);
    }
    tasks
}

/// Starts the control-link task of station `index` in `tasks`, unless one runs already
/// (a station a reload removed and added back while its old link still served a burn).
pub(crate) fn spawn_link(
    shared: &Arc<Shared>,
    index: usize,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let Some(station) = shared.registry.station(index) else {
        return;
    };
    if !shared.registry.link_task_started(index) {
        return;
    }
    let span = tracing::info_span!("control", station = %station.name);
    // Moved into the task: dropped when it ends or is aborted.
    let task = LinkTask {
        shared: Arc::clone(shared),
        index,
    };
    let stop = stop.clone();
    tasks.spawn(async move { keep_linked(&task.shared, task.index, stop).await }.instrument(span));
}

/// Counts a running control-link task in the registry until it ends or is aborted.
struct LinkTask {
    shared: Arc<Shared>,
    index: usize,
}

impl Drop for LinkTask {
    fn drop(&mut self) {
        self.shared.registry.link_task_ended(self.index);
    }
}

async fn keep_linked(shared: &Shared, index: usize, stop: CancellationToken) {
    let mut backoff = FIRST_BACKOFF;
    let mut generation = shared.registry.generation();
    loop {
        if shared.registry.link_unneeded(index) {
            info!("station removed from the configuration and not in use: control link ended");
            shared
                .registry
                .link_down(index, "removed from the configuration");
            return;
        }
        let started = Instant::now();
        let ended = tokio::select! {
            ended = link_once(shared, index) => ended,
            () = stop.cancelled() => return,
        };
        shared.registry.release_station_id(index);
        let reason = match ended {
            Ok(Closed::Renew) => {
                // A planned reopen: the station stays up for users meanwhile (a failure of
                // the new link marks it down).
                info!("control link reopened before its Kerberos context ends");
                continue;
            }
            Ok(Closed::Reconfigured) => {
                info!("control link reopened: a reload changed the station");
                backoff = FIRST_BACKOFF;
                continue;
            }
            Ok(Closed::Other(reason)) => {
                info!(reason = %reason, "control link closed");
                reason
            }
            Err(e) => {
                warn!(error = %e, "control link down");
                e.to_string()
            }
        };
        shared.registry.link_down(index, &reason);
        if started.elapsed() > MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        generation.borrow_and_update();
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            // A reload may have corrected the address: try it at once.
            () = reconfigured(&mut generation) => {
                backoff = FIRST_BACKOFF;
                continue;
            }
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Once the registry was reconfigured (a reload); pending forever if it never is.
async fn reconfigured(generation: &mut tokio::sync::watch::Receiver<u64>) {
    if generation.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Why a link ended without an error.
enum Closed {
    /// Its Kerberos context is about to end: reopen at once.
    Renew,
    /// A reload changed the station's address or principal, or removed it: reopen at once
    /// (or end, see `keep_linked`).
    Reconfigured,
    /// Anything else, for the log.
    Other(String),
}

/// When to reopen a link whose context has `remaining` left: [`RENEW_BEFORE_EXPIRY`] before
/// it ends, but never in less than half of it (short test tickets would reopen in a loop).
fn renew_after(remaining: Duration) -> Duration {
    remaining
        .saturating_sub(RENEW_BEFORE_EXPIRY)
        .max(remaining / 2)
}

/// One life of the link: connect, claim the id, sync, serve; returns why it ended.
async fn link_once(shared: &Shared, index: usize) -> Result<Closed> {
    let mut generation = shared.registry.generation();
    generation.borrow_and_update();
    let Some(config) = shared.registry.station(index) else {
        return Ok(Closed::Other("no such station".into()));
    };
    let timeout = shared.config.limits.station_timeout;
    let station::Linked {
        mut session,
        station_id,
        version,
    } = station::connect(&config, shared.initiator.clone(), timeout).await?;
    // A refused claim also keeps the station out of BIND until a claim of its own succeeds.
    if let Err(first) = shared.registry.claim_station_id(index, &station_id) {
        let reason = format!(
            "it presents station id {station_id}, which station {first} presents too; give \
             one of them its own id (delete its state_dir/station-id, or set station_id)"
        );
        error!(station_id = %station_id, other = %first, "two stations share one id; this one gets no users");
        let _ = shared
            .audit
            .append(
                Event::new("station.conflict")
                    .field("station_name", &config.name)
                    .field("station_id", &station_id)
                    .field("other_station", &first),
            )
            .await;
        return Err(Error::StationLink {
            station: config.name.clone(),
            reason,
        });
    }
    session.send(&LinkOpen::Control).await?;
    info!(station_id = %station_id, version, "control link up");
    // For the statistics plots only: a failure costs a name on a plot, not the link.
    if let Err(e) = shared.ledger.name_station(&station_id, &config.name) {
        warn!(error = %e, "cannot remember the station's name for statistics");
    }
    shared.registry.link_up(index, version);
    if version >= 3 {
        let heartbeat_ms =
            u32::try_from(shared.config.farm.heartbeat.as_millis()).unwrap_or(u32::MAX);
        session.send(&MasterMessage::Watch { heartbeat_ms }).await?;
    }
    if version >= POLICY_LINK_VERSION {
        session.send(&MasterMessage::Policy).await?;
    }
    let (after_seq, after_hash) = match shared.ledger.position(&station_id)? {
        Some(p) => (p.seq, Sha256::from_hex(&p.hash).unwrap_or(Sha256([0; 32]))),
        None => (0, Sha256([0; 32])),
    };
    session
        .send(&MasterMessage::Sync {
            after_seq,
            after_hash,
        })
        .await?;

    let watch = ReceiptWatch {
        shared,
        station_name: &config.name,
        station_id: &station_id,
        user_exported: None,
        conn: 0,
    };
    let renew_at = Instant::now() + renew_after(session.protection().remaining());
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut finish = shared.finish.subscribe();
    loop {
        tokio::select! {
            request = finish.recv() => {
                if let Ok((station, session_id)) = request {
                    if station == index && version >= 3 {
                        session.send(&MasterMessage::Finish { session_id }).await?;
                    }
                }
            }
            () = reconfigured(&mut generation) => {
                let now = shared.registry.station(index);
                let moved = now.is_none_or(|now| {
                    now.address != config.address || now.principal != config.principal
                });
                if moved || shared.registry.link_unneeded(index) {
                    return Ok(Closed::Reconfigured);
                }
            }
            _ = ping.tick() => {
                if shared.registry.link_unneeded(index) {
                    // Removed by a reload, and its last reservation has ended.
                    return Ok(Closed::Reconfigured);
                }
                if last_heard.elapsed() > PING_DEADLINE {
                    return Ok(Closed::Other(format!("no answer for {PING_DEADLINE:?}")));
                }
                session.send(&MasterMessage::Ping).await?;
            }
            () = tokio::time::sleep_until(renew_at.into()) => {
                return Ok(Closed::Renew);
            }
            message = session.recv::<StationMessage>() => {
                let message = match message {
                    Ok(m) => m,
                    Err(burnstand_wire::IoError::Closed) => {
                        return Ok(Closed::Other("station closed the link".into()));
                    }
                    Err(e) => return Err(e.into()),
                };
                last_heard = Instant::now();
                shared.registry.heard(index);
                match message {
                    StationMessage::GrantRequest(request) => {
                        let answer = decide(shared, index, &config.name, &station_id, &request).await;
                        session.send(&answer).await?;
                    }
                    StationMessage::Receipt(receipt) => watch.record(&receipt).await?,
                    StationMessage::Synced { head_seq, head_hash } => {
                        // Every receipt up to the head arrived (and was recorded) before
                        // SYNCED on this link: the next sync may start there.
                        shared.ledger.set_synced(&station_id, &LogPosition {
                            seq: head_seq,
                            hash: head_hash.to_hex(),
                        })?;
                        info!(head_seq, "receipts of this station are recorded up to its log's end");
                    }
                    StationMessage::Pong => {}
                    StationMessage::Policy { digest } => {
                        if shared.registry.policy_reported(index, digest) {
                            warn!(
                                station_policy = %digest,
                                master_policy = %shared.registry.policy_digest(),
                                "station runs another policy than the master: install the master's policy file on the station and reload it (systemctl reload burnstand-station)"
                            );
                        } else {
                            info!(policy = %digest, "station runs the master's policy");
                        }
                    }
                    StationMessage::State(report) => shared.registry.report(index, report),
                    StationMessage::Finished { session_id } => {
                        if let Some((_, teardown)) = shared.registry.finished(index, &session_id) {
                            crate::farm::released(shared, &teardown).await;
                        }
                    }
                }
            }
        }
    }
}

/// The policy's part of a grant decision: may the copy `request` asks for be written on a
/// `drive` station at `now`, counted over every copy in `usage` (the ledger)? `Err` carries
/// the reason for the user. No I/O, so every refusal is unit-tested.
pub fn policy_allows(
    policy: &Policy,
    drive: &str,
    request: &GrantRequest,
    now: SystemTime,
    usage: &(impl Usage + ?Sized),
) -> std::result::Result<(), String> {
    let who = Subject {
        exported: &request.user_exported,
        display: &request.user,
    };
    match policy.may_burn(&who, &request.sha256.to_hex(), drive, now, usage) {
        Ok(left) if left.allows(1) => Ok(()),
        Ok(_) => Err("no copies left".into()),
        Err(refusal) => Err(refusal.to_string()),
    }
}

/// Decides one grant request and, when granted, records it durably (see the module docs).
async fn decide(
    shared: &Shared,
    index: usize,
    station_name: &str,
    station_id: &str,
    request: &GrantRequest,
) -> MasterMessage {
    let refuse = |reason: String| {
        info!(copy_id = %request.copy_id, reason = %reason, "copy grant refused");
        MasterMessage::NoGrant {
            copy_id: request.copy_id.clone(),
            reason,
        }
    };
    let _one = shared.records.lock().await;
    if !shared
        .registry
        .holds(&request.user_exported, &request.session_id, index)
    {
        return refuse("the reservation this burn belongs to has ended".into());
    }
    let Some(drive) = shared.registry.station(index).map(|s| s.drive) else {
        return refuse("unknown station".into());
    };
    let now = SystemTime::now();
    let policy = shared.policy.get();
    if let Err(reason) = policy_allows(&policy, &drive, request, now, &*shared.ledger) {
        return refuse(reason);
    }
    let sha256 = request.sha256.to_hex();
    let copy = Copy {
        copy_id: request.copy_id.clone(),
        user: request.user_exported.clone(),
        sha256: sha256.clone(),
        station_id: station_id.to_owned(),
        at: now,
    };
    let record = Event::new(GRANT_EVENT)
        .field("copy_id", &request.copy_id)
        .field("station_name", station_name)
        .field("station_id", station_id)
        .field("session_id", &request.session_id)
        .field("user", &request.user)
        .field("user_exported", hex::encode(&request.user_exported))
        .field("image_id", &request.image_id)
        .field("image_name", &request.image_name)
        .field("sha256", &sha256)
        .field("copy", request.copy)
        .field("copies", request.copies);
    if let Err(e) = shared.audit.append(record).await {
        error!(error = %e, "cannot audit a copy grant; refusing it");
        return refuse("the master cannot record the copy right now; tell the lab staff".into());
    }
    if let Err(e) = shared.ledger.grant(&copy) {
        // The audit record stands and is imported into the ledger at the next start; until
        // then this copy is not counted, so refuse it rather than let it burn uncounted.
        error!(error = %e, "cannot write a copy grant to the ledger; refusing it");
        return refuse("the master cannot record the copy right now; tell the lab staff".into());
    }
    info!(copy_id = %request.copy_id, user = %request.user, image = %request.image_id, "copy granted");
    MasterMessage::Grant {
        copy_id: request.copy_id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use burnstand_wire::gss::Principal;

    use super::*;
    use crate::ledger::{from_unix, Ledger, SqliteLedger, LEDGER_FILE};

    const REALM: &str = "BURNSTAND.TEST";
    /// 2026-01-01T00:00:00Z
    const ENDS: u64 = 1_767_225_600;

    fn sha() -> String {
        "ab".repeat(32)
    }

    fn policy(extra: &str) -> Policy {
        let text = format!(
            "[[image]]\nsha256 = \"{}\"\nname = \"exam\"\nallow_users = [\"alice@{REALM}\"]\n{extra}\n",
            sha()
        );
        Policy::parse(&text, Path::new("policy.toml"), REALM).expect("a valid policy")
    }

    fn request(copy: u32, copies: u32) -> GrantRequest {
        GrantRequest {
            copy_id: "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b".into(),
            session_id: "0b8f7c3e-5d1a-4e2b-9c47-2f6d8e1a3b50".into(),
            user: format!("alice@{REALM}"),
            user_exported: Principal::parse(&format!("alice@{REALM}"))
                .expect("principal")
                .exported()
                .to_vec(),
            image_id: "exam".into(),
            image_name: "exam".into(),
            sha256: Sha256::from_hex(&sha()).expect("hex"),
            copy,
            copies,
        }
    }

    fn ledger() -> (tempfile::TempDir, SqliteLedger) {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = SqliteLedger::open(&dir.path().join(LEDGER_FILE)).expect("ledger");
        (dir, ledger)
    }

    /// A grant is decided at the moment of the copy, not of the BURN: copy 2 of a BURN whose
    /// entitlement ended after copy 1 is refused with the end date.
    #[test]
    fn an_entitlement_that_has_ended_gets_no_grant() {
        let (_dir, ledger) = ledger();
        let dated = policy("valid_until = \"2026-01-01T00:00:00Z\"");
        assert_eq!(
            policy_allows(&dated, "DVD", &request(1, 2), from_unix(ENDS - 1), &ledger),
            Ok(())
        );
        for now in [ENDS, ENDS + 1, ENDS + 86_400] {
            assert_eq!(
                policy_allows(&dated, "DVD", &request(2, 2), from_unix(now), &ledger),
                Err("the entitlement to burn exam ended at 2026-01-01T00:00:00Z".to_owned()),
                "at {now}"
            );
        }
    }

    /// The quota is counted over the ledger (every station's copies), one copy per grant.
    #[test]
    fn a_used_up_quota_gets_no_grant() {
        let (_dir, ledger) = ledger();
        let quota = policy("copies = 1");
        let now = from_unix(ENDS);
        assert_eq!(
            policy_allows(&quota, "DVD", &request(1, 1), now, &ledger),
            Ok(())
        );
        let granted = Copy {
            copy_id: "11111111-2222-4333-8444-555555555555".into(),
            user: request(1, 1).user_exported,
            sha256: sha(),
            station_id: "another-station".into(),
            at: now,
        };
        assert!(ledger.grant(&granted).expect("grant"));
        assert_eq!(
            policy_allows(&quota, "DVD", &request(1, 1), now, &ledger),
            Err("quota used up: 1 of 1 copies of exam".to_owned())
        );
    }
}
