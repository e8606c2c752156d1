//! Offline verification: walk a log, check every line's shape and the hash chain, and name the
//! first problem precisely.
//!
//! The same walk runs when a daemon opens its log (so it never extends a broken chain) and when
//! an auditor runs `burnstand audit verify FILE`.
//!
//! How problems are told apart, at the first line `k` that does not follow its predecessor:
//!
//! * `k` chains to line `k-1` (its `prev` is that line's hash) but its `seq` is wrong: line `k`
//!   itself was edited ([`Problem::SeqChanged`]).
//! * `seq` is right but `prev` is not: if line `k+1` chains to line `k`, line `k` is as written,
//!   so line `k-1` was edited after `k` was appended ([`Problem::Edited`] naming `k-1`); if line
//!   `k+1` does not chain to `k` either, line `k` itself was edited ([`Problem::Edited`] naming
//!   `k`); with no usable line `k+1` the file cannot tell which ([`Problem::PrevMismatch`]).
//! * `seq` jumps forward and `prev` is wrong: if a skipped `seq` appears later in the file the
//!   records were moved ([`Problem::Reordered`]), otherwise they were removed
//!   ([`Problem::Deleted`]). `seq` going backwards is [`Problem::Reordered`] too (moved or
//!   duplicated).
//!
//! **What the file alone cannot show.** Nothing follows the newest record, so an edit of the
//! newest record that keeps it well-formed, or the removal of the newest records, leaves a
//! valid chain. Compare [`VerifyReport::last_seq`]/[`VerifyReport::last_hash`] with a head
//! recorded elsewhere (every append returns it in [`Appended`](crate::Appended)) to cover that;
//! see [`VerifyReport::ends_at`].

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};
use crate::record::Record;

pub(crate) mod walk;

pub(crate) use walk::walk;

/// The first problem found in a log. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A complete line (it ends in a newline) is not JSON.
    InvalidJson { line: u64, error: String },
    /// A line is JSON but not an audit record (missing or ill-typed `seq`/`time`/`prev`/`event`,
    /// or a field that is not a string, number or boolean).
    Malformed { line: u64, reason: String },
    /// A line is longer than [`MAX_RECORD_LEN`](crate::record::MAX_RECORD_LEN); reading stopped there.
    LineTooLong { line: u64, max: usize },
    /// The last line is not a complete record: it has no trailing newline, or it ends in one
    /// but is not JSON at all. An append was interrupted and never acknowledged. `len` counts
    /// every byte of the line, its newline included.
    TornTail { line: u64, len: u64 },
    /// The record on `line` was changed after the record on `next_line` (record `seq + 1`) was
    /// appended: its hash no longer matches that record's `prev`.
    Edited { line: u64, seq: u64, next_line: u64 },
    /// The record on `line` chains correctly to the line before it, but its `seq` is not the
    /// expected one: the record itself was edited.
    SeqChanged {
        line: u64,
        expected_seq: u64,
        found_seq: u64,
    },
    /// Records `expected_seq..found_seq` are missing before `line`, and do not appear later.
    Deleted {
        line: u64,
        expected_seq: u64,
        found_seq: u64,
    },
    /// `line` holds record `found_seq` where `expected_seq` was expected, and the chain is
    /// broken there: records were moved, swapped or duplicated.
    Reordered {
        line: u64,
        expected_seq: u64,
        found_seq: u64,
    },
    /// The record's `prev` is not the hash of the line before it (or, for line 1, not the 64
    /// zeros of a first record) and no later line tells whether that line or this one changed.
    PrevMismatch { line: u64, seq: u64 },
}

impl Problem {
    /// The line where the problem is (for [`Problem::Edited`], the edited line).
    pub fn line(&self) -> u64 {
        match *self {
            Problem::InvalidJson { line, .. }
            | Problem::Malformed { line, .. }
            | Problem::LineTooLong { line, .. }
            | Problem::TornTail { line, .. }
            | Problem::Edited { line, .. }
            | Problem::SeqChanged { line, .. }
            | Problem::Deleted { line, .. }
            | Problem::Reordered { line, .. }
            | Problem::PrevMismatch { line, .. } => line,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::InvalidJson { line, error } => {
                write!(
                    f,
                    "line {line} is not valid JSON ({error}): it was damaged or inserted"
                )
            }
            Problem::Malformed { line, reason } => {
                write!(f, "line {line} is not a valid audit record: {reason}")
            }
            Problem::LineTooLong { line, max } => write!(
                f,
                "line {line} is longer than the {max}-byte record limit: it was damaged or \
                 inserted (reading stopped there)"
            ),
            Problem::TornTail { line, len } => write!(
                f,
                "the last line (line {line}, {len} bytes) is torn: it is not a complete record \
                 (no trailing newline, or cut-off JSON), so an append was interrupted (crash, \
                 power loss or full disk) and that record was never acknowledged; the daemons \
                 cut such a line off at start and record the cut, or run `burnstand audit \
                 repair FILE`"
            ),
            Problem::Edited {
                line,
                seq,
                next_line,
            } => write!(
                f,
                "record {seq} (line {line}) was edited: its hash does not match the prev of \
                 record {} (line {next_line})",
                seq.saturating_add(1)
            ),
            Problem::SeqChanged {
                line,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "the record on line {line} was edited: it chains to line {}, so it is record \
                 {expected_seq}, but its seq reads {found_seq}",
                line.saturating_sub(1)
            ),
            Problem::Deleted {
                line,
                expected_seq,
                found_seq,
            } => {
                let last_missing = found_seq.saturating_sub(1);
                if last_missing == *expected_seq {
                    write!(f, "record {expected_seq} was deleted: ")?;
                } else {
                    write!(f, "records {expected_seq} to {last_missing} were deleted: ")?;
                }
                write!(
                    f,
                    "line {line} holds record {found_seq} where record {expected_seq} was expected"
                )
            }
            Problem::Reordered {
                line,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "records are out of order at line {line}: it holds record {found_seq} where \
                 record {expected_seq} was expected (records were moved, swapped or duplicated)"
            ),
            Problem::PrevMismatch { line: 1, seq } => write!(
                f,
                "record {seq} (line 1) does not start a chain: its prev is not 64 zeros (it was \
                 edited, or earlier records were removed and renumbered)"
            ),
            Problem::PrevMismatch { line, seq } => write!(
                f,
                "record {seq} (line {line}) does not chain to line {}: its prev is not that \
                 line's hash, so one of the two lines was edited (no later record tells which)",
                line - 1
            ),
        }
    }
}

/// What [`verify`] found.
///
/// `records`, `last_seq` and `last_hash` describe the intact prefix of the log: all of it when
/// `problem` is `None`, otherwise the records before the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// How many records are intact.
    pub records: u64,
    /// `seq` of the last intact record (0 for none).
    pub last_seq: u64,
    /// Hash of the last intact record's line ([`GENESIS_PREV`](crate::record::GENESIS_PREV) for none).
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// True when the whole file verified.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// True when the log verified and ends exactly at the given head (as returned by an append
    /// and recorded elsewhere): this also proves the newest record was not edited or removed,
    /// which the chain alone cannot.
    pub fn ends_at(&self, seq: u64, hash: &str) -> bool {
        self.is_ok() && self.last_seq == seq && self.last_hash == hash
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "OK: {} records, chain intact; last record {} has hash {} (compare it with the \
                 head recorded elsewhere to detect edits or removal of the newest records)",
                self.records, self.last_seq, self.last_hash
            ),
            Some(problem) => write!(
                f,
                "FAILED: {problem}; the {} records before it are intact (last record {}, hash {})",
                self.records, self.last_seq, self.last_hash
            ),
        }
    }
}

/// Verifies the log at `path`. `Err` only when the file cannot be read; problems found in the
/// file are in [`VerifyReport::problem`]. Takes no lock, so it can run beside a daemon that is
/// appending (a line being written at that instant may show as a torn tail).
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport> {
    let path = path.as_ref();
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    verify_reader(file).map_err(read_err)
}

/// Verifies a log read from `reader` (see [`verify`]).
pub fn verify_reader(reader: impl Read) -> io::Result<VerifyReport> {
    Ok(walk(reader, |_| {})?.report)
}

/// Reads every record of an intact log, in order, for statistics.
///
/// Refuses a log with any problem (including a torn tail) with [`Error::Corrupt`] or
/// [`Error::TornTail`]: statistics over a tampered log would be wrong without saying so.
pub fn read_records(path: impl AsRef<Path>) -> Result<Vec<Record>> {
    let path = path.as_ref();
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut records = Vec::new();
    let walked = walk(file, |r| records.push(r.clone())).map_err(read_err)?;
    match walked.report.problem {
        None => Ok(records),
        Some(problem) => Err(problem_error(path, problem)),
    }
}

/// Calls `on_record` for every record of a log in order, holding one record at a time, so a
/// daemon can index a large log at start-up in memory proportional to what it keeps. Fails
/// like [`read_records`] if the log does not verify (after `on_record` saw the good prefix).
pub fn scan_records(path: impl AsRef<Path>, on_record: impl FnMut(&Record)) -> Result<u64> {
    let path = path.as_ref();
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let walked = walk(file, on_record).map_err(read_err)?;
    match walked.report.problem {
        None => Ok(walked.report.records),
        Some(problem) => Err(problem_error(path, problem)),
    }
}

/// The error for opening or reading a log that has `problem`.
pub(crate) fn problem_error(path: &Path, problem: Problem) -> Error {
    match problem {
        Problem::TornTail { line, len } => Error::TornTail {
            path: path.to_owned(),
            line,
            len,
        },
        problem => Error::Corrupt {
            path: path.to_owned(),
            problem,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::GENESIS_PREV;

    #[test]
    fn problems_read_as_sentences() {
        let edited = Problem::Edited {
            line: 5,
            seq: 5,
            next_line: 6,
        };
        assert_eq!(
            edited.to_string(),
            "record 5 (line 5) was edited: its hash does not match the prev of record 6 (line 6)"
        );
        let deleted = Problem::Deleted {
            line: 3,
            expected_seq: 3,
            found_seq: 4,
        };
        assert_eq!(
            deleted.to_string(),
            "record 3 was deleted: line 3 holds record 4 where record 3 was expected"
        );
        let many = Problem::Deleted {
            line: 3,
            expected_seq: 3,
            found_seq: 6,
        };
        assert!(many.to_string().starts_with("records 3 to 5 were deleted"));
        assert!(Problem::PrevMismatch { line: 1, seq: 1 }
            .to_string()
            .contains("does not start a chain"));
        assert!(Problem::PrevMismatch { line: 4, seq: 4 }
            .to_string()
            .contains("does not chain to line 3"));
        assert_eq!(edited.line(), 5);
    }

    #[test]
    fn empty_log_is_a_valid_empty_chain() {
        let report = verify_reader(&b""[..]).unwrap();
        assert_eq!(
            report,
            VerifyReport {
                records: 0,
                last_seq: 0,
                last_hash: GENESIS_PREV.to_owned(),
                problem: None
            }
        );
        assert!(report.to_string().starts_with("OK: 0 records"));
    }
}
