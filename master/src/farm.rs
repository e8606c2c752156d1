//! The master's farm duties that belong to no single connection: watching station health
//! (logged and audited once per change), and the admin commands (`docs/protocol.md` §5.10.4).

use std::sync::Arc;
use std::time::Duration;

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::farm::AdminReply;
use burnstand_wire::gss::Principal;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::audit;
use crate::registry::{Release, Teardown};
use crate::server::Shared;

/// How often the watcher looks at station health and the queue. Quarantine itself needs no
/// tick (BIND and LIST compute it from the last heartbeat); this only bounds how late a
/// change is logged, and how late a station freed by the clock (a quarantine that ran out)
/// is handed to the queue.
pub const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Runs until `stop`: logs and audits each station's quarantine and recovery, and hands
/// freed stations to the queue.
pub(crate) async fn watch(shared: Arc<Shared>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut audit_healthy = shared.audit.is_healthy();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        // An audit log that failed closed is shown on the status page within a tick.
        if shared.audit.is_healthy() != audit_healthy {
            audit_healthy = !audit_healthy;
            shared.registry.changed();
        }
        let changes = shared.registry.health_changes();
        if !changes.is_empty() {
            shared.registry.changed();
        }
        for change in changes {
            let Some(name) = shared
                .registry
                .station(change.station)
                .map(|s| s.name.clone())
            else {
                continue;
            };
            match &change.quarantined {
                Some(reason) => error!(
                    station = %name,
                    reason = %reason,
                    "station quarantined: no user is sent to it until it is healthy; check the station host"
                ),
                None => info!(station = %name, "station healthy again"),
            }
            let event = audit::station_health(&name, change.quarantined.as_deref());
            if let Err(e) = shared.audit.append(event).await {
                warn!(error = %e, "cannot audit a station's health change");
            }
        }
        crate::waiting::hand_over(&shared).await;
    }
}

/// A reservation an admin's RELEASE ended: recorded like any teardown.
pub(crate) async fn released(shared: &Shared, teardown: &Teardown) {
    info!(user = %teardown.user, station = ?teardown.station, "reservation released by an admin");
    let event = audit::ended_by_master(teardown, crate::connection::RELEASED_BY_ADMIN);
    if let Err(e) = shared.audit.append(event).await {
        warn!(error = %e, "cannot audit a released reservation");
    }
}

/// Serves one admin command for `principal`. The command is audited before it is answered
/// (or refused: a non-admin's attempt is audited too); `None` if the audit log failed.
pub(crate) async fn admin(
    shared: &Arc<Shared>,
    conn: u64,
    principal: &Principal,
    peer: std::net::SocketAddr,
    command: &Command,
) -> Option<AdminReply> {
    let target = match command {
        Command::Drain(s) | Command::Resume(s) | Command::Release(s) => s.as_str(),
        _ => "",
    };
    let allowed = shared.config.admin.permits(principal);
    let word = if allowed {
        command.word().to_owned()
    } else {
        format!("{} (refused: not an admin)", command.word())
    };
    let event = audit::admin(conn, principal, &word, target);
    let recorded = if allowed {
        match shared.audit.append(event).await {
            Ok(_) => true,
            Err(e) => {
                warn!(error = %e, "cannot audit an admin command");
                false
            }
        }
    } else {
        // A refusal's record goes through the user's budget like any other refusal.
        let kind = crate::flood::Kind::CommandInvalid;
        crate::flood::record_within(shared, kind, principal.as_str(), peer.ip(), event).await
    };
    if !recorded {
        return None;
    }
    if !allowed {
        return Some(AdminReply::Refused(Reply::ErrDenied(
            "you are not in the master's admin group".into(),
        )));
    }
    let station = |name: &str| {
        shared.registry.station_index(name).ok_or_else(|| {
            AdminReply::Refused(Reply::ErrDenied(format!("no station is named {name:?}")))
        })
    };
    let reply = match command {
        Command::StationReport => AdminReply::Stations(shared.registry.station_reports()),
        Command::QueueReport => AdminReply::Queue(crate::waiting::report(shared)),
        Command::Who => AdminReply::Who(shared.registry.who()),
        Command::QueueClear => match crate::waiting::clear(shared).await {
            Some(n) => AdminReply::Done(format!("{n} waiting users removed from the queue")),
            None => AdminReply::Refused(Reply::ErrDenied(
                "the queue's store failed; nothing was cleared (see the master's log)".into(),
            )),
        },
        Command::Drain(name) => match station(name) {
            Ok(index) => {
                shared.registry.set_drained(index, true);
                AdminReply::Done(format!(
                    "{name} drained: its running reservation goes on, no new one is made"
                ))
            }
            Err(refused) => refused,
        },
        Command::Resume(name) => match station(name) {
            Ok(index) => {
                shared.registry.set_drained(index, false);
                AdminReply::Done(format!("{name} takes reservations again"))
            }
            Err(refused) => refused,
        },
        Command::Release(name) => match station(name) {
            Ok(index) => match shared.registry.release(index) {
                Release::Now { teardown, .. } => {
                    released(shared, &teardown).await;
                    AdminReply::Done(format!("{name} released"))
                }
                Release::AfterCopy {
                    session_id,
                    stations,
                    burning,
                } => {
                    let told = stations
                        .into_iter()
                        .all(|s| shared.finish.send((s, session_id.clone())).is_ok());
                    match (told, burning) {
                        (true, true) => AdminReply::Done(format!(
                            "{name} is burning: its reservation ends when the running copy is done"
                        )),
                        (true, false) => AdminReply::Done(format!(
                            "{name} is released as soon as its station confirms that no copy runs"
                        )),
                        // No control link right now: the reservation ends with its session.
                        (false, _) => AdminReply::Done(format!(
                            "{name} cannot be told to stop after this copy (no control link): its reservation ends when the station answers, or with the session"
                        )),
                    }
                }
                Release::NotReserved => AdminReply::Done(format!("{name} was not reserved")),
            },
            Err(refused) => refused,
        },
        _ => AdminReply::Refused(Reply::ErrInvCmd),
    };
    Some(reply)
}
