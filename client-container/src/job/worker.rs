//! One drive of a job: while copies are left, take the next copy number, BURN it there (one
//! copy), follow it to its VERIFY and the station's report of the drive, and decide what the
//! result means for the drive and the job ([`verdict`]).

use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use burnstand_wire::burner::{Capabilities, ErrorCode, ImageInfo, Request};
use tokio::sync::watch;

use super::display::JobDisplay;
use super::pool::Pool;
use super::report::{CopyEntry, CopyState, DriveEntry};
use super::Stage;
use crate::burn::{self, Flow, ReceiptBase, Tracker, AFTER_BURN_WAIT};
use crate::module::BurnerModule;
use crate::receipt::Receipt;
use crate::ticket::utc;
use crate::ClientError;

/// After a copy, a BURN the station answers BUSY (the previous copy's job is still ending):
/// wait this long and try again, at most [`BUSY_RETRIES`] times in a row.
pub const BUSY_PAUSE: Duration = Duration::from_millis(500);
pub const BUSY_RETRIES: u32 = 6;
/// After a copy, how long a drive waits for a blank disc (the tray opened after the last
/// one), as a station waits between the copies of one BURN (`medium_wait_secs`).
pub const DISC_WAIT: Duration = Duration::from_secs(600);
/// How often a drive waiting for a disc asks its station (WHATIS).
pub const DISC_POLL: Duration = Duration::from_secs(3);

/// What the drives share.
pub struct Shared<'a> {
    pub pool: &'a RefCell<Pool>,
    pub display: &'a RefCell<JobDisplay>,
    pub base: &'a ReceiptBase<'a>,
    pub copies: u32,
}

/// A drive of the job: its module connection, the station's CAP and the image as it lists it.
pub struct Slot<'a> {
    pub index: usize,
    pub module: &'a mut BurnerModule,
    pub station: &'a Capabilities,
    pub image: ImageInfo,
}

/// What a drive did.
pub struct DriveRun {
    pub entry: DriveEntry,
    pub copies: Vec<CopyEntry>,
    /// Why it left early, as an error (for the job's exit code).
    pub error: Option<ClientError>,
    /// The refusal that stops the whole job (the quota is used up).
    pub quota: Option<ClientError>,
}

/// What one copy's result means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Verified: the drive takes the next copy.
    Verified,
    /// Burned, and it did not verify: the drive (or its disc) is suspect, it leaves.
    VerifyFailed,
    /// The station failed while burning (or the connection to it was lost after BURN went
    /// out): the copy is failed, not burned again, and the drive leaves.
    Failed,
    /// Ctrl-C.
    Cancelled,
    /// The policy refuses it (DENIED): the quota is used up, no drive may burn more.
    Quota,
    /// The station's previous job is still ending: try again shortly.
    Busy,
    /// No blank disc after an earlier copy: the copy goes back, the drive waits for a disc.
    NeedsDisc,
    /// Refused before it started, for a reason of the station's: the copy goes back for
    /// another drive, and this one leaves.
    Refused,
}

/// What `result` of one copy's burn means; `accepted` the station accepted it (STATUS,
/// VERIFY or RECEIPT came), `sent` the BURN went out, `after_a_copy` this drive burned a copy
/// before.
pub fn verdict(
    result: &Result<(), ClientError>,
    accepted: bool,
    sent: bool,
    after_a_copy: bool,
) -> Verdict {
    let e = match result {
        Ok(()) => return Verdict::Verified,
        Err(e) => e,
    };
    match e {
        ClientError::VerifyFailed { .. } => Verdict::VerifyFailed,
        ClientError::Interrupted(_) => Verdict::Cancelled,
        _ if accepted => Verdict::Failed,
        // The station may have started it: never burn it twice.
        ClientError::ConnectionLost(_) | ClientError::Connection(_) if sent => Verdict::Failed,
        ClientError::Station { code, text, .. } => match code {
            ErrorCode::Denied if grant_unreachable(text) => Verdict::Refused,
            ErrorCode::Denied => Verdict::Quota,
            ErrorCode::Busy if after_a_copy => Verdict::Busy,
            ErrorCode::NoMedium if after_a_copy => Verdict::NeedsDisc,
            _ => Verdict::Refused,
        },
        _ => Verdict::Refused,
    }
}

/// Whether a DENIED is the station's own trouble (it cannot reach the master that grants
/// copies of a limited image) rather than the policy: the station's words for it
/// (backend `control::NoGrant`), since DENIED carries no finer code.
fn grant_unreachable(text: &str) -> bool {
    text.contains("master that counts its copies cannot be reached")
        || text.contains("did not answer the copy grant in time")
}

/// Runs drive `slot` until no copy is left for it, the job stops, or the drive fails.
pub async fn run(
    mut slot: Slot<'_>,
    shared: &Shared<'_>,
    mut stage: watch::Receiver<Stage>,
) -> DriveRun {
    let mut drive = DriveRun {
        entry: DriveEntry {
            station_id: slot.station.station_id.clone(),
            station_name: slot.station.friendly_name.clone(),
            drive: slot.station.drive.to_string(),
            module_address: slot.module.local_address().map(|a| a.to_string()),
            copies: Vec::new(),
            left: None,
        },
        copies: Vec::new(),
        error: None,
        quota: None,
    };
    let name = slot.station.friendly_name.clone();
    let mut busy = 0;
    loop {
        if *stage.borrow() != Stage::Running {
            break;
        }
        let Some(copy) = shared.pool.borrow_mut().take() else {
            break;
        };
        let run = burn_copy(&mut slot, copy, shared, &mut stage).await;
        let after_a_copy = !drive.entry.copies.is_empty();
        let verdict = verdict(&run.result, run.receipt.is_some(), run.sent, after_a_copy);
        if verdict != Verdict::Busy {
            busy = 0;
        }
        let state = match verdict {
            Verdict::Verified => Some(CopyState::Verified),
            Verdict::VerifyFailed => Some(CopyState::VerifyFailed),
            Verdict::Failed => Some(CopyState::Failed),
            Verdict::Cancelled => Some(CopyState::Cancelled),
            _ => None,
        };
        if let Some(state) = state {
            shared.pool.borrow_mut().done();
            let receipt = run.receipt.unwrap_or(run.unaccepted);
            let mut entry = CopyEntry::burned(copy, state, &receipt);
            if state == CopyState::Failed && entry.station_records.is_empty() {
                entry.problem = Some(format!(
                    "{}; no station receipt reached burnstand: the station's log (and the master's) holds it, or a station that stopped records the copy as interrupted when it starts again",
                    entry.problem.as_deref().unwrap_or("the burn failed")
                ));
            }
            let text = ended_line(&entry, shared.copies, &name);
            shared.display.borrow_mut().copy_ended(
                slot.index,
                copy,
                &text,
                state == CopyState::Verified,
            );
            drive.entry.copies.push(copy);
            drive.copies.push(entry);
        } else {
            shared.pool.borrow_mut().give_back(copy);
        }
        match (verdict, run.result) {
            (Verdict::Verified, _) => {}
            (Verdict::Cancelled, _) => break,
            (Verdict::Busy, _) if busy < BUSY_RETRIES => {
                busy += 1;
                tokio::time::sleep(BUSY_PAUSE).await;
            }
            (Verdict::NeedsDisc, Err(e)) => {
                if let Err(why) = wait_for_disc(&mut slot, shared, &mut stage).await {
                    return leave(drive, shared, slot.index, why.unwrap_or(e));
                }
            }
            (Verdict::Quota, Err(e)) => {
                shared.pool.borrow_mut().stop(&e.to_string());
                drive.entry.left = Some(format!("the job stopped: {e}"));
                drive.quota = Some(e);
                break;
            }
            (_, Err(e)) => return leave(drive, shared, slot.index, e),
            (_, Ok(())) => break,
        }
    }
    drive
}

/// The drive leaves the job because of `e`.
fn leave(mut drive: DriveRun, shared: &Shared<'_>, index: usize, e: ClientError) -> DriveRun {
    let why = e.to_string();
    shared.display.borrow_mut().drive_note(
        index,
        "left the job",
        &format!(
            "{} leaves the job: {}",
            drive.entry.station_name,
            why.lines().next().unwrap_or(&why)
        ),
    );
    drive.entry.left = Some(why);
    drive.error = Some(e);
    drive
}

/// The line shown when a copy ends.
fn ended_line(entry: &CopyEntry, copies: u32, station: &str) -> String {
    let k = entry.copy;
    match entry.result {
        CopyState::Verified => {
            format!("copy {k}/{copies} verified on {station}: the read-back MD5 matches the image")
        }
        CopyState::VerifyFailed => format!(
            "copy {k}/{copies} VERIFY FAILED on {station}: the read-back MD5 differs from the image; do not use that disc"
        ),
        CopyState::Cancelled => format!("copy {k}/{copies} cancelled on {station}"),
        _ => {
            let why = entry.problem.as_deref().unwrap_or("no reason given");
            format!(
                "copy {k}/{copies} FAILED on {station}: {}",
                why.lines().next().unwrap_or(why)
            )
        }
    }
}

/// One copy's burn on a drive.
struct CopyRun {
    /// The station's receipt of it, once the station accepted it.
    receipt: Option<Receipt>,
    /// The same receipt had it been accepted: for a copy lost before the station said
    /// anything.
    unaccepted: Receipt,
    result: Result<(), ClientError>,
    /// BURN went out.
    sent: bool,
}

/// BURN copy `copy` (one copy) on `slot`, following its events until its end; Ctrl-C (the
/// job's stage) cancels it there.
async fn burn_copy(
    slot: &mut Slot<'_>,
    copy: u32,
    shared: &Shared<'_>,
    stage: &mut watch::Receiver<Stage>,
) -> CopyRun {
    let mut receipt = shared
        .base
        .receipt(&slot.image, 1, slot.station, slot.module);
    receipt.started = utc(SystemTime::now());
    let mut unaccepted = receipt.clone();
    let mut tracker = Tracker::new(receipt);
    let request = Request::Burn {
        image_id: slot.image.id.clone(),
        copies: 1,
    };
    if let Err(e) = slot.module.send(&request).await {
        unaccepted.finished = utc(SystemTime::now());
        unaccepted.problem = Some(e.to_string());
        return CopyRun {
            receipt: None,
            unaccepted,
            result: Err(e),
            sent: false,
        };
    }
    let mut reported_at: Option<tokio::time::Instant> = None;
    let (receipt, result) = loop {
        let after_burn = async {
            match reported_at {
                Some(at) => tokio::time::sleep_until(at + AFTER_BURN_WAIT).await,
                None => std::future::pending().await,
            }
        };
        let flow = tokio::select! {
            () = reached(stage, Stage::Cancel) => {
                if tracker.reported() {
                    break tracker.finish();
                }
                let give_up = reached(stage, Stage::GiveUp);
                let result = burn::cancel(slot.module, &mut tracker, give_up).await;
                break tracker.finish_with(result);
            }
            () = after_burn => break tracker.finish(),
            event = slot.module.next_event() => match event {
                Ok(event) => tracker.event(event, &mut |show| {
                    shared.display.borrow_mut().show(slot.index, copy, show);
                }),
                Err(e) => tracker.lost(e),
            },
        };
        match flow {
            Flow::Running => {}
            Flow::Reported => {
                reported_at.get_or_insert_with(tokio::time::Instant::now);
            }
            Flow::Over => break tracker.finish(),
        }
    };
    unaccepted.finished = utc(SystemTime::now());
    unaccepted.problem = result.as_ref().err().map(ToString::to_string);
    CopyRun {
        receipt,
        unaccepted,
        result,
        sent: true,
    }
}

/// Waits until the job's stage is at least `at_least` (never, once the job is gone).
pub async fn reached(stage: &mut watch::Receiver<Stage>, at_least: Stage) {
    if stage.wait_for(|s| *s >= at_least).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// After a copy the tray is open: waits (at most [`DISC_WAIT`]) until the drive has a blank
/// disc again. `Err` to leave the job: with the error, or `None` to keep the one that sent
/// the drive here.
async fn wait_for_disc(
    slot: &mut Slot<'_>,
    shared: &Shared<'_>,
    stage: &mut watch::Receiver<Stage>,
) -> Result<(), Option<ClientError>> {
    let name = slot.station.friendly_name.clone();
    shared.display.borrow_mut().drive_note(
        slot.index,
        "waiting for a disc",
        &format!("the tray of {name} is open: take the disc out and put in a blank one for the next copy"),
    );
    let deadline = tokio::time::Instant::now() + DISC_WAIT;
    loop {
        if !shared.pool.borrow().may_have_work() || *stage.borrow() != Stage::Running {
            return Err(None);
        }
        match slot.module.medium().await {
            Ok(medium) if medium.is_burnable() => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(Some(e)),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Some(ClientError::Station {
                station: name,
                code: ErrorCode::NoMedium,
                text: format!("no blank disc was put in within {DISC_WAIT:?}"),
            }));
        }
        tokio::select! {
            () = reached(stage, Stage::Cancel) => return Err(None),
            () = tokio::time::sleep(DISC_POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests;
