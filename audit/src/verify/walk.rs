//! The walk under every verification: split a log into bounded lines, classify each one
//! (a record, a torn tail, a problem), and follow the hash chain, calling back for every
//! record that holds.

use std::io::{self, BufRead, BufReader, Read};

use super::{Problem, VerifyReport};
use crate::record::{line_hash, parse_record, ParseError, Record, GENESIS_PREV, MAX_RECORD_LEN};
use crate::segments::rotate_anchor;

/// A torn last line: where it starts and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TornLine {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// The result of a walk: the report, plus the torn line if that is the problem.
pub(crate) struct Walk {
    pub report: VerifyReport,
    pub torn: Option<TornLine>,
    /// `seq` of the first intact record (0 for none).
    pub first_seq: u64,
}

/// Where the chain of a file starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// A whole log or its first segment: record 1 with `prev` of 64 zeros, or a segment that
    /// begins with an [`ROTATE_EVENT`](crate::ROTATE_EVENT) record, which names the head of the
    /// segment before it (itself not read here).
    Open,
    /// A segment that must continue exactly after record `seq`, whose line hashes to `hash`.
    After { seq: u64, hash: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Ended by a newline (not included in the bytes).
    Newline,
    /// Ended by end of file.
    Eof,
    /// Longer than the limit (ended by a newline) or longer than the largest append (ended by
    /// end of file); the bytes hold at most the first `MAX_RECORD_LEN + 2`.
    TooLong,
}

struct RawLine {
    number: u64,
    offset: u64,
    bytes: Vec<u8>,
    ending: Ending,
}

/// Splits a reader into lines of at most `max` bytes without ever buffering more.
struct Lines<R> {
    reader: R,
    max: usize,
    number: u64,
    offset: u64,
    done: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R, max: usize) -> Self {
        Lines {
            reader,
            max,
            number: 0,
            offset: 0,
            done: false,
        }
    }

    fn next_line(&mut self) -> io::Result<Option<RawLine>> {
        if self.done {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        let mut consumed = 0u64;
        let ending = loop {
            let buf = match self.reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                self.done = true;
                if bytes.is_empty() {
                    return Ok(None);
                }
                break Ending::Eof;
            }
            // Look at no more than the rest of the limit plus two bytes: enough to see the
            // newline, that the line is too long, or a line cut at the end of the file that is
            // exactly as long as the largest append (a record of `max` bytes and its newline,
            // all of it read back as zeros after a power cut): that one is a torn tail.
            let window = buf.len().min(self.max + 2 - bytes.len());
            if let Some(i) = buf[..window].iter().position(|&b| b == b'\n') {
                bytes.extend_from_slice(&buf[..i]);
                self.reader.consume(i + 1);
                consumed += i as u64 + 1;
                if bytes.len() > self.max {
                    self.done = true;
                    break Ending::TooLong;
                }
                break Ending::Newline;
            }
            bytes.extend_from_slice(&buf[..window]);
            self.reader.consume(window);
            consumed += window as u64;
            if bytes.len() > self.max + 1 {
                self.done = true;
                break Ending::TooLong;
            }
        };
        self.number += 1;
        let line = RawLine {
            number: self.number,
            offset: self.offset,
            bytes,
            ending,
        };
        self.offset += consumed;
        Ok(Some(line))
    }
}

/// A line that parsed as a record.
struct Parsed {
    number: u64,
    hash: String,
    record: Record,
    bytes: Vec<u8>,
}

/// A record accepted as part of the intact chain.
#[derive(Clone)]
struct Accepted {
    line: u64,
    seq: u64,
    hash: String,
}

enum Classified {
    Record(Parsed),
    Problem(Problem, Option<TornLine>),
}

/// Classifies one line; `is_last` says that nothing follows it in the file.
fn classify(raw: RawLine, is_last: bool) -> Classified {
    match raw.ending {
        Ending::TooLong => {
            return Classified::Problem(
                Problem::LineTooLong {
                    line: raw.number,
                    max: MAX_RECORD_LEN,
                },
                None,
            )
        }
        Ending::Eof => {
            return Classified::Problem(
                Problem::TornTail {
                    line: raw.number,
                    len: raw.bytes.len() as u64,
                },
                Some(TornLine {
                    offset: raw.offset,
                    bytes: raw.bytes,
                }),
            )
        }
        Ending::Newline => {}
    }
    match parse_record(&raw.bytes) {
        Ok(record) => Classified::Record(Parsed {
            number: raw.number,
            hash: line_hash(&raw.bytes),
            record,
            bytes: raw.bytes,
        }),
        // The last line ends in a newline but is not even JSON: the remains of an interrupted
        // append that got a newline afterwards (an editor, `echo >>`). A line that *is* JSON is
        // judged as a record: a complete record is never called torn.
        Err(ParseError::Json(_)) if is_last => {
            let mut bytes = raw.bytes;
            bytes.push(b'\n');
            Classified::Problem(
                Problem::TornTail {
                    line: raw.number,
                    len: bytes.len() as u64,
                },
                Some(TornLine {
                    offset: raw.offset,
                    bytes,
                }),
            )
        }
        Err(ParseError::Json(error)) => Classified::Problem(
            Problem::InvalidJson {
                line: raw.number,
                error,
            },
            None,
        ),
        Err(ParseError::Malformed(reason)) => Classified::Problem(
            Problem::Malformed {
                line: raw.number,
                reason,
            },
            None,
        ),
    }
}

/// Walks the whole log from its start, calling `on_record` for each record of the intact
/// prefix, and stops at the first problem.
pub(crate) fn walk(reader: impl Read, mut on_record: impl FnMut(&Record)) -> io::Result<Walk> {
    walk_from(reader, Anchor::Open, |record, _| on_record(record))
}

/// Walks one file whose chain starts at `anchor`, calling `on_record` with each record of the
/// intact prefix and its exact line (without the newline), and stops at the first problem.
pub(crate) fn walk_from(
    reader: impl Read,
    anchor: Anchor,
    mut on_record: impl FnMut(&Record, &[u8]),
) -> io::Result<Walk> {
    let mut lines = Lines::new(BufReader::new(reader), MAX_RECORD_LEN);
    let mut records = 0u64;
    let mut first_seq = 0u64;
    // The head the first line must continue: (seq, hash) of the record before it.
    let mut anchor = match anchor {
        Anchor::Open => None,
        Anchor::After { seq, hash } => Some((seq, hash)),
    };
    let mut may_take_rotate_anchor = anchor.is_none();
    let mut last: Option<Accepted> = None;
    let mut before_last: Option<Accepted> = None;
    let mut pending = lines.next_line()?;

    let finish = |records: u64,
                  last: Option<Accepted>,
                  anchor: Option<(u64, String)>,
                  problem,
                  torn,
                  first_seq: u64| {
        let (last_seq, last_hash) = match (last, anchor) {
            (Some(a), _) => (a.seq, a.hash),
            (None, Some((seq, hash))) => (seq, hash),
            (None, None) => (0, GENESIS_PREV.to_owned()),
        };
        Walk {
            report: VerifyReport {
                records,
                last_seq,
                last_hash,
                problem,
            },
            torn,
            first_seq,
        }
    };

    loop {
        let Some(raw) = pending.take() else {
            return Ok(finish(records, last, anchor, None, None, first_seq));
        };
        pending = lines.next_line()?;
        let current = match classify(raw, pending.is_none()) {
            Classified::Record(parsed) => parsed,
            Classified::Problem(problem, torn) => {
                return Ok(finish(
                    records,
                    last,
                    anchor,
                    Some(problem),
                    torn,
                    first_seq,
                ))
            }
        };
        if may_take_rotate_anchor {
            may_take_rotate_anchor = false;
            match rotate_anchor(&current.record) {
                Ok(Some(head)) => anchor = Some(head),
                Ok(None) => {}
                Err(reason) => {
                    let problem = Problem::Malformed {
                        line: current.number,
                        reason,
                    };
                    return Ok(finish(
                        records,
                        last,
                        anchor,
                        Some(problem),
                        None,
                        first_seq,
                    ));
                }
            }
        }
        let expected_seq = match (&last, &anchor) {
            (Some(a), _) => a.seq + 1,
            (None, Some((seq, _))) => seq + 1,
            (None, None) => 1,
        };
        let expected_prev = match (&last, &anchor) {
            (Some(a), _) => a.hash.as_str(),
            (None, Some((_, hash))) => hash.as_str(),
            (None, None) => GENESIS_PREV,
        };
        let found_seq = current.record.seq;
        let seq_ok = found_seq == expected_seq;
        let prev_ok = current.record.prev == expected_prev;

        if seq_ok && prev_ok {
            on_record(&current.record, &current.bytes);
            if records == 0 {
                first_seq = found_seq;
            }
            records += 1;
            before_last = last.replace(Accepted {
                line: current.number,
                seq: found_seq,
                hash: current.hash,
            });
            continue;
        }

        let line = current.number;
        let problem = if prev_ok {
            Problem::SeqChanged {
                line,
                expected_seq,
                found_seq,
            }
        } else if seq_ok {
            let next = pending.as_ref().and_then(|raw| match raw.ending {
                Ending::Newline => parse_record(&raw.bytes)
                    .ok()
                    .map(|r| (raw.number, r.seq, r.prev)),
                _ => None,
            });
            match (next, &last) {
                // The next line still chains to this one, so this line is as written: the line
                // before it changed after this one was appended.
                (Some((_, next_seq, next_prev)), Some(edited))
                    if next_seq == found_seq + 1 && next_prev == current.hash =>
                {
                    let problem = Problem::Edited {
                        line: edited.line,
                        seq: edited.seq,
                        next_line: line,
                    };
                    let first = if records > 1 { first_seq } else { 0 };
                    return Ok(finish(
                        records - 1,
                        before_last,
                        anchor,
                        Some(problem),
                        None,
                        first,
                    ));
                }
                // Neither side of this line chains: this line itself changed.
                (Some((next_line, next_seq, next_prev)), _)
                    if next_seq == found_seq + 1 && next_prev != current.hash =>
                {
                    Problem::Edited {
                        line,
                        seq: found_seq,
                        next_line,
                    }
                }
                _ => Problem::PrevMismatch {
                    line,
                    seq: found_seq,
                },
            }
        } else if found_seq > expected_seq {
            if seq_appears_later(pending.take(), &mut lines, expected_seq..found_seq)? {
                Problem::Reordered {
                    line,
                    expected_seq,
                    found_seq,
                }
            } else {
                Problem::Deleted {
                    line,
                    expected_seq,
                    found_seq,
                }
            }
        } else {
            Problem::Reordered {
                line,
                expected_seq,
                found_seq,
            }
        };
        return Ok(finish(
            records,
            last,
            anchor,
            Some(problem),
            None,
            first_seq,
        ));
    }
}

/// Scans the rest of the file for a record whose `seq` is in `missing`.
fn seq_appears_later<R: BufRead>(
    mut pending: Option<RawLine>,
    lines: &mut Lines<R>,
    missing: std::ops::Range<u64>,
) -> io::Result<bool> {
    while let Some(raw) = pending {
        if raw.ending == Ending::Newline {
            if let Ok(record) = parse_record(&raw.bytes) {
                if missing.contains(&record.seq) {
                    return Ok(true);
                }
            }
        }
        pending = lines.next_line()?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_lines(data: &[u8], max: usize) -> Vec<(u64, u64, Vec<u8>, Ending)> {
        // A 3-byte buffer exercises lines that span several fill_buf calls.
        let mut lines = Lines::new(BufReader::with_capacity(3, data), max);
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            out.push((l.number, l.offset, l.bytes, l.ending));
        }
        out
    }

    #[test]
    fn lines_report_offsets_and_endings() {
        let got = all_lines(b"ab\n\ncdef\ngh", 10);
        assert_eq!(
            got,
            vec![
                (1, 0, b"ab".to_vec(), Ending::Newline),
                (2, 3, b"".to_vec(), Ending::Newline),
                (3, 4, b"cdef".to_vec(), Ending::Newline),
                (4, 9, b"gh".to_vec(), Ending::Eof),
            ]
        );
        assert!(all_lines(b"", 10).is_empty());
    }

    #[test]
    fn lines_stop_at_the_limit_without_buffering_more() {
        // Exactly the limit is fine; one byte more is too long, and reading stops there.
        let got = all_lines(b"12345\n123456\nxx\n", 5);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].3, Ending::Newline);
        assert_eq!(got[1].2, b"123456".to_vec());
        assert_eq!(got[1].3, Ending::TooLong);
        let huge = vec![b'a'; 1 << 20];
        let got = all_lines(&huge, 5);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].2.len(), 7);
        assert_eq!(got[0].3, Ending::TooLong);
        // At the end of the file, one byte more than the limit is what a whole append (its
        // newline included) leaves when it reads back as zeros: a torn line, not a long one.
        let got = all_lines(b"12345\n\0\0\0\0\0\0", 5);
        assert_eq!(got[1].3, Ending::Eof);
        let got = all_lines(b"12345\n\0\0\0\0\0\0\0", 5);
        assert_eq!(got[1].3, Ending::TooLong);
    }
}
