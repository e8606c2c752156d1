//! What [`verify_log`](super::verify_log) reports: the problem of a log in segments, naming the
//! file, and the report an operator reads.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::head::Head;
use crate::verify::Problem;

/// What is wrong with a log in segments, naming the file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogProblem {
    /// A problem inside one file (line numbers count in that file).
    InFile { file: PathBuf, problem: Problem },
    /// The records between two files are missing: a segment was removed.
    MissingSegment {
        file: PathBuf,
        expected_seq: u64,
        found_seq: u64,
        expected_name: PathBuf,
    },
    /// A file starts before the previous one ended: segments overlap or were copied.
    Overlap {
        file: PathBuf,
        expected_seq: u64,
        found_seq: u64,
    },
    /// A segment's content is not what its name says.
    Misnamed {
        file: PathBuf,
        first_seq: u64,
        last_seq: u64,
    },
    /// A rotate record names another predecessor than the file before it.
    WrongPredecessor {
        file: PathBuf,
        names: String,
        previous: String,
    },
    /// The exported head is not in the log.
    Head { head: Head, why: String },
}

impl fmt::Display for LogProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogProblem::InFile { file, problem } => write!(f, "{}: {problem}", file.display()),
            LogProblem::MissingSegment {
                file,
                expected_seq,
                found_seq,
                expected_name,
            } => write!(
                f,
                "records {expected_seq} to {} are missing before {}: the segment holding them \
                 (normally {}) was removed or moved away; restore it from the backup",
                found_seq.saturating_sub(1),
                file.display(),
                expected_name.display()
            ),
            LogProblem::Overlap {
                file,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "{} starts at record {found_seq}, but the file before it ends at record {}: \
                 segments overlap (a copy or a renamed file is among them)",
                file.display(),
                expected_seq.saturating_sub(1)
            ),
            LogProblem::Misnamed {
                file,
                first_seq,
                last_seq,
            } => write!(
                f,
                "{} holds records {first_seq} to {last_seq}, which is not what its name says: \
                 it was renamed, cut or extended",
                file.display()
            ),
            LogProblem::WrongPredecessor {
                file,
                names,
                previous,
            } => write!(
                f,
                "the rotate record at the start of {} names {names:?} as the segment before \
                 it, but the file before it is {previous:?}: segments were renamed or swapped",
                file.display()
            ),
            LogProblem::Head { head, why } => write!(
                f,
                "the exported head {}:{} is not in the log: {why}",
                head.seq, head.hash
            ),
        }
    }
}

/// What [`verify_log`](super::verify_log) found in a log and its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// The files read, oldest first (the live file last).
    pub files: Vec<PathBuf>,
    /// Intact records over all files.
    pub records: u64,
    /// `seq` of the first intact record (0 for none); above 1 when older segments are not here.
    pub first_seq: u64,
    /// Head of the intact part.
    pub last_seq: u64,
    pub last_hash: String,
    /// The first problem, if any.
    pub problem: Option<LogProblem>,
    /// With a head to check: records after it (appended after the export was read).
    pub after_head: Option<u64>,
}

impl LogReport {
    /// True when every file verified (and the head, if one was given, is in the log).
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// The problem as an [`Error`] for callers that need an intact log.
    pub fn into_result(self, live: &Path) -> Result<LogReport> {
        match self.problem {
            None => Ok(self),
            Some(LogProblem::InFile { file, problem }) => {
                Err(crate::verify::problem_error(&file, problem))
            }
            Some(problem) => Err(Error::Segments {
                path: live.to_owned(),
                problem: problem.to_string(),
            }),
        }
    }
}

impl fmt::Display for LogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let older = if self.first_seq > 1 {
            format!(
                " (records before {} are in older segments not present here)",
                self.first_seq
            )
        } else {
            String::new()
        };
        match &self.problem {
            None => {
                write!(
                    f,
                    "OK: {} records in {} file(s), chain intact end to end{older}; last record {} \
                     has hash {}",
                    self.records,
                    self.files.len(),
                    self.last_seq,
                    self.last_hash
                )?;
                match self.after_head {
                    Some(0) => write!(f, "; it ends exactly at the exported head"),
                    Some(n) => write!(
                        f,
                        "; it holds the exported head and {n} newer record(s) appended after it"
                    ),
                    None => write!(
                        f,
                        " (compare it with the head exported elsewhere, --head, to detect \
                         removal of the newest records)"
                    ),
                }
            }
            Some(problem) => write!(
                f,
                "FAILED: {problem}; the {} records before it are intact (last record {}, hash {})",
                self.records, self.last_seq, self.last_hash
            ),
        }
    }
}
