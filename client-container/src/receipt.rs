//! The burn receipt: what was burned, by whom, where and when, and whether each copy verified.
//!
//! Everything on it comes from the authenticated peers (the user's own ticket, the master's
//! mutual authentication, the station's CAP and VERIFY), so it can be checked against the
//! station's and the master's audit logs: the station's `session.start` record carries the
//! receipt's `module_address` as `client`, and that record's `session_id` joins the burn's
//! `burn.*` records and the master's `bind`/`serv` records. Each copy also comes with the
//! station's own `burn.receipt` audit record (RECEIPT, protocol.md §6.3), byte for byte: it
//! names the session id, and `burnstand audit verify LOG --receipt FILE` can later show that
//! the station's log still holds it.

use burnstand_wire::burner::{ImageInfo, VerifyResult};
use serde::Serialize;

use crate::output::{size, Report};

/// How the burn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BurnResult {
    /// Every requested copy was burned and its read-back MD5 matched.
    Verified,
    /// A copy did not verify, or the burn failed part way.
    Failed,
    /// Cancelled with Ctrl-C.
    Cancelled,
}

/// One burned copy, from the station's VERIFY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyResult {
    pub copy: u32,
    pub passed: bool,
    /// Bytes read back and hashed (the image's length).
    pub bytes: u64,
    pub readback_md5: String,
}

impl From<&VerifyResult> for CopyResult {
    fn from(v: &VerifyResult) -> Self {
        CopyResult {
            copy: v.copy,
            passed: v.passed,
            bytes: v.bytes,
            readback_md5: v.readback_md5.to_hex(),
        }
    }
}

/// A station type, as the receipt names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeRef {
    pub id: u32,
    pub name: String,
}

/// The receipt of one `burnstand burn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub result: BurnResult,
    /// The user, from their Kerberos ticket.
    pub principal: String,
    /// The master's principal (mutually authenticated) and address.
    pub master: String,
    pub master_address: String,
    pub station_type: TypeRef,
    /// The station's stable id and friendly name (CAP).
    pub station_id: String,
    pub station_name: String,
    pub drive: String,
    /// This burner module's address as the master saw it: the `client` field of the
    /// station's `session.start` record for this session.
    pub module_address: Option<String>,
    pub image_id: String,
    pub image_name: String,
    pub restricted: bool,
    /// The image's length in bytes.
    pub bytes: u64,
    pub sha256: String,
    pub md5: String,
    pub copies_requested: u32,
    /// One entry per copy the station reported (VERIFY).
    pub copies: Vec<CopyResult>,
    /// RFC 3339 UTC: BURN sent, and the last VERIFY (or the cancel) received.
    pub started: String,
    pub finished: String,
    /// What went wrong, if the result is not `verified`.
    pub problem: Option<String>,
    /// The reservation's session id, from the station's receipt records.
    pub session_id: Option<String>,
    /// The station's `burn.receipt` records, one per copy, exactly as logged.
    pub station_records: Vec<StationRecord>,
}

/// One `burn.receipt` audit record of the station, as RECEIPT delivered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationRecord {
    /// Its place in the station's log.
    pub seq: u64,
    /// SHA-256 of `line`: the next record's `prev`.
    pub hash: String,
    /// The record's JSON line.
    pub line: String,
}

impl Receipt {
    /// A receipt for `image` with no copy burned yet.
    pub fn for_image(image: &ImageInfo, copies_requested: u32) -> Receipt {
        Receipt {
            result: BurnResult::Failed,
            principal: String::new(),
            master: String::new(),
            master_address: String::new(),
            station_type: TypeRef {
                id: 0,
                name: String::new(),
            },
            station_id: String::new(),
            station_name: String::new(),
            drive: String::new(),
            module_address: None,
            image_id: image.id.clone(),
            image_name: image.name.clone(),
            restricted: image.restricted,
            bytes: image.size,
            sha256: image.sha256.to_hex(),
            md5: image.md5.to_hex(),
            copies_requested,
            copies: Vec::new(),
            started: String::new(),
            finished: String::new(),
            problem: None,
            session_id: None,
            station_records: Vec::new(),
        }
    }

    /// Copies whose read-back did not match.
    pub fn failed_copies(&self) -> u32 {
        let failed = self.copies.iter().filter(|c| !c.passed).count();
        u32::try_from(failed).unwrap_or(u32::MAX)
    }

    /// Whether every requested copy verified.
    pub fn all_verified(&self) -> bool {
        self.failed_copies() == 0
            && u32::try_from(self.copies.len()).is_ok_and(|n| n == self.copies_requested)
    }
}

impl Report for Receipt {
    fn human(&self) -> String {
        let verdict = match self.result {
            BurnResult::Verified if self.copies_requested > 1 => {
                "VERIFIED: every disc holds exactly the image"
            }
            BurnResult::Verified => "VERIFIED: the disc holds exactly the image",
            BurnResult::Failed => "FAILED: do not use the disc",
            BurnResult::Cancelled => "CANCELLED: the disc is incomplete, do not use it",
        };
        let mut lines = vec![
            "burn receipt".to_owned(),
            format!("  result          {verdict}"),
            format!("  user            {}", self.principal),
            format!(
                "  station         {} (station id {}, {} drive)",
                self.station_name, self.station_id, self.drive
            ),
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
        if let Some(address) = &self.module_address {
            lines.push(format!(
                "  session         module connection {address} (the station audit's session.start `client`)"
            ));
        }
        lines.extend([
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
        ]);
        for copy in &self.copies {
            lines.push(format!(
                "  copy {}/{}        {}, read-back md5 {} over {} bytes",
                copy.copy,
                self.copies_requested,
                if copy.passed {
                    "verified"
                } else {
                    "VERIFY FAILED"
                },
                copy.readback_md5,
                copy.bytes
            ));
        }
        if u32::try_from(self.copies.len()).is_ok_and(|n| n < self.copies_requested) {
            lines.push(format!(
                "  copies          {} of {} burned",
                self.copies.len(),
                self.copies_requested
            ));
        }
        for record in &self.station_records {
            lines.push(format!(
                "  station record  #{} sha256 {}",
                record.seq, record.hash
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
