//! One BURN request carried out: for each copy, check the disc, burn, read back, verify,
//! open the tray; with an audit record before each step is acknowledged.
//!
//! A job runs in its own task and owns the drive hold for its whole life, so no other burn,
//! tray or medium query can touch the drive meanwhile. It talks to its session only through a
//! channel of [`Event`]s. It ends on its own (done or failed) or when its cancellation token
//! fires (CANCEL, the session was lost, the station stops); cancellation reaches the running
//! xorriso, which is stopped and reaped before the job returns [`Outcome::Cancelled`].

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use burnstand_wire::burner::{
    ErrorCode, ErrorReport, Event, Md5, MediumInfo, Percent, Phase, Progress, Receipt, Sha256,
    VerifyResult,
};
use burnstand_wire::link::GrantRequest;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::error::{Result, StationError};
use crate::image::Image;
use crate::receipt::{self, CopyOutcome, CopyResult, Who};
use crate::state_board::BurnMark;
use crate::station::{DriveHold, Station};

/// Events a job may queue ahead of its session; progress beyond this is dropped (the next
/// report supersedes it), results are waited for.
pub const EVENT_QUEUE: usize = 16;

/// How often the drive is asked for a new disc between copies.
pub const MEDIUM_POLL: Duration = Duration::from_secs(2);

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every copy was burned and verified.
    Done,
    /// A copy failed (burn error, failed verify, no disc, audit failure); the rest were not
    /// attempted.
    Failed,
    /// Cancelled; the burner process is gone.
    Cancelled,
}

/// Why a job was cancelled, for its `burn.cancel` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The user sent CANCEL.
    Request,
    /// The session ended (the master closed, the link broke, the ticket expired).
    SessionEnded,
    /// The station is shutting down.
    ShuttingDown,
}

impl CancelReason {
    /// The reason as the audit record spells it.
    pub fn text(self) -> &'static str {
        match self {
            CancelReason::Request => "CANCEL request",
            CancelReason::SessionEnded => "session ended",
            CancelReason::ShuttingDown => "station shutting down",
        }
    }
}

impl std::fmt::Display for CancelReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

/// Where whoever cancels a job says why, before firing its token. Left unset when the
/// station's shutdown reaches the job (a child of the shutdown token) before its session had
/// a say; the record then says only "cancelled".
pub type CancelSlot = Arc<OnceLock<CancelReason>>;

/// How one copy ended, once the user was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyEnd {
    /// Burned, read back, and the read-back matched the image.
    Verified,
    /// Refused before writing, failed while writing or reading back, or read back different
    /// from the image: the job stops here, the remaining copies are not attempted.
    Failed,
}

/// A BURN, ready to run.
pub struct BurnJob {
    pub station: Arc<Station>,
    pub who: Arc<Who>,
    pub image: Image,
    pub copies: u32,
    pub events: mpsc::Sender<Event>,
    pub cancel: CancellationToken,
    pub reason: CancelSlot,
    pub hold: DriveHold,
    /// The job on the live state (the masters' view); dropped with the job, which ends it
    /// there.
    pub burning: BurnMark,
}

impl BurnJob {
    /// Runs every copy; see the module docs.
    pub async fn run(self) -> Outcome {
        // Ended (FINISHED to a master releasing the station) by the session, once every
        // event of this job has gone out: the master may close the session right after.
        self.station.control().job_started(&self.who.session_id);
        self.copies_in_turn().await
    }

    async fn copies_in_turn(&self) -> Outcome {
        let _hold = &self.hold;
        for copy in 1..=self.copies {
            if self
                .station
                .control()
                .finish_requested(&self.who.session_id)
            {
                return self.released(copy).await;
            }
            self.burning.copy(copy);
            let outcome = self.copy(copy).await;
            match outcome {
                Ok(CopyEnd::Verified) => {}
                Ok(CopyEnd::Failed) => return Outcome::Failed,
                Err(StationError::Cancelled) => return Outcome::Cancelled,
                Err(e) => {
                    tracing::warn!(copy, error = %e, "burn failed");
                    // Best effort: if the log itself failed, this fails too, and the user
                    // is told the burn failed all the same.
                    let record = receipt::burn_abort(&self.who, &self.image, copy, &e.to_string());
                    if let Err(audit) = self.station.audit(record).await {
                        tracing::error!(error = %audit, "cannot audit the aborted burn");
                    }
                    self.send(Event::Error(e.report())).await;
                    return Outcome::Failed;
                }
            }
        }
        Outcome::Done
    }

    /// The lab staff released the station (FINISH from the master) after copy `copy - 1`:
    /// the remaining copies are not burned.
    async fn released(&self, copy: u32) -> Outcome {
        let why = if copy == 1 {
            "the lab staff released this station: nothing was burned".to_owned()
        } else {
            format!(
                "the lab staff released this station after copy {} of {}: copies {copy} to {} were not burned",
                copy - 1,
                self.copies,
                self.copies
            )
        };
        tracing::info!(
            copy,
            "burn stopped between copies: the station was released"
        );
        let record = receipt::burn_abort(&self.who, &self.image, copy, &why);
        if let Err(audit) = self.station.audit(record).await {
            tracing::error!(error = %audit, "cannot audit the stopped burn");
        }
        self.send(Event::Error(ErrorReport::new(ErrorCode::Denied, why)))
            .await;
        Outcome::Failed
    }

    async fn send(&self, event: Event) {
        // The session may be gone; the audit records stand regardless.
        let _ = self.events.send(event).await;
    }

    fn progress(&self, phase: Phase, copy: u32, percent: Percent) {
        self.burning.progress(phase, copy, percent);
        let status = Event::Status(Progress {
            phase,
            copy,
            copies: self.copies,
            percent,
        });
        let _ = self.events.try_send(status);
    }

    fn cancel_reason(&self) -> &'static str {
        self.reason
            .get()
            .map_or("cancelled", |reason| reason.text())
    }

    /// Records a cancel; a copy that had started writing (`started`: when, and its copy id)
    /// also gets its receipt.
    async fn cancelled(
        &self,
        copy: u32,
        phase: &str,
        started: Option<(SystemTime, &str)>,
    ) -> StationError {
        let record =
            receipt::burn_cancel(&self.who, &self.image, copy, phase, self.cancel_reason());
        if let Err(e) = self.station.audit(record).await {
            tracing::error!(error = %e, "cannot audit the cancel");
        }
        if let Some((start, copy_id)) = started {
            if let Err(e) = self
                .receipt(copy, copy_id, start, CopyResult::Cancelled, None)
                .await
            {
                tracing::error!(error = %e, "cannot write the receipt of a cancelled copy");
            }
        }
        tracing::info!(copy, phase, reason = self.cancel_reason(), "burn cancelled");
        StationError::Cancelled
    }

    /// Appends the copy's `burn.receipt` (durable, and counted for quotas), then hands it to
    /// the user as RECEIPT — always before the VERIFY, ERROR or CANCELLED that ends the copy.
    async fn receipt(
        &self,
        copy: u32,
        copy_id: &str,
        start: SystemTime,
        result: CopyResult,
        readback_md5: Option<Md5>,
    ) -> Result<()> {
        let outcome = CopyOutcome {
            copy,
            copy_id,
            copies: self.copies,
            result,
            readback_md5,
            start,
            end: SystemTime::now(),
        };
        let drive = self.station.drive().kind();
        let record = receipt::burn_receipt(&self.who, &self.image, drive.word(), &outcome);
        let appended = self.station.receipt(record).await?;
        match Sha256::from_hex(&appended.hash) {
            Ok(hash) => {
                self.send(Event::Receipt(Receipt {
                    seq: appended.seq,
                    hash,
                    line: appended.line,
                }))
                .await
            }
            Err(e) => tracing::error!(error = %e, "audit log returned a malformed hash"),
        }
        Ok(())
    }

    /// Refuses the burn before anything was written: audit, then tell the user.
    async fn deny(&self, reason: &str, report: ErrorReport) -> Result<CopyEnd> {
        self.station
            .audit(receipt::burn_deny(&self.who, &self.image.id, reason))
            .await?;
        self.send(Event::Error(report)).await;
        Ok(CopyEnd::Failed)
    }

    /// One copy, from checking the disc to letting it out of the drive.
    async fn copy(&self, copy: u32) -> Result<CopyEnd> {
        if copy > 1 {
            self.wait_for_disc(copy).await?;
        }
        if let Some((reason, report)) = self.disc_refusal(copy).await? {
            return self.deny(reason, report).await;
        }
        // May this copy be burned now? The policy again (an entitlement may have expired since
        // the BURN, or the copies before this one used the quota up), then the master's grant.
        let copy_id = crate::station_id::new_copy_id();
        if let Some(refused) = self.permission(copy, &copy_id).await {
            if self.cancel.is_cancelled() {
                return Err(self
                    .cancelled(copy, "waiting for the copy grant", None)
                    .await);
            }
            let report = ErrorReport::new(ErrorCode::Denied, refused.clone());
            return self.deny(&refused, report).await;
        }
        let Some(start) = self.write(copy, &copy_id).await? else {
            return Ok(CopyEnd::Failed);
        };
        let end = self.verify(copy, &copy_id, start).await?;
        self.release_disc(copy).await?;
        Ok(end)
    }

    /// Why the disc in the drive cannot take this copy (the audit reason and what the user is
    /// told), if it cannot: no burnable disc, too little space, or the image file changed
    /// since it was listed.
    async fn disc_refusal(&self, copy: u32) -> Result<Option<(&'static str, ErrorReport)>> {
        let medium = self.station.drive().medium().await?;
        if self.cancel.is_cancelled() {
            return Err(self.cancelled(copy, "starting", None).await);
        }
        if !medium.is_burnable() {
            let text = format!(
                "no burnable disc in the drive (it reports {}{}); put in a blank disc and send BURN again",
                medium.state,
                if medium.profile.is_empty() { String::new() } else { format!(", {}", medium.profile) }
            );
            let report = ErrorReport::new(ErrorCode::NoMedium, text);
            return Ok(Some(("no burnable disc", report)));
        }
        if medium.free_bytes > 0 && self.image.size > medium.free_bytes {
            let text = format!(
                "the image needs {} bytes but the disc has {} free; use a larger disc",
                self.image.size, medium.free_bytes
            );
            let report = ErrorReport::new(ErrorCode::NoSpace, text);
            return Ok(Some(("image larger than the disc", report)));
        }
        if !self.image.unchanged() {
            let text = "the image file changed since it was listed; send CAPAB and try again";
            let report = ErrorReport::new(ErrorCode::UnknownImage, text);
            return Ok(Some(("image changed", report)));
        }
        Ok(None)
    }

    /// Writes the copy: `Some(start)` (when writing began, for its receipt) once the disc is
    /// written, `None` when the burn failed and its records, receipt and ERROR are out.
    async fn write(&self, copy: u32, copy_id: &str) -> Result<Option<SystemTime>> {
        let drive = self.station.drive();
        self.station
            .audit(receipt::burn_start(
                &self.who,
                &self.image,
                copy_id,
                drive.kind().word(),
                copy,
                self.copies,
            ))
            .await?;
        let start = SystemTime::now();
        self.progress(Phase::Writing, copy, Percent::ZERO);
        tracing::info!(copy, image = %self.image.id, bytes = self.image.size, "burn started");
        let started = Instant::now();
        let (ptx, prx) = watch::channel(Percent::ZERO);
        let burned = self
            .with_progress(
                drive.burn(&self.image.path, &ptx, &self.cancel),
                prx,
                Phase::Writing,
                copy,
            )
            .await;
        let error = match burned {
            Ok(()) => None,
            Err(StationError::Cancelled) => {
                return Err(self
                    .cancelled(copy, "writing", Some((start, copy_id)))
                    .await)
            }
            Err(e) => Some(e),
        };
        let text = error.as_ref().map(ToString::to_string);
        self.station
            .audit(receipt::burn_end(
                &self.who,
                &self.image,
                copy,
                started.elapsed(),
                text.as_deref(),
            ))
            .await?;
        let Some(e) = error else {
            self.progress(Phase::Writing, copy, Percent::FULL);
            return Ok(Some(start));
        };
        self.receipt(copy, copy_id, start, CopyResult::Failed, None)
            .await?;
        tracing::warn!(copy, error = %e, "burn failed");
        let report = match e {
            StationError::Drive { .. } => e.report(),
            other => ErrorReport::new(ErrorCode::BurnFailed, format!("the burn failed: {other}")),
        };
        self.send(Event::Error(report)).await;
        Ok(None)
    }

    /// Reads the written copy back and compares it with the image; audits the result, hands
    /// the user the receipt, then VERIFY (or ERROR when the disc could not be read back).
    async fn verify(&self, copy: u32, copy_id: &str, start: SystemTime) -> Result<CopyEnd> {
        self.progress(Phase::Verifying, copy, Percent::ZERO);
        let verify_started = Instant::now();
        let (ptx, prx) = watch::channel(Percent::ZERO);
        let read = self
            .with_progress(
                self.station
                    .drive()
                    .read_back(self.image.size, &ptx, &self.cancel),
                prx,
                Phase::Verifying,
                copy,
            )
            .await;
        let rb = match read {
            Ok(rb) => rb,
            Err(StationError::Cancelled) => {
                return Err(self
                    .cancelled(copy, "verifying", Some((start, copy_id)))
                    .await)
            }
            Err(e) => {
                let text = e.to_string();
                let took = verify_started.elapsed();
                let record = receipt::burn_verify_failed(&self.who, &self.image, copy, took, &text);
                self.station.audit(record).await?;
                self.receipt(copy, copy_id, start, CopyResult::VerifyFailed, None)
                    .await?;
                self.send(Event::Error(ErrorReport::new(ErrorCode::BurnFailed, text)))
                    .await;
                return Ok(CopyEnd::Failed);
            }
        };
        let passed = rb.bytes == self.image.size && rb.md5 == self.image.digests.md5;
        let took = verify_started.elapsed();
        let record = receipt::burn_verify(&self.who, &self.image, copy, &rb, passed, took);
        self.station.audit(record).await?;
        let result = if passed {
            CopyResult::Verified
        } else {
            CopyResult::VerifyFailed
        };
        self.receipt(copy, copy_id, start, result, Some(rb.md5))
            .await?;
        if passed {
            tracing::info!(copy, readback_md5 = %rb.md5, "verify finished");
        } else {
            tracing::warn!(
                copy,
                readback_md5 = %rb.md5,
                "verify failed: the disc does not match the image; try another disc, and clean or replace the drive if it repeats (the master quarantines a drive after repeated failures)"
            );
        }
        self.progress(Phase::Verifying, copy, Percent::FULL);
        self.send(Event::Verify(VerifyResult {
            copy,
            copies: self.copies,
            image_id: self.image.id.clone(),
            passed,
            bytes: self.image.size,
            image_sha256: self.image.digests.sha256,
            image_md5: self.image.digests.md5,
            readback_md5: rb.md5,
        }))
        .await;
        Ok(if passed {
            CopyEnd::Verified
        } else {
            CopyEnd::Failed
        })
    }

    /// Lets the disc out (burner-farm design: "pops tray open itself") when another copy follows or the
    /// station is configured to, then says what is in the drive.
    async fn release_disc(&self, copy: u32) -> Result<()> {
        let drive = self.station.drive();
        if copy < self.copies || self.station.config().eject_after_burn {
            match drive.eject().await {
                Ok(()) => {
                    self.station
                        .audit(receipt::tray_open(&self.who, "after burn"))
                        .await?;
                    self.send(Event::TrayOpen).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the tray after the burn");
                    self.send(Event::Error(e.report())).await;
                }
            }
        }
        match drive.medium().await {
            Ok(info) => self.send(availability(&info)).await,
            Err(e) => tracing::warn!(error = %e, "cannot read the medium state after the burn"),
        }
        Ok(())
    }

    /// `None` when copy `copy` may be burned: the policy allows one more copy now, and, for
    /// a limited or dated image, the master granted it (`docs/protocol.md` §5.9). Otherwise
    /// the reason, for the user.
    async fn permission(&self, copy: u32, copy_id: &str) -> Option<String> {
        let sha256 = self.image.digests.sha256;
        match self.station.may_burn(&self.who, &sha256) {
            Ok(left) if left.allows(1) => {}
            Ok(_) => {
                return Some(format!(
                "copy {copy} of {} of {:?} is beyond your quota; the copies before it were burned",
                self.copies, self.image.id
            ))
            }
            Err(refusal) => return Some(refusal.to_string()),
        }
        let subject = burnstand_policy::Subject {
            exported: &self.who.user_exported,
            display: &self.who.user,
        };
        if !self
            .station
            .policy()
            .needs_grant(&subject, &sha256.to_hex())
        {
            return None;
        }
        let request = GrantRequest {
            copy_id: copy_id.to_owned(),
            session_id: self.who.session_id.clone(),
            user: self.who.user.clone(),
            user_exported: self.who.user_exported.clone(),
            image_id: self.image.id.clone(),
            image_name: self.image.name.clone(),
            sha256,
            copy,
            copies: self.copies,
        };
        let granted = tokio::select! {
            granted = self.station.control().grant(&self.who.master_exported, request) => granted,
            _ = self.cancel.cancelled() => return Some("cancelled while waiting for the copy grant".into()),
        };
        match granted {
            Ok(()) => {
                tracing::info!(copy, copy_id, "copy granted");
                None
            }
            Err(no) => {
                tracing::warn!(copy, copy_id, reason = %no, "no copy grant");
                Some(no.to_string())
            }
        }
    }

    /// Between copies: waits until a burnable disc is in the drive, for at most the
    /// configured time.
    async fn wait_for_disc(&self, copy: u32) -> Result<()> {
        let deadline = Instant::now() + self.station.config().medium_wait();
        let mut waiting = false;
        loop {
            if self.cancel.is_cancelled() {
                return Err(self.cancelled(copy, "waiting for a disc", None).await);
            }
            // Released while no copy runs: this one does not start.
            if waiting
                && self
                    .station
                    .control()
                    .finish_requested(&self.who.session_id)
            {
                return Err(StationError::drive(
                    ErrorCode::Denied,
                    format!(
                        "the lab staff released this station while it waited for a disc: copies {copy} to {} were not burned",
                        self.copies
                    ),
                ));
            }
            if self.station.drive().medium().await?.is_burnable() {
                if waiting {
                    self.burning.copy(copy);
                }
                return Ok(());
            }
            if !waiting {
                waiting = true;
                self.burning.waiting_for_disc(copy);
            }
            if Instant::now() >= deadline {
                return Err(StationError::drive(
                    ErrorCode::NoMedium,
                    format!(
                        "no blank disc for copy {copy} of {}; the remaining copies were not burned",
                        self.copies
                    ),
                ));
            }
            tokio::select! {
                _ = self.cancel.cancelled() => {}
                _ = tokio::time::sleep(MEDIUM_POLL) => {}
            }
        }
    }

    /// Drives `op` to completion, turning its progress into STATUS events (only increases).
    async fn with_progress<T>(
        &self,
        op: impl Future<Output = Result<T>>,
        mut progress: watch::Receiver<Percent>,
        phase: Phase,
        copy: u32,
    ) -> Result<T> {
        tokio::pin!(op);
        let mut last = Percent::ZERO;
        loop {
            tokio::select! {
                result = &mut op => return result,
                changed = progress.changed() => {
                    if changed.is_err() {
                        return op.await;
                    }
                    let now = *progress.borrow_and_update();
                    if now > last && now < Percent::FULL {
                        last = now;
                        self.progress(phase, copy, now);
                    }
                }
            }
        }
    }
}

/// AVAIL or EMPTY for a medium report (the burner-farm design's idle status).
pub fn availability(info: &MediumInfo) -> Event {
    if info.is_burnable() {
        Event::Avail
    } else {
        Event::Empty
    }
}
