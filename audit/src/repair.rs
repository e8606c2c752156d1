//! Repair of a torn tail: what an interrupted append leaves behind, and the record of its cut.
//!
//! An append is one `write` of a whole line followed by an fsync, and every earlier record was
//! fsynced before its action was acknowledged. So a crash, a power loss or a full disk can
//! only damage the **last** line, and only a record that was never acknowledged: the line is
//! incomplete (no trailing newline), or — when someone or something added a newline afterwards
//! — not JSON at all. That line, and nothing else, is what a repair cuts off
//! ([`AuditLog::open_repairing`](crate::AuditLog::open_repairing), which both daemons use at
//! start, and `burnstand audit repair FILE`).
//!
//! A complete record is never cut, not even the last one: a well-formed line that does not
//! chain was edited, and that is evidence, not damage. Such a log is refused
//! ([`Error::Corrupt`]) like any other broken chain.
//!
//! The cut itself is recorded: right after truncating (and fsyncing) the file, the repair
//! appends an [`REPAIR_EVENT`] record, chained like any other, saying where the cut was, how
//! many bytes went, their SHA-256 and their first [`REPAIR_HEAD_LEN`] bytes in hex. So the
//! repaired log verifies, and it still says that something was cut and what.

use std::fs::File;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::record::Event;
use crate::verify::{problem_error, walk, Problem};

/// The event a repair appends after cutting a torn tail.
pub const REPAIR_EVENT: &str = "audit.repair";

/// Bytes of the cut line kept (as hex) in the repair record and in the daemon's warning: enough
/// to tell a cut-off record (`{"seq":…`) from zeros or garbage, while the record stays small
/// whatever was cut (the SHA-256 covers all of it).
pub const REPAIR_HEAD_LEN: usize = 64;

/// A torn last line: what a repair cut off (or, from [`find_torn_tail`], would cut off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairedTail {
    /// Its line number.
    pub line: u64,
    /// Byte offset where it starts: the file's length after the cut.
    pub offset: u64,
    /// Every byte of it, its newline included if it had one.
    pub bytes: Vec<u8>,
}

impl RepairedTail {
    /// Why the line is torn, in the words of the repair record's `reason`.
    pub fn reason(&self) -> &'static str {
        if self.bytes.last() == Some(&b'\n') {
            "not valid JSON"
        } else {
            "no trailing newline"
        }
    }

    /// SHA-256 (hex) of the cut bytes.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }

    /// The first [`REPAIR_HEAD_LEN`] bytes, as hex.
    pub fn head_hex(&self) -> String {
        hex::encode(&self.bytes[..self.bytes.len().min(REPAIR_HEAD_LEN)])
    }

    /// The first [`REPAIR_HEAD_LEN`] bytes as text a person can read: printable ASCII as is,
    /// everything else escaped (`\n`, `\x00`, …).
    pub fn head_text(&self) -> String {
        let head = &self.bytes[..self.bytes.len().min(REPAIR_HEAD_LEN)];
        head.iter()
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect()
    }

    /// One sentence for logs and the command line.
    pub fn describe(&self) -> String {
        format!(
            "line {} ({} bytes at offset {}, {}; SHA-256 {}), starting with \"{}\"{}",
            self.line,
            self.bytes.len(),
            self.offset,
            self.reason(),
            self.sha256(),
            self.head_text(),
            if self.bytes.len() > REPAIR_HEAD_LEN {
                "…"
            } else {
                ""
            }
        )
    }

    /// The [`REPAIR_EVENT`] record of this cut.
    pub(crate) fn event(&self) -> Event {
        Event::new(REPAIR_EVENT)
            .field("line", self.line)
            .field("offset", self.offset)
            .field("cut_bytes", self.bytes.len())
            .field("cut_sha256", self.sha256())
            .field("cut_head_hex", self.head_hex())
            .field("reason", self.reason())
    }
}

/// What a repair of the log at `path` would cut, without changing anything (and without
/// taking the lock, so it also works beside a running daemon).
///
/// `Ok(None)`: the log ends in a complete record (or is empty). `Err(`[`Error::Corrupt`]`)`:
/// the log is broken somewhere a repair does not touch.
pub fn find_torn_tail(path: impl AsRef<Path>) -> Result<Option<RepairedTail>> {
    let path = path.as_ref();
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let walked = walk(file, |_| {}).map_err(read_err)?;
    match (walked.report.problem, walked.torn) {
        (None, _) => Ok(None),
        (Some(Problem::TornTail { line, .. }), Some(torn)) => Ok(Some(RepairedTail {
            line,
            offset: torn.offset,
            bytes: torn.bytes,
        })),
        (Some(problem), _) => Err(problem_error(path, problem)),
    }
}
