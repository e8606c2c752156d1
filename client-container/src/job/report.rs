//! The job report: which drive burned which copy, whether it verified (or why not), the
//! station's receipt of each copy; and the job's outcome, with its exit code.

use serde::Serialize;

use crate::output::{size, Report};
use crate::receipt::{BurnResult, Receipt, StationRecord, TypeRef};
use crate::ClientError;

/// How one copy of the job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CopyState {
    /// Burned, and the read-back MD5 matched.
    Verified,
    /// Burned, but the read-back MD5 differs: do not use the disc.
    VerifyFailed,
    /// The station failed while burning it (or the connection to it was lost).
    Failed,
    /// Cancelled with Ctrl-C.
    Cancelled,
    /// Never started: the job stopped first, or no drive was left to burn it.
    NotBurned,
}

/// One copy of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyEntry {
    /// The copy's number in the job, 1 ..= copies.
    pub copy: u32,
    pub result: CopyState,
    /// Verified (as `copies[].passed` of a one-station receipt).
    pub passed: bool,
    /// The station that burned it (CAP), if one did.
    pub station_id: Option<String>,
    pub station_name: Option<String>,
    /// Bytes read back and hashed; 0 without a verify.
    pub bytes: u64,
    pub readback_md5: Option<String>,
    /// RFC 3339 UTC: BURN sent, and the copy's end.
    pub started: Option<String>,
    pub finished: Option<String>,
    /// Why it is not verified.
    pub problem: Option<String>,
    /// The station's `burn.receipt` record of the copy, exactly as logged (none when the
    /// station never wrote one, e.g. it died).
    pub station_records: Vec<StationRecord>,
}

impl CopyEntry {
    /// Copy `copy`, as the station's burn of one copy ended: `receipt` is that burn's.
    pub fn burned(copy: u32, state: CopyState, receipt: &Receipt) -> CopyEntry {
        let verify = receipt.copies.first();
        CopyEntry {
            copy,
            result: state,
            passed: state == CopyState::Verified,
            station_id: Some(receipt.station_id.clone()),
            station_name: Some(receipt.station_name.clone()),
            bytes: verify.map_or(0, |v| v.bytes),
            readback_md5: verify.map(|v| v.readback_md5.clone()),
            started: Some(receipt.started.clone()).filter(|s| !s.is_empty()),
            finished: Some(receipt.finished.clone()).filter(|s| !s.is_empty()),
            problem: receipt.problem.clone(),
            station_records: receipt.station_records.clone(),
        }
    }

    /// Copy `copy`, never started.
    pub fn not_burned(copy: u32, why: &str) -> CopyEntry {
        CopyEntry {
            copy,
            result: CopyState::NotBurned,
            passed: false,
            station_id: None,
            station_name: None,
            bytes: 0,
            readback_md5: None,
            started: None,
            finished: None,
            problem: Some(why.to_owned()),
            station_records: Vec::new(),
        }
    }
}

/// One drive of the job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriveEntry {
    pub station_id: String,
    pub station_name: String,
    pub drive: String,
    /// This end of its module connection (the station audit's `session.start` `client`).
    pub module_address: Option<String>,
    /// The copies it burned (whatever their result).
    pub copies: Vec<u32>,
    /// Why it left the job before the end, if it did.
    pub left: Option<String>,
}

/// A file `--save-receipt` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptFile {
    pub station_id: String,
    pub path: String,
    /// Receipt records appended to it.
    pub records: usize,
}

/// The report of a job over several drives (`burn --copies N`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobReport {
    pub result: BurnResult,
    pub principal: String,
    pub master: String,
    pub master_address: String,
    pub station_type: TypeRef,
    pub session_id: Option<String>,
    pub image_id: String,
    pub image_name: String,
    pub restricted: bool,
    pub bytes: u64,
    pub sha256: String,
    pub md5: String,
    pub copies_requested: u32,
    /// The drives RESERVE asked for; `drives` lists those the job got.
    pub drives_requested: u32,
    pub drives: Vec<DriveEntry>,
    /// Every copy, 1 ..= copies_requested.
    pub copies: Vec<CopyEntry>,
    pub verified: u32,
    pub started: String,
    pub finished: String,
    /// What went wrong, if the result is not `verified`.
    pub problem: Option<String>,
    /// What `--save-receipt` wrote.
    pub receipt_files: Vec<ReceiptFile>,
}

/// How the job ended, besides its copies.
#[derive(Debug, Default)]
pub struct Ending {
    /// Ctrl-C.
    pub interrupted: bool,
    /// The refusal that stopped the job (the quota is used up).
    pub quota: Option<ClientError>,
    /// Why drives left the job, in the order they did.
    pub drive_errors: Vec<ClientError>,
}

impl JobReport {
    /// A report of the job whose first receipt (no copy burned yet) is `base`.
    pub fn new(base: &Receipt, copies: u32, drives_requested: u32) -> JobReport {
        JobReport {
            result: BurnResult::Failed,
            principal: base.principal.clone(),
            master: base.master.clone(),
            master_address: base.master_address.clone(),
            station_type: base.station_type.clone(),
            session_id: base.session_id.clone(),
            image_id: base.image_id.clone(),
            image_name: base.image_name.clone(),
            restricted: base.restricted,
            bytes: base.bytes,
            sha256: base.sha256.clone(),
            md5: base.md5.clone(),
            copies_requested: copies,
            drives_requested,
            drives: Vec::new(),
            copies: Vec::new(),
            verified: 0,
            started: String::new(),
            finished: String::new(),
            problem: None,
            receipt_files: Vec::new(),
        }
    }

    fn count(&self, state: CopyState) -> u32 {
        let n = self.copies.iter().filter(|c| c.result == state).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Every station record of the job, with the station that wrote it.
    pub fn station_records(&self) -> impl Iterator<Item = (&str, &StationRecord)> {
        self.copies.iter().flat_map(|c| {
            let station = c.station_id.as_deref().unwrap_or("");
            c.station_records.iter().map(move |r| (station, r))
        })
    }

    /// Sorts the copies, sets the result and the problem, and decides the outcome: Ctrl-C
    /// (130), a failed verify (21), the quota (16), every copy verified (0), the drives'
    /// first error when no copy was burned at all (as a one-station burn), else 25.
    pub fn conclude(&mut self, mut ending: Ending) -> Result<(), ClientError> {
        self.copies.sort_by_key(|c| c.copy);
        self.verified = self.count(CopyState::Verified);
        let verify_failed = self.count(CopyState::VerifyFailed);
        let burned = self
            .copies
            .iter()
            .filter(|c| c.result != CopyState::NotBurned)
            .count();
        let outcome = if ending.interrupted {
            Err(ClientError::Interrupted(format!(
                "interrupted (Ctrl-C): the copies burning were cancelled on every drive ({} of {} verified before); do not use the discs of cancelled copies",
                self.verified, self.copies_requested
            )))
        } else if verify_failed > 0 {
            Err(ClientError::VerifyFailed {
                failed: verify_failed,
                copies: u32::try_from(burned).unwrap_or(u32::MAX),
            })
        } else if let Some(quota) = ending.quota.take() {
            Err(quota)
        } else if self.verified == self.copies_requested {
            Ok(())
        } else if burned == 0 && !ending.drive_errors.is_empty() {
            Err(ending.drive_errors.remove(0))
        } else {
            Err(ClientError::CopiesFailed {
                verified: self.verified,
                requested: self.copies_requested,
                detail: self.detail(),
                image: self.image_id.clone(),
                missing: self.copies_requested.saturating_sub(self.verified),
            })
        };
        self.result = match &outcome {
            Ok(()) => BurnResult::Verified,
            Err(ClientError::Interrupted(_)) => BurnResult::Cancelled,
            Err(_) => BurnResult::Failed,
        };
        self.problem = outcome.as_ref().err().map(ToString::to_string);
        outcome
    }

    /// `copy 3 failed (why); copies 4, 5 not burned (why)`: the copies that did not verify.
    fn detail(&self) -> String {
        let first_line = |c: &CopyEntry| {
            c.problem
                .as_deref()
                .and_then(|p| p.lines().next())
                .unwrap_or("no reason given")
                .to_owned()
        };
        let mut parts = Vec::new();
        for c in &self.copies {
            let word = match c.result {
                CopyState::Failed => "failed",
                CopyState::Cancelled => "was cancelled",
                _ => continue,
            };
            let on = c
                .station_name
                .as_deref()
                .map(|s| format!(" on {s}"))
                .unwrap_or_default();
            parts.push(format!("copy {} {word}{on} ({})", c.copy, first_line(c)));
        }
        let not_burned: Vec<&CopyEntry> = self
            .copies
            .iter()
            .filter(|c| c.result == CopyState::NotBurned)
            .collect();
        if let Some(first) = not_burned.first() {
            let numbers: Vec<String> = not_burned.iter().map(|c| c.copy.to_string()).collect();
            parts.push(format!(
                "cop{} {} not burned ({})",
                if numbers.len() == 1 { "y" } else { "ies" },
                numbers.join(", "),
                first_line(first)
            ));
        }
        parts.join("; ")
    }
}

impl Report for JobReport {
    fn human(&self) -> String {
        let n = self.copies_requested;
        let verdict = match self.result {
            BurnResult::Verified => format!("VERIFIED: all {n} discs hold exactly the image"),
            BurnResult::Failed => format!(
                "FAILED: {} of {n} copies verified; use only the discs of verified copies",
                self.verified
            ),
            BurnResult::Cancelled => format!(
                "CANCELLED: {} of {n} copies verified; the discs of cancelled copies are incomplete, do not use them",
                self.verified
            ),
        };
        let mut lines = vec![
            format!(
                "burn job receipt: {n} copies on {} drive{}",
                self.drives.len(),
                if self.drives.len() == 1 { "" } else { "s" }
            ),
            format!("  result          {verdict}"),
            format!("  user            {}", self.principal),
            format!(
                "  image           {} (id {}{})",
                self.image_name,
                self.image_id,
                if self.restricted {
                    ", restricted: burn only"
                } else {
                    ""
                }
            ),
            format!("  size            {}", size(self.bytes)),
            format!("  sha256          {}", self.sha256),
            format!("  md5             {}", self.md5),
            format!(
                "  station type    {} \"{}\"",
                self.station_type.id, self.station_type.name
            ),
            format!(
                "  master          {} at {}",
                self.master, self.master_address
            ),
        ];
        if let Some(id) = &self.session_id {
            lines.push(format!("  session id      {id}"));
        }
        for d in &self.drives {
            lines.push(drive_line(d));
        }
        for c in &self.copies {
            lines.push(copy_line(c, n));
            for r in &c.station_records {
                lines.push(format!("  station record  #{} sha256 {}", r.seq, r.hash));
            }
        }
        for f in &self.receipt_files {
            lines.push(format!(
                "  saved receipts  {} ({} record{} of {})",
                f.path,
                f.records,
                if f.records == 1 { "" } else { "s" },
                f.station_id
            ));
        }
        lines.push(format!("  started         {}", self.started));
        lines.push(format!("  finished        {}", self.finished));
        if let Some(problem) = &self.problem {
            lines.push(format!("  problem         {problem}"));
        }
        lines.join("\n")
    }
}

fn drive_line(d: &DriveEntry) -> String {
    let copies = if d.copies.is_empty() {
        "no copy".to_owned()
    } else {
        let numbers: Vec<String> = d.copies.iter().map(u32::to_string).collect();
        format!(
            "cop{} {}",
            if d.copies.len() == 1 { "y" } else { "ies" },
            numbers.join(", ")
        )
    };
    let module = d
        .module_address
        .as_deref()
        .map(|a| format!(", module connection {a}"))
        .unwrap_or_default();
    let left = d
        .left
        .as_deref()
        .map(|why| format!("; left the job: {}", why.lines().next().unwrap_or(why)))
        .unwrap_or_default();
    format!(
        "  drive           {} (station id {}, {} drive{module}): {copies}{left}",
        d.station_name, d.station_id, d.drive
    )
}

fn copy_line(c: &CopyEntry, copies: u32) -> String {
    let on = c.station_name.as_deref().unwrap_or("no station");
    let md5 = c.readback_md5.as_deref().unwrap_or("-");
    let problem = c
        .problem
        .as_deref()
        .map(|p| p.lines().next().unwrap_or(p))
        .unwrap_or("no reason given");
    let text = match c.result {
        CopyState::Verified => format!(
            "verified on {on}, read-back md5 {md5} over {} bytes",
            c.bytes
        ),
        CopyState::VerifyFailed => format!(
            "VERIFY FAILED on {on}, read-back md5 {md5} over {} bytes: do not use this disc",
            c.bytes
        ),
        CopyState::Failed => format!("FAILED on {on}: {problem}"),
        CopyState::Cancelled => {
            format!("CANCELLED on {on}: the disc is incomplete, do not use it")
        }
        CopyState::NotBurned => format!("not burned: {problem}"),
    };
    format!("  {:<16}{text}", format!("copy {}/{copies}", c.copy))
}

#[cfg(test)]
mod tests;
