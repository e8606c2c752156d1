//! The master's control link to every configured station (`docs/protocol.md` §5.9).
//!
//! One task per station keeps one authenticated link open (the master is the initiator, as
//! for SERV links) and reconnects with back-off when it drops. When it comes up the master
//! asks for every receipt it has not recorded (SYNC from its ledger's position for that
//! station) and records them. Then it serves the station's **copy grant** requests: a grant
//! is decided against the policy and the ledger over *all* stations, written to the audit log
//! (`copy.grant`, fsync) and the ledger, and only then answered — so every copy that may
//! start writing is counted before it does. Receipts the station pushes are recorded as they
//! come. A PING every [`PING_EVERY`] finds a dead link.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use burnstand_audit::Event;
use burnstand_policy::Subject;
use burnstand_wire::burner::Sha256;
use burnstand_wire::link::{GrantRequest, LinkOpen, MasterMessage, StationMessage};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use crate::error::{Error, Result};
use crate::ledger::Copy;
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
    for (index, station) in shared.config.stations.iter().enumerate() {
        let span = tracing::info_span!("control", station = %station.name);
        tasks.spawn(keep_linked(Arc::clone(shared), index, stop.clone()).instrument(span));
    }
    tasks
}

async fn keep_linked(shared: Arc<Shared>, index: usize, stop: CancellationToken) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let ended = tokio::select! {
            ended = link_once(&shared, index) => ended,
            () = stop.cancelled() => return,
        };
        shared.registry.release_station_id(index);
        match ended {
            Ok(reason) => info!(reason = %reason, "control link closed"),
            Err(e) => warn!(error = %e, "control link down"),
        }
        if started.elapsed() > MAX_BACKOFF {
            backoff = FIRST_BACKOFF;
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One life of the link: connect, claim the id, sync, serve; returns why it ended.
async fn link_once(shared: &Shared, index: usize) -> Result<String> {
    let Some(config) = shared.registry.station(index).cloned() else {
        return Ok("no such station".into());
    };
    let timeout = shared.config.limits.station_timeout;
    let station::Linked {
        mut session,
        station_id,
    } = station::connect(&config, shared.initiator.clone(), timeout).await?;
    if let Err(first) = shared.registry.claim_station_id(index, &station_id) {
        shared
            .registry
            .mark_down(index, shared.config.limits.station_retry_after);
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
    info!(station_id = %station_id, "control link up");
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
    let renew_at = Instant::now()
        + session
            .protection()
            .remaining()
            .saturating_sub(RENEW_BEFORE_EXPIRY);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if last_heard.elapsed() > PING_DEADLINE {
                    return Ok(format!("no answer for {PING_DEADLINE:?}"));
                }
                session.send(&MasterMessage::Ping).await?;
            }
            () = tokio::time::sleep_until(renew_at.into()) => {
                return Ok("Kerberos context ends; reopening".into());
            }
            message = session.recv::<StationMessage>() => {
                let message = match message {
                    Ok(m) => m,
                    Err(burnstand_wire::IoError::Closed) => return Ok("station closed the link".into()),
                    Err(e) => return Err(e.into()),
                };
                last_heard = Instant::now();
                match message {
                    StationMessage::GrantRequest(request) => {
                        let answer = decide(shared, index, &config.name, &station_id, &request).await;
                        session.send(&answer).await?;
                    }
                    StationMessage::Receipt(receipt) => watch.record(&receipt).await?,
                    StationMessage::Synced { head_seq } => {
                        info!(head_seq, "receipts of this station are recorded up to its log's end");
                    }
                    StationMessage::Pong => {}
                }
            }
        }
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
    let Some(drive) = shared.registry.station(index).map(|s| s.drive.clone()) else {
        return refuse("unknown station".into());
    };
    let who = Subject {
        exported: &request.user_exported,
        display: &request.user,
    };
    let sha256 = request.sha256.to_hex();
    let now = SystemTime::now();
    match shared
        .config
        .policy
        .may_burn(&who, &sha256, &drive, now, &*shared.ledger)
    {
        Ok(left) if left.allows(1) => {}
        Ok(_) => return refuse("no copies left".into()),
        Err(refusal) => return refuse(refusal.to_string()),
    }
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
