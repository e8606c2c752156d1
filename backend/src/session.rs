//! One connection from the master: handshake, trust check, OK or ERRNOTAVL, the identity
//! block, then the burner protocol until the connection ends.
//!
//! ```text
//! accept ─► GSSAPI (wire::io) ─► trusted master? ─no─► audit session.deny, close
//!                                     │yes
//!                          drive and audit usable? ─no─► audit session.refuse, ERRNOTAVL, close
//!                                     │yes
//!                                    OK ─► identity block ─► audit session.start
//!                                     │
//!                     requests ◄──────┴──────► events of a running burn job (STATUS, VERIFY…)
//! ```
//!
//! Requests and the events of a running burn are served from one `select!`: receiving
//! (`wire::io::Session::recv_bytes`) is cancel-safe, so an event that wins the race simply
//! drops the pending receive, is sent, and the receive starts again where it stopped. Sends
//! are never raced against anything (a half-written block would desynchronise the link).
//!
//! The session ends when the master closes, when a block does not frame or open (lost sync:
//! nothing after it can be trusted), when the Kerberos context ends, or when the station shuts
//! down. A running burn is then cancelled and its xorriso reaped before the session is gone.
//! A request that opens fine but does not parse is answered with ERROR BADREQUEST and the
//! session goes on. Everything before the burner protocol is in `session/open.rs`.

mod open;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burnstand_wire::burner::{Capabilities, ErrorCode, Event, MediumInfo, MediumState, Request};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::io::Session as WireSession;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::Span;

use crate::control;
use crate::error::{Result, StationError};
use crate::flood::{self, Kind};
use crate::job::{availability, BurnJob, CancelReason, CancelSlot, Outcome, EVENT_QUEUE};
use crate::receipt::{self, Who};
use crate::server::Admission;
use crate::station::Station;
use open::{open, Opened};

pub use open::MAX_IDENTITY_FIELD_LEN;

/// A burn job this session started.
struct RunningBurn {
    cancel: CancellationToken,
    reason: CancelSlot,
    events: mpsc::Receiver<Event>,
    handle: JoinHandle<Outcome>,
}

/// Serves one accepted connection to its end. Never fails: what went wrong is logged (and
/// audited where the station made a decision).
pub async fn serve(
    station: Arc<Station>,
    tcp: TcpStream,
    peer: SocketAddr,
    conn: u64,
    admission: Admission,
    shutdown: CancellationToken,
) {
    match open(&station, tcp, peer, conn, admission, &shutdown).await {
        Some(Opened::Session(wire, who, _slot)) => {
            // Reserved on the live state until the session has ended (burn reaped, end audited).
            let _reserved = station.state().open_session(conn, &who.user);
            let mut session = Session {
                station,
                wire,
                who: Arc::new(who),
                burn: None,
                shutdown,
            };
            let end = session.run().await;
            session.close(&end).await;
            session
                .station
                .control()
                .session_ended(&session.who.session_id);
        }
        Some(Opened::Push(wire, master, push, _slot)) => {
            let pusher = crate::push::Pusher {
                conn,
                peer,
                master: &master,
            };
            crate::push::serve(&station, wire, pusher, *push, &shutdown).await;
        }
        Some(Opened::Control(wire, master)) => {
            if let Err(e) = station
                .audit(receipt::control_link(
                    station.id(),
                    conn,
                    peer,
                    &master,
                    "up",
                ))
                .await
            {
                tracing::error!(error = %e, "cannot audit the control link; closing it");
                return;
            }
            let path = station.config().audit_log.clone();
            let policy = station.live_policy().digests();
            let reason = control::serve(
                station.control(),
                station.state(),
                policy,
                path,
                wire,
                shutdown,
            )
            .await;
            let _ = station
                .audit(receipt::control_link(
                    station.id(),
                    conn,
                    peer,
                    &master,
                    &reason,
                ))
                .await;
        }
        None => {}
    }
}

/// Why a session ended, as its `session.end` record says.
#[derive(Debug)]
enum End {
    /// The station is shutting down.
    ShuttingDown,
    /// The Kerberos context the master authenticated with ran out.
    TicketExpired,
    /// The master closed the connection between blocks.
    MasterClosed,
    /// A block did not frame or open, or the socket failed: nothing after it can be trusted.
    Lost(burnstand_wire::IoError),
    /// An event (a burn's report, an idle AVAIL/EMPTY) could not be sent.
    CannotSend(StationError),
    /// The answer to a request could not be sent.
    CannotAnswer(StationError),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::ShuttingDown => f.write_str("station shutting down"),
            End::TicketExpired => f.write_str("Kerberos ticket expired"),
            End::MasterClosed => f.write_str("master closed the connection"),
            End::Lost(e) => write!(f, "connection lost: {e}"),
            End::CannotSend(e) => write!(f, "cannot send: {e}"),
            End::CannotAnswer(e) => write!(f, "cannot answer: {e}"),
        }
    }
}

struct Session {
    station: Arc<Station>,
    wire: WireSession<TcpStream>,
    who: Arc<Who>,
    burn: Option<RunningBurn>,
    shutdown: CancellationToken,
}

/// Whether CAP lists an image for this user, given what the policy says about it: while
/// entitled, even with the quota used up or the entitlement expired (BURN then says why with
/// DENIED). Anything else — no entitlement, one for another drive kind — is not offered, and a
/// BURN of it is answered exactly like an id that does not exist (protocol.md §6.5), so that
/// hidden images, their names and digests cannot be probed.
fn offered(
    verdict: &std::result::Result<burnstand_policy::Remaining, burnstand_policy::Refusal>,
) -> bool {
    use burnstand_policy::Refusal;
    matches!(
        verdict,
        Ok(_) | Err(Refusal::QuotaUsedUp { .. } | Refusal::Expired { .. })
    )
}

/// The answer to a BURN of an image that is not offered to this user: the same for an id
/// that does not exist and for a hidden one, so it must only depend on what the user sent.
fn unknown_image_text(image_id: &str) -> String {
    format!("no image {image_id:?} is offered here; send CAPAB for the list")
}

/// The next event of the running burn; `None` once the job has ended. Pending forever when
/// nothing runs, so it can sit in a `select!`.
async fn next_burn_event(burn: &mut Option<RunningBurn>) -> Option<Event> {
    match burn {
        Some(b) => b.events.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    /// The request loop; returns why it ended.
    async fn run(&mut self) -> End {
        let expires = Instant::now() + self.wire.protection().remaining();
        let idle_period = self.station.config().idle_report();
        let mut idle = tokio::time::interval_at(
            Instant::now() + idle_period.unwrap_or(Duration::from_secs(3600)),
            idle_period.unwrap_or(Duration::from_secs(3600)),
        );
        idle.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => return End::ShuttingDown,
                _ = tokio::time::sleep_until(expires) => return End::TicketExpired,
                event = next_burn_event(&mut self.burn) => {
                    let sent = match event {
                        Some(event) => self.send(&event).await,
                        None => {
                            self.reap_burn().await;
                            Ok(())
                        }
                    };
                    if let Err(e) = sent {
                        return End::CannotSend(e);
                    }
                }
                message = self.wire.recv_bytes() => {
                    let bytes = match message {
                        Ok(bytes) => bytes,
                        Err(burnstand_wire::IoError::Closed) => return End::MasterClosed,
                        Err(e) => return End::Lost(e),
                    };
                    let reply = match from_bytes::<Request>(&bytes) {
                        Ok(request) => self.handle(request).await,
                        Err(e) => {
                            tracing::info!(error = %e, "undecodable request");
                            self.send(&Event::error(ErrorCode::BadRequest, format!("not a burner request: {e}"))).await
                        }
                    };
                    if let Err(e) = reply {
                        return End::CannotAnswer(e);
                    }
                }
                _ = idle.tick(), if idle_period.is_some() && self.burn.is_none() => {
                    if let Ok(Some(info)) = self.medium_if_free().await {
                        if let Err(e) = self.send(&availability(&info)).await {
                            return End::CannotSend(e);
                        }
                    }
                }
            }
        }
    }

    async fn send(&mut self, event: &Event) -> Result<()> {
        self.wire.send(event).await.map_err(StationError::from)
    }

    /// Answers one request.
    async fn handle(&mut self, request: Request) -> Result<()> {
        tracing::debug!(request = request.word(), "request");
        match request {
            Request::Capab => {
                let event = self.capabilities().await;
                self.send(&event).await
            }
            Request::WhatIs => {
                let event = match self.medium_if_free().await {
                    Ok(Some(info)) => Event::Info(info),
                    Ok(None) => Event::Info(MediumInfo {
                        state: MediumState::Unknown,
                        profile: "the drive is busy burning".into(),
                        rewritable: false,
                        used_bytes: 0,
                        free_bytes: 0,
                    }),
                    Err(e) => Event::Error(e.report()),
                };
                self.send(&event).await
            }
            Request::Burn { image_id, copies } => {
                let event = self.start_burn(&image_id, copies).await;
                match event {
                    Some(event) => self.send(&event).await,
                    None => Ok(()),
                }
            }
            Request::Open => {
                let event = self.open_tray().await;
                self.send(&event).await
            }
            Request::Cancel => self.cancel().await,
        }
    }

    /// The medium report, or `None` while someone holds the drive.
    ///
    /// Methods of [`Session`] take `&mut self` even when they only read: the session owns a
    /// GSSAPI context, which is `Send` but not `Sync`, so a future holding `&Session` across
    /// an await could not move between threads.
    async fn medium_if_free(&mut self) -> Result<Option<MediumInfo>> {
        if self.burn.is_some() {
            return Ok(None);
        }
        let Some(_hold) = self.station.try_hold() else {
            return Ok(None);
        };
        self.station.drive().medium().await.map(Some)
    }

    async fn capabilities(&mut self) -> Event {
        let images = match crate::push::refresh_catalog(&self.station).await {
            Ok(images) => images,
            Err(e) => {
                tracing::error!(error = %e, "catalog unreadable");
                return Event::error(
                    ErrorCode::Unavailable,
                    "the image catalog cannot be read; tell the lab staff",
                );
            }
        };
        let medium = match self.medium_if_free().await {
            Ok(Some(info)) => info.state,
            Ok(None) => MediumState::Unknown,
            Err(e) => {
                tracing::warn!(error = %e, "medium query failed");
                MediumState::Unknown
            }
        };
        Event::Cap(Capabilities {
            station_id: self.station.id().to_owned(),
            friendly_name: self.station.config().friendly_name.clone(),
            drive: self.station.drive().kind(),
            medium,
            images: images
                .iter()
                .filter(|i| offered(&self.station.may_burn(&self.who, &i.digests.sha256)))
                .map(|i| i.info())
                .collect(),
        })
    }

    /// Audits a refused BURN; the returned event tells the user (or says the audit failed).
    async fn deny(&mut self, image_id: &str, reason: &str, code: ErrorCode, text: String) -> Event {
        let record = receipt::burn_deny(&self.who, image_id, reason);
        let address = flood::client_ip(&self.who);
        match flood::audit_within(
            &self.station,
            Kind::BurnDeny,
            &self.who.user,
            address,
            record,
        )
        .await
        {
            // Recorded, or over the user's budget and counted: refused either way.
            Ok(_) => Event::error(code, text),
            Err(e) => Event::Error(e.report()),
        }
    }

    /// Starts a burn job; `Some(event)` to send when the burn was refused.
    async fn start_burn(&mut self, image_id: &str, copies: u32) -> Option<Event> {
        if self.burn.is_some() {
            let text =
                "this session is already burning; wait for it to finish or send CANCEL".to_owned();
            return Some(
                self.deny(image_id, "session already burning", ErrorCode::Busy, text)
                    .await,
            );
        }
        let found = crate::push::refresh_catalog(&self.station)
            .await
            .map(|images| images.into_iter().find(|i| i.id == image_id));
        let image = match found {
            Ok(Some(image)) => image,
            Ok(None) => {
                let text = unknown_image_text(image_id);
                return Some(
                    self.deny(image_id, "unknown image", ErrorCode::UnknownImage, text)
                        .await,
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "catalog unreadable");
                let text = "the image catalog cannot be read; tell the lab staff".to_owned();
                return Some(
                    self.deny(image_id, "catalog unreadable", ErrorCode::Unavailable, text)
                        .await,
                );
            }
        };
        let verdict = self.station.may_burn(&self.who, &image.digests.sha256);
        if !offered(&verdict) {
            // Hidden from this user: answered like an id that does not exist; the real reason
            // goes to the audit log only.
            let reason = verdict.err().map_or_else(String::new, |r| r.to_string());
            let text = unknown_image_text(image_id);
            return Some(
                self.deny(image_id, &reason, ErrorCode::UnknownImage, text)
                    .await,
            );
        }
        match verdict {
            Ok(left) if left.allows(copies) => {}
            Ok(left) => {
                let text = format!(
                    "you asked for {copies} copies of {image_id:?} but your quota allows {} more",
                    left.0.unwrap_or(0)
                );
                return Some(
                    self.deny(image_id, "copies beyond the quota", ErrorCode::Denied, text)
                        .await,
                );
            }
            Err(refusal) => {
                let text = refusal.to_string();
                return Some(
                    self.deny(image_id, &text, ErrorCode::Denied, text.clone())
                        .await,
                );
            }
        }
        let Some(hold) = self.station.try_hold() else {
            let text = "the drive is busy with another burn; try again when it is done".to_owned();
            return Some(
                self.deny(image_id, "drive busy", ErrorCode::Busy, text)
                    .await,
            );
        };
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let cancel = self.shutdown.child_token();
        let reason = CancelSlot::default();
        let burning = self
            .station
            .state()
            .start_burn(&self.who.user, &image.name, copies);
        let job = BurnJob {
            station: Arc::clone(&self.station),
            who: Arc::clone(&self.who),
            image,
            copies,
            events: tx,
            cancel: cancel.clone(),
            reason: Arc::clone(&reason),
            hold,
            burning,
        };
        let span = Span::current();
        let handle = tokio::spawn(tracing::Instrument::instrument(job.run(), span));
        self.burn = Some(RunningBurn {
            cancel,
            reason,
            events: rx,
            handle,
        });
        None
    }

    async fn open_tray(&mut self) -> Event {
        if self.burn.is_some() {
            return Event::error(
                ErrorCode::Busy,
                "the tray stays closed during a burn; send CANCEL first",
            );
        }
        let Some(_hold) = self.station.try_hold() else {
            return Event::error(
                ErrorCode::Busy,
                "the drive is busy with another burn; try again when it is done",
            );
        };
        match self.station.drive().eject().await {
            Ok(()) => match self
                .station
                .audit(receipt::tray_open(&self.who, "OPEN request"))
                .await
            {
                Ok(()) => Event::TrayOpen,
                Err(e) => Event::Error(e.report()),
            },
            Err(e) => Event::Error(e.report()),
        }
    }

    /// CANCEL: stops the job, forwards what it still reported, and answers once xorriso is
    /// gone.
    async fn cancel(&mut self) -> Result<()> {
        let Some(burn) = &self.burn else {
            return self
                .send(&Event::error(
                    ErrorCode::NotBurning,
                    "nothing is burning in this session",
                ))
                .await;
        };
        let _ = burn.reason.set(CancelReason::Request);
        burn.cancel.cancel();
        let outcome = self.finish_burn(true).await?;
        match outcome {
            Outcome::Cancelled => self.send(&Event::Cancelled).await,
            Outcome::Done | Outcome::Failed => {
                self.send(&Event::error(
                    ErrorCode::NotBurning,
                    "the burn had already finished",
                ))
                .await
            }
        }
    }

    /// Waits for the running job to end, forwarding (or, when the session is going away,
    /// dropping) its events so it never blocks on a full queue.
    async fn finish_burn(&mut self, forward: bool) -> Result<Outcome> {
        let Some(mut burn) = self.burn.take() else {
            return Ok(Outcome::Done);
        };
        let mut send_error = None;
        while let Some(event) = burn.events.recv().await {
            if forward && send_error.is_none() {
                if let Err(e) = self.wire.send(&event).await {
                    send_error = Some(e);
                }
            }
        }
        let outcome = burn.handle.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "burn task failed");
            Outcome::Failed
        });
        // Every event of the job is out (or the session is going): a master releasing the
        // station may now end the session without cutting anything the user should read.
        self.station.control().job_ended(&self.who.session_id);
        match send_error {
            Some(e) => Err(e.into()),
            None => Ok(outcome),
        }
    }

    /// The job's channel closed: collect its outcome.
    async fn reap_burn(&mut self) {
        if let Ok(outcome) = self.finish_burn(false).await {
            tracing::info!(?outcome, "burn ended");
        }
    }

    /// Ends the session: cancels a running burn (and waits until xorriso is reaped), sends
    /// what the burn still reported — its RECEIPT above all — and CANCELLED while the master
    /// still reads (it keeps reading after the user left, `docs/protocol.md` §5.5), audits
    /// the end, closes the connection.
    async fn close(&mut self, end: &End) {
        if let Some(burn) = &self.burn {
            let _ = burn.reason.set(if self.shutdown.is_cancelled() {
                CancelReason::ShuttingDown
            } else {
                CancelReason::SessionEnded
            });
            burn.cancel.cancel();
            if let Ok(Outcome::Cancelled) = self.finish_burn(true).await {
                let _ = self.send(&Event::Cancelled).await;
            }
        }
        let reason = end.to_string();
        if let Err(e) = self
            .station
            .audit(receipt::session_end(&self.who, &reason))
            .await
        {
            tracing::error!(error = %e, "cannot audit the session end");
        }
        tracing::info!(reason, "session ended");
    }
}
