//! A log in segments: the live file plus the rotated segments beside it, read and verified as
//! one chain.
//!
//! # Naming
//!
//! The daemon appends to the **live** file, the configured `audit_log`, e.g.
//! `/var/log/burnstand/master.jsonl`. Rotation ([`crate::AuditSettings`]) gives the live file's
//! records a name of their own, `<stem>.<first-seq>-<last-seq>.<extension>` in the same
//! directory, both numbers zero-padded to [`SEQ_DIGITS`] digits so that `ls` lists segments in
//! order (e.g. `master.000000000001-000000004711.jsonl`), and starts a new live file.
//!
//! # The chain runs end to end
//!
//! `seq` keeps counting across segments, and the first record of every new live file is an
//! [`ROTATE_EVENT`] record whose `prev` is the hash of the previous segment's last line; its
//! fields repeat that head (`prev_last_seq`, `prev_hash`) and name the segment
//! (`prev_segment`, `prev_first_seq`). So removing, editing, renaming or swapping a segment
//! breaks the chain where it joins the next one, and [`verify_log`] names the file.
//!
//! Segments older than the first one present may have been archived elsewhere: the first file
//! read may start with a rotate record (it then says where the records before it went); any
//! gap after it is a problem.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::head::Head;
use crate::record::Record;
use crate::verify::walk::{walk_from, Anchor};
use crate::verify::{Problem, VerifyReport};

mod report;

pub use report::{LogProblem, LogReport};

/// The event that starts every live file after a rotation.
pub const ROTATE_EVENT: &str = "audit.rotate";

/// Digits of the zero-padded `seq` numbers in a segment's name: a lab logging a million records
/// a day needs 2,700 years to outgrow them (longer numbers still parse).
pub const SEQ_DIGITS: usize = 12;

/// Most segments read for one log: one a day for 270 years, or 100 GiB in 1 MiB segments.
/// A directory with more is refused rather than listed into memory without bound.
pub const MAX_SEGMENTS: usize = 100_000;

/// A rotated segment of a log, as found beside its live file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub path: PathBuf,
    /// The first and last `seq` its name claims.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// The name of the segment holding records `first..=last` of the live file `live`.
pub fn segment_path(live: &Path, first: u64, last: u64) -> PathBuf {
    let (stem, ext) = stem_and_ext(live);
    let name = match ext {
        Some(ext) => format!("{stem}.{first:0w$}-{last:0w$}.{ext}", w = SEQ_DIGITS),
        None => format!("{stem}.{first:0w$}-{last:0w$}", w = SEQ_DIGITS),
    };
    live.with_file_name(name)
}

/// The hidden file a rotation prepares the new live file in (see `AuditLog::append`).
pub(crate) fn rotating_path(live: &Path) -> PathBuf {
    let name = live
        .file_name()
        .map_or_else(|| "audit".into(), |n| n.to_string_lossy().into_owned());
    live.with_file_name(format!(".{name}.rotating"))
}

fn stem_and_ext(live: &Path) -> (String, Option<String>) {
    let stem = live
        .file_stem()
        .map_or_else(|| "audit".into(), |s| s.to_string_lossy().into_owned());
    let ext = live.extension().map(|e| e.to_string_lossy().into_owned());
    (stem, ext)
}

/// The `(first, last)` of a segment name of `live`, or `None` for any other file.
fn parse_segment_name(live: &Path, name: &str) -> Option<(u64, u64)> {
    let (stem, ext) = stem_and_ext(live);
    let rest = name.strip_prefix(&stem)?.strip_prefix('.')?;
    let range = match &ext {
        Some(ext) => rest.strip_suffix(ext.as_str())?.strip_suffix('.')?,
        None => rest,
    };
    let (first, last) = range.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return None;
    }
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// The rotated segments beside the live file `live`, oldest first (by their names).
pub fn segments_of(live: &Path) -> io::Result<Vec<Segment>> {
    let dir = match live.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((first_seq, last_seq)) = parse_segment_name(live, &name.to_string_lossy()) else {
            continue;
        };
        if found.len() >= MAX_SEGMENTS {
            return Err(io::Error::other(format!(
                "more than {MAX_SEGMENTS} segments of {} in {}; archive the oldest ones \
                 elsewhere",
                live.display(),
                dir.display()
            )));
        }
        found.push(Segment {
            path: entry.path(),
            first_seq,
            last_seq,
        });
    }
    found.sort_by_key(|s| (s.first_seq, s.last_seq));
    Ok(found)
}

/// The head a segment's first record continues, if it is a rotate record: `(seq - 1, prev)`.
/// `Err` names what is wrong with a rotate record whose fields do not repeat its own head.
pub(crate) fn rotate_anchor(record: &Record) -> std::result::Result<Option<(u64, String)>, String> {
    if record.event != ROTATE_EVENT {
        return Ok(None);
    }
    if record.seq < 2 {
        return Err(format!(
            "an {ROTATE_EVENT} record cannot be record 1: there is no segment before it"
        ));
    }
    let before = record.seq - 1;
    if record.get_u64("prev_last_seq") != Some(before)
        || record.get_str("prev_hash") != Some(record.prev.as_str())
    {
        return Err(format!(
            "its prev_last_seq/prev_hash do not repeat its own seq - 1 ({before}) and prev: \
             the {ROTATE_EVENT} record was edited"
        ));
    }
    Ok(Some((before, record.prev.clone())))
}

/// Opens the live file (if there is one) and lists the segments before it, so that a rotation
/// running meanwhile cannot make a file appear twice or not at all: the live file is opened
/// first, and a segment that is the same file (a rotation that happened since) ends the list.
fn open_files(live: &Path) -> io::Result<(Vec<Segment>, Option<File>)> {
    let live_file = match File::open(live) {
        Ok(file) => Some(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut segments = segments_of(live)?;
    if let Some(file) = &live_file {
        let meta = file.metadata()?;
        if let Some(i) = segments.iter().position(|s| {
            std::fs::metadata(&s.path).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
        }) {
            segments.truncate(i);
        }
    }
    Ok((segments, live_file))
}

/// Verifies the log whose live file is `live` (which may be missing) and every segment beside
/// it, in order, end to end; with `head`, also that the record at `head.seq` is in the log with
/// `head.hash`. Calls `on_record` for every intact record with its exact line. `Err` only when
/// a file cannot be read.
pub fn scan_log(
    live: &Path,
    head: Option<&Head>,
    mut on_record: impl FnMut(&Record, &[u8]),
) -> Result<LogReport> {
    let read_err = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Read { path, source }
    };
    let (segments, live_file) = open_files(live).map_err(read_err(live))?;
    let mut report = LogReport {
        files: Vec::new(),
        records: 0,
        first_seq: 0,
        last_seq: 0,
        last_hash: crate::record::GENESIS_PREV.to_owned(),
        problem: None,
        after_head: None,
    };
    // The hash of record `head.seq`, once seen: the prev of the record after it, or the end.
    let mut head_hash: Option<String> = None;
    let mut files: Vec<(PathBuf, Option<&Segment>, Box<dyn Read>)> = Vec::new();
    for segment in &segments {
        let file = File::open(&segment.path).map_err(read_err(&segment.path))?;
        files.push((segment.path.clone(), Some(segment), Box::new(file)));
    }
    if let Some(file) = live_file {
        files.push((live.to_owned(), None, Box::new(file)));
    }
    let mut previous_name: Option<String> = None;
    for (path, segment, reader) in files {
        report.files.push(path.clone());
        let anchor = if report.records == 0 && report.last_seq == 0 {
            Anchor::Open
        } else {
            Anchor::After {
                seq: report.last_seq,
                hash: report.last_hash.clone(),
            }
        };
        let mut first_of_file: Option<(u64, Option<String>)> = None;
        let walked = walk_from(reader, anchor, |record, line| {
            if first_of_file.is_none() {
                let names = (record.event == ROTATE_EVENT)
                    .then(|| record.get_str("prev_segment").unwrap_or("").to_owned());
                first_of_file = Some((record.seq, names));
            }
            if let Some(head) = head {
                if record.seq == head.seq.saturating_add(1) {
                    head_hash = Some(record.prev.clone());
                }
                if record.seq == head.seq {
                    head_hash = Some(crate::record::line_hash(line));
                }
            }
            on_record(record, line);
        })
        .map_err(read_err(&path))?;
        let walk_report: VerifyReport = walked.report;
        if report.first_seq == 0 && walk_report.records > 0 {
            report.first_seq = walked.first_seq;
        }
        let expected_seq = report.last_seq + 1;
        report.records += walk_report.records;
        report.last_seq = walk_report.last_seq;
        report.last_hash = walk_report.last_hash;
        if let Some(problem) = walk_report.problem {
            report.problem = Some(match problem {
                Problem::Deleted {
                    line: 1, found_seq, ..
                } if expected_seq > 1 => LogProblem::MissingSegment {
                    expected_name: segment_path(live, expected_seq, found_seq - 1),
                    file: path,
                    expected_seq,
                    found_seq,
                },
                Problem::Reordered {
                    line: 1, found_seq, ..
                } if expected_seq > 1 => LogProblem::Overlap {
                    file: path,
                    expected_seq,
                    found_seq,
                },
                problem => LogProblem::InFile {
                    file: path,
                    problem,
                },
            });
            return Ok(report);
        }
        if let (Some(previous), Some((_, Some(names)))) = (&previous_name, &first_of_file) {
            if names != previous {
                report.problem = Some(LogProblem::WrongPredecessor {
                    file: path,
                    names: names.clone(),
                    previous: previous.clone(),
                });
                return Ok(report);
            }
        }
        if let Some(segment) = segment {
            let first = first_of_file.as_ref().map_or(0, |(seq, _)| *seq);
            if first != segment.first_seq || report.last_seq != segment.last_seq {
                report.problem = Some(LogProblem::Misnamed {
                    file: path,
                    first_seq: first,
                    last_seq: report.last_seq,
                });
                return Ok(report);
            }
        }
        previous_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    }
    if let Some(head) = head {
        if report.last_seq == head.seq {
            head_hash = Some(report.last_hash.clone());
        }
        let why = match head_hash {
            _ if report.last_seq < head.seq => Some(format!(
                "the log ends at record {}, before it: its newest records were edited or \
                 removed (or the log was replaced)",
                report.last_seq
            )),
            _ if head.seq > 0 && head.seq < report.first_seq => Some(format!(
                "record {} is in an older segment that is not here; verify with it present",
                head.seq
            )),
            Some(hash) if hash != head.hash => Some(format!(
                "record {} has hash {hash}: it was edited (or the log from it on was rewritten)",
                head.seq
            )),
            _ => None,
        };
        match why {
            Some(why) => {
                report.problem = Some(LogProblem::Head {
                    head: head.clone(),
                    why,
                })
            }
            None => report.after_head = Some(report.last_seq - head.seq),
        }
    }
    Ok(report)
}

/// Verifies a log in segments; see [`scan_log`].
pub fn verify_log(live: &Path, head: Option<&Head>) -> Result<LogReport> {
    scan_log(live, head, |_, _| {})
}

/// Calls `on_record` for every record of the whole log (all segments, then the live file), in
/// order, with its exact line; fails like [`crate::read_records`] unless the log verifies end to
/// end. What every daemon reader that needs older records uses (quotas, SYNC, reconcile).
pub fn scan_log_strict(live: &Path, on_record: impl FnMut(&Record, &[u8])) -> Result<LogReport> {
    scan_log(live, None, on_record)?.into_result(live)
}

/// The `(seq, hash)` at the end of the segment at `path`, for continuing the chain after it
/// when the live file is gone. Refuses a segment that does not verify on its own.
pub(crate) fn segment_end(path: &Path) -> Result<(u64, u64, String)> {
    let file = File::open(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    let walked =
        walk_from(BufReader::new(file), Anchor::Open, |_, _| {}).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
    if let Some(problem) = walked.report.problem {
        return Err(crate::verify::problem_error(path, problem));
    }
    Ok((
        walked.first_seq,
        walked.report.last_seq,
        walked.report.last_hash,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_and_parse_back() {
        let live = Path::new("/var/log/burnstand/master.jsonl");
        let p = segment_path(live, 1, 4711);
        assert_eq!(
            p,
            Path::new("/var/log/burnstand/master.000000000001-000000004711.jsonl")
        );
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(parse_segment_name(live, &name), Some((1, 4711)));
        assert_eq!(parse_segment_name(live, "master.jsonl"), None);
        assert_eq!(parse_segment_name(live, "master.1-x.jsonl"), None);
        assert_eq!(parse_segment_name(live, "other.1-2.jsonl"), None);
        let bare = Path::new("audit");
        assert_eq!(
            segment_path(bare, 3, 4),
            Path::new("audit.000000000003-000000000004")
        );
        assert_eq!(parse_segment_name(bare, "audit.3-4"), Some((3, 4)));
        assert_eq!(parse_segment_name(bare, "audit"), None);
        assert_eq!(
            rotating_path(live),
            Path::new("/var/log/burnstand/.master.jsonl.rotating")
        );
    }
}
