//! `burnstand burn`: on a reserved station, resolve the image, BURN, follow the progress,
//! collect each copy's VERIFY, and handle Ctrl-C by cancelling the burn at the station.
//!
//! ```text
//! module                         station
//! BURN id copies        ──►
//!                       ◄──  STATUS WRITING 1/N 0 %        accepted (or ERROR: refused)
//!                       ◄──  STATUS …  %                   progress bar
//!                       ◄──  VERIFY 1/N passed|failed       one per copy
//!                       ◄──  TRAYOPEN, AVAIL|EMPTY          after each copy
//! Ctrl-C: CANCEL        ──►
//!                       ◄──  CANCELLED                      xorriso is gone, the drive free
//! ```
//!
//! Releasing the reservation (QUIT) is the caller's job, after this returns.

use std::time::{Duration, SystemTime};

use burnstand_wire::burner::{ErrorCode, Event, ImageInfo, Request};
use tokio::signal::unix::{signal, SignalKind};

use crate::module::BurnerModule;
use crate::output::Output;
use crate::progress::ProgressDisplay;
use crate::receipt::{BurnResult, CopyResult, Receipt, TypeRef};
use crate::reservation::Reservation;
use crate::ticket::{utc, Ticket};
use crate::ClientError;

/// After the last VERIFY, how long to wait for the station's tray and medium report.
pub const AFTER_BURN_WAIT: Duration = Duration::from_secs(20);
/// After Ctrl-C, how long to wait for CANCELLED (the station gives xorriso 5 s after SIGTERM
/// before SIGKILL, then reaps it).
pub const CANCEL_WAIT: Duration = Duration::from_secs(20);

/// What to burn.
#[derive(Debug, Clone)]
pub struct BurnRequest {
    /// An image id or name, as the user typed it.
    pub image: String,
    pub copies: u32,
    /// How many drives to spread the copies over (`--drives`, at most the copies and
    /// [`crate::reserve::MAX_JOB_DRIVES`]); 1 burns them one after the other on one station.
    pub drives: u32,
    /// Where to append the station's receipt records (`--save-receipt`).
    pub save_receipt: Option<std::path::PathBuf>,
}

impl BurnRequest {
    /// The drives to ask for: `--drives` (all the copies need without it), at most the copies
    /// and [`crate::reserve::MAX_JOB_DRIVES`], at least one.
    pub fn drives_for(copies: u32, drives: Option<u32>) -> u32 {
        copies
            .min(drives.unwrap_or(u32::MAX))
            .clamp(1, crate::reserve::MAX_JOB_DRIVES)
    }
}

/// Who burns what where: the receipt of a burn on `station` before anything is burned.
pub struct ReceiptBase<'a> {
    pub ticket: &'a Ticket,
    /// The master's principal, and the address burnstand connected to.
    pub master: &'a str,
    pub master_address: &'a str,
    pub station_type: &'a burnstand_wire::command::StationType,
    pub session_id: Option<&'a str>,
}

impl ReceiptBase<'_> {
    /// The receipt of `copies` copies of `image` on the station `module` is open to.
    pub fn receipt(
        &self,
        image: &ImageInfo,
        copies: u32,
        station: &burnstand_wire::burner::Capabilities,
        module: &BurnerModule,
    ) -> Receipt {
        let mut receipt = Receipt::for_image(image, copies);
        receipt.principal = self.ticket.principal().to_owned();
        receipt.master = self.master.to_owned();
        receipt.master_address = self.master_address.to_owned();
        receipt.station_type = TypeRef {
            id: self.station_type.id,
            name: self.station_type.name.clone(),
        };
        receipt.station_id = station.station_id.clone();
        receipt.station_name = station.friendly_name.clone();
        receipt.drive = station.drive.to_string();
        receipt.module_address = module.local_address().map(|a| a.to_string());
        receipt.session_id = self.session_id.map(str::to_owned);
        receipt
    }
}

/// Finds the image the user means among those the station offers: by id, then by exact name,
/// then by name in any case (which must be unambiguous).
pub fn resolve_image<'a>(
    images: &'a [ImageInfo],
    wanted: &str,
    station: &str,
) -> Result<&'a ImageInfo, ClientError> {
    if let Some(image) = images.iter().find(|i| i.id == wanted) {
        return Ok(image);
    }
    if let Some(image) = images.iter().find(|i| i.name == wanted) {
        return Ok(image);
    }
    let folded: Vec<&ImageInfo> = images
        .iter()
        .filter(|i| i.name.eq_ignore_ascii_case(wanted) || i.id.eq_ignore_ascii_case(wanted))
        .collect();
    match folded.as_slice() {
        [one] => Ok(one),
        [] => Err(ClientError::UnknownImage {
            station: station.to_owned(),
            image: wanted.to_owned(),
            available: images.iter().map(|i| i.id.clone()).collect(),
        }),
        several => Err(ClientError::Usage(format!(
            "{wanted:?} could mean several images ({}); give the image id",
            several
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Runs the burn on `res`. Returns the receipt once the station accepted the BURN (also
/// when it then failed or was cancelled), and the burn's outcome.
pub async fn burn(
    res: &mut Reservation,
    ticket: &Ticket,
    master_address: &str,
    request: &BurnRequest,
    out: &Output,
) -> (Option<Receipt>, Result<(), ClientError>) {
    let station = res.station.friendly_name.clone();
    let image = match resolve_image(&res.station.images, &request.image, &station) {
        Ok(image) => image.clone(),
        Err(e) => return (None, Err(e)),
    };
    let base = ReceiptBase {
        ticket,
        master: &res.master,
        master_address,
        station_type: &res.station_type,
        session_id: res.session_id.as_deref(),
    };
    let mut receipt = base.receipt(&image, request.copies, &res.station, &res.module);

    // Registered before BURN goes out, so no Ctrl-C is lost; from here on Ctrl-C no longer
    // kills burnstand, it cancels the burn.
    let mut interrupt = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => {
            return (
                None,
                Err(ClientError::Internal(format!("cannot handle Ctrl-C: {e}"))),
            )
        }
    };
    // After a queue wait Ctrl-C ended burnstand; from here on it cancels the burn.
    res.take_over_ctrl_c();
    out.note(&format!(
        "burning \"{}\" ({}) on {station}, {} cop{}; Ctrl-C cancels",
        image.name,
        image.id,
        request.copies,
        if request.copies == 1 { "y" } else { "ies" }
    ));
    receipt.started = utc(SystemTime::now());
    let mut progress = ProgressDisplay::new(out.is_json(), image.size);
    if let Err(e) = res
        .module
        .send(&Request::Burn {
            image_id: image.id.clone(),
            copies: request.copies,
        })
        .await
    {
        return (None, Err(e));
    }

    let mut tracker = Tracker::new(receipt);
    let mut reported_at: Option<tokio::time::Instant> = None;
    loop {
        let after_burn = async {
            match reported_at {
                Some(at) => tokio::time::sleep_until(at + AFTER_BURN_WAIT).await,
                None => std::future::pending().await,
            }
        };
        let flow = tokio::select! {
            _ = interrupt.recv() => {
                progress.finish();
                if tracker.reported() {
                    // Every copy is reported already: nothing left to cancel.
                    break;
                }
                out.note(&format!("Ctrl-C: cancelling the burn on {station}…"));
                let give_up = async {
                    interrupt.recv().await;
                };
                let result = cancel(&mut res.module, &mut tracker, give_up).await;
                return tracker.finish_with(result);
            }
            () = after_burn => break,
            event = res.module.next_event() => match event {
                Ok(event) => tracker.event(event, &mut |show| match show {
                    Show::Progress(p) => progress.update(&p),
                    Show::CopyDone(line) => {
                        progress.finish();
                        progress.println(&line);
                    }
                    Show::Line(line) => progress.println(&line),
                }),
                Err(e) => tracker.lost(e),
            },
        };
        match flow {
            Flow::Running => {}
            Flow::Reported => {
                reported_at.get_or_insert_with(tokio::time::Instant::now);
            }
            Flow::Over => break,
        }
    }
    progress.finish();
    tracker.finish()
}

/// What the display shows for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Show {
    /// A STATUS report for the progress bar.
    Progress(burnstand_wire::burner::Progress),
    /// A copy's verify result: ends its bar.
    CopyDone(String),
    /// A note for the person.
    Line(String),
}

/// Where a burn stands after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next event.
    Running,
    /// Every copy is reported: read on only for the station's tray and disc report, bounded
    /// by [`AFTER_BURN_WAIT`].
    Reported,
    /// Nothing more to read: [`Tracker::finish`].
    Over,
}

/// The burn's state, fed with the station's events (no I/O): it fills the receipt and decides
/// the outcome.
pub struct Tracker {
    receipt: Receipt,
    /// The station said STATUS or VERIFY: the BURN was accepted.
    accepted: bool,
    /// Every copy has its VERIFY (or one failed, which ends the request).
    reported: bool,
    error: Option<ClientError>,
}

impl Tracker {
    /// Tracks a burn whose receipt so far is `receipt`.
    pub fn new(receipt: Receipt) -> Self {
        Tracker {
            receipt,
            accepted: false,
            reported: false,
            error: None,
        }
    }

    /// Whether every copy has been reported.
    pub fn reported(&self) -> bool {
        self.reported
    }

    /// Takes one event; `show` gets what the person should see.
    pub fn event(&mut self, event: Event, show: &mut impl FnMut(Show)) -> Flow {
        let station = self.receipt.station_name.clone();
        match event {
            Event::Status(p) => {
                self.accepted = true;
                show(Show::Progress(p));
            }
            Event::Verify(v) => {
                self.accepted = true;
                let verdict = if v.passed {
                    "verified: the read-back MD5 matches the image"
                } else {
                    "VERIFY FAILED: the read-back MD5 differs from the image"
                };
                show(Show::CopyDone(format!(
                    "copy {}/{} {verdict}",
                    v.copy, v.copies
                )));
                self.receipt.copies.push(CopyResult::from(&v));
                // A failed copy ends the request: the station burns no further copies.
                if !v.passed || v.copy >= v.copies {
                    self.reported = true;
                    self.receipt.finished = utc(SystemTime::now());
                }
            }
            Event::TrayOpen if self.reported => {
                show(Show::Line(format!(
                    "the tray of {station} is open: take your disc"
                )));
            }
            Event::TrayOpen => {
                let next = self.receipt.copies.len() + 1;
                show(Show::Line(format!(
                    "the tray of {station} is open: take the disc out and put in a blank one for copy {next}"
                )));
            }
            // The station's last word after the last copy: what is in the drive now.
            Event::Avail | Event::Empty if self.reported => return Flow::Over,
            Event::Error(report) if self.reported => {
                // After the burn, e.g. the tray did not open: the burn itself stands.
                show(Show::Line(format!("note: {station} says {report}")));
            }
            Event::Error(report) => {
                self.error = Some(ClientError::Station {
                    station,
                    code: report.code,
                    text: report.text,
                });
                return Flow::Over;
            }
            Event::Receipt(r) => self.station_receipt(r),
            // Idle reports, and answers to nothing this burn asked: not part of the burn.
            Event::Avail | Event::Empty | Event::Cap(_) | Event::Info(_) | Event::Cancelled => {}
        }
        if self.reported {
            Flow::Reported
        } else {
            Flow::Running
        }
    }

    /// Keeps a station's receipt of one copy (whatever ended it: verified, failed, cancelled)
    /// and learns the session id from it.
    fn station_receipt(&mut self, r: burnstand_wire::burner::Receipt) {
        self.accepted = true;
        if self.receipt.session_id.is_none() {
            self.receipt.session_id = serde_json::from_str::<serde_json::Value>(&r.line)
                .ok()
                .and_then(|v| v.get("session_id")?.as_str().map(str::to_owned));
        }
        self.receipt
            .station_records
            .push(crate::receipt::StationRecord {
                seq: r.seq,
                hash: r.hash.to_hex(),
                line: r.line,
            });
    }

    /// The connection failed. After the last copy's VERIFY that costs nothing.
    pub fn lost(&mut self, e: ClientError) -> Flow {
        if !self.reported {
            self.error = Some(e);
        }
        Flow::Over
    }

    /// The outcome: the receipt (once the station accepted the burn) and the result.
    pub fn finish(mut self) -> (Option<Receipt>, Result<(), ClientError>) {
        let result = match self.error.take() {
            Some(e) => Err(e),
            None => {
                let failed = self.receipt.failed_copies();
                if failed > 0 {
                    Err(ClientError::VerifyFailed {
                        failed,
                        copies: u32::try_from(self.receipt.copies.len()).unwrap_or(u32::MAX),
                    })
                } else {
                    self.receipt.result = BurnResult::Verified;
                    Ok(())
                }
            }
        };
        self.finish_with(result)
    }

    /// The outcome when the caller decided the result (a cancel).
    pub fn finish_with(
        mut self,
        result: Result<(), ClientError>,
    ) -> (Option<Receipt>, Result<(), ClientError>) {
        if self.receipt.finished.is_empty() {
            self.receipt.finished = utc(SystemTime::now());
        }
        match &result {
            Ok(()) => self.receipt.result = BurnResult::Verified,
            Err(e) => {
                if self.receipt.result == BurnResult::Verified {
                    self.receipt.result = BurnResult::Failed;
                }
                self.receipt.problem = Some(e.to_string());
            }
        }
        (self.accepted.then_some(self.receipt), result)
    }
}

/// Ctrl-C during the burn: CANCEL, then wait (bounded) for CANCELLED. `give_up` (a second
/// Ctrl-C) stops waiting; releasing the reservation then makes the station cancel anyway.
pub async fn cancel(
    module: &mut BurnerModule,
    tracker: &mut Tracker,
    give_up: impl std::future::Future<Output = ()>,
) -> Result<(), ClientError> {
    let station = module.station().to_owned();
    tokio::pin!(give_up);
    tracker.receipt.result = BurnResult::Cancelled;
    if module.send(&Request::Cancel).await.is_err() {
        return Err(interrupted(
            "the connection was already gone; the station cancels the burn itself when the session ends",
        ));
    }
    let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
    loop {
        let event = tokio::select! {
            () = &mut give_up => {
                return Err(interrupted("stopped waiting for the station; releasing the reservation makes it cancel the burn"));
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(interrupted(&format!(
                    "the station did not confirm within {CANCEL_WAIT:?}; releasing the reservation makes it cancel the burn"
                )));
            }
            event = module.next_event() => event,
        };
        match event {
            Ok(Event::Cancelled) => {
                return Err(interrupted(&format!(
                    "the burn was cancelled: {station} stopped xorriso and its drive is free; the disc is incomplete, do not use it"
                )));
            }
            Ok(Event::Status(_)) => tracker.accepted = true,
            // The cancelled copy's receipt comes before CANCELLED: the user keeps it too.
            Ok(Event::Receipt(r)) => tracker.station_receipt(r),
            Ok(Event::Verify(v)) => {
                tracker.accepted = true;
                tracker.receipt.copies.push(CopyResult::from(&v));
            }
            Ok(Event::Error(report)) if report.code == ErrorCode::NotBurning => {
                // The burn ended before the CANCEL arrived.
                if tracker.receipt.all_verified() {
                    return Ok(());
                }
                if !tracker.receipt.copies.is_empty() {
                    tracker.receipt.result = BurnResult::Failed;
                }
                return Err(interrupted(&format!(
                    "nothing was burning any more on {station} when the cancel arrived"
                )));
            }
            Ok(Event::Error(report)) => {
                // The burn's own failure (or refusal) that crossed the CANCEL.
                tracker.receipt.result = BurnResult::Failed;
                return Err(ClientError::Station {
                    station: station.clone(),
                    code: report.code,
                    text: report.text,
                });
            }
            Ok(_) => {}
            Err(_) => {
                return Err(interrupted(
                    "the connection closed before the station confirmed; it cancels the burn itself when the session ends",
                ))
            }
        }
    }
}

fn interrupted(what: &str) -> ClientError {
    ClientError::Interrupted(format!("interrupted (Ctrl-C): {what}"))
}

#[cfg(test)]
mod tests;
