//! The burnstand audit log: who burned which image (by digest), where, when, and whether the
//! disc verified.
//!
//! # Place in the architecture
//!
//! Both daemons, the master relay and every burner station, write the same kind of log through
//! this one crate, so an auditor reads and verifies all of them with one tool
//! (`burnstand audit verify FILE`, which prints a [`VerifyReport`]). Each daemon owns its log
//! file exclusively ([`AuditLog`] holds an `flock`) and its async tasks share it through
//! [`SharedAuditLog`].
//!
//! # Format
//!
//! An append-only JSON Lines file, one record per line, members in a fixed order:
//!
//! ```text
//! {"seq":1,"time":"2026-11-22T04:30:00.123Z","prev":"0000…0000","event":"auth.ok","principal":"alice@LAB","peer":"127.0.0.1:5000"}
//! {"seq":2,"time":"2026-11-22T04:30:01.004Z","prev":"9f86…0a08","event":"burn.end","image_sha256":"…","verified":true}
//! ```
//!
//! `seq` counts from 1 without gaps; `time` is UTC (RFC 3339, milliseconds); `prev` is the
//! SHA-256 (hex) of the exact bytes of the previous line without its newline (64 zeros for
//! the first record); `event` names what happened; the event's own fields follow, flat, as
//! strings, integers or booleans. Lines are at most [`MAX_RECORD_LEN`] bytes.
//!
//! # Guarantees, and why
//!
//! * **Every acknowledged action is recorded.** [`AuditLog::append`] writes the line with one
//!   `O_APPEND` write and fsyncs it before returning `Ok`; callers acknowledge the action only
//!   after that. The converse is not promised: a crash between the write and the caller's
//!   acknowledgement leaves a record of an action nobody saw confirmed.
//! * **Fail closed.** If a write or fsync fails, the log is poisoned: every later append is
//!   refused and [`AuditLog::is_healthy`] turns false, so the daemon stops accepting sessions
//!   rather than run unaudited. A failed write (or a crash) may leave a torn last line;
//!   [`AuditLog::open`] refuses it, [`AuditLog::open_repairing`] (what the daemons use at
//!   start) cuts off only that line — a record that was never acknowledged — and records the
//!   cut as an [`REPAIR_EVENT`] record (see [`find_torn_tail`]). A complete record is never
//!   cut.
//! * **After-the-fact edits are detectable offline.** Each record carries the hash of the line
//!   before it, so editing, deleting, reordering or inserting records breaks the chain, and
//!   [`verify()`] names the first such problem with its line number, in words. The newest
//!   record has no successor to vouch for it: compare the report's `last_seq`/`last_hash` with
//!   a head recorded elsewhere (every append returns it) to cover edits or removal at the end.
//!   The chain detects tampering; it does not prevent someone who can write the file from
//!   rewriting the whole chain, which is why heads should be kept elsewhere too.
//!
//! # Lifecycle: segments, head export
//!
//! With `[audit]` settings ([`AuditSettings`], passed through [`OpenOptions::settings`]) the
//! live file is rotated by size and/or UTC day into segments beside it,
//! `<stem>.<first-seq>-<last-seq>.<ext>`, inside [`AuditLog::append`] and without losing the
//! fsync before the acknowledgement. `seq` keeps counting and the new live file starts with an
//! [`ROTATE_EVENT`] record chained to the segment's last line, so [`verify_log`] checks a whole
//! directory end to end and names a missing, renamed or edited segment; [`scan_log`] is how
//! every reader that needs older records (quotas, SYNC, reconcile, statistics) reads across
//! segments (see [`segments`]). After each append the head can be written to a second place
//! ([`Head`], `head_export`), so that removal of the newest records is detected too.
//!
//! # What must never be logged
//!
//! Secrets. Callers must not put Kerberos tokens, session keys, passwords or disc payload into
//! [`Event`] fields: audit logs are kept for years and read by people. Log principals, peers,
//! image digests, sizes, outcomes.
//!
//! # Example
//!
//! ```
//! use burnstand_audit::{verify, AuditLog, Event};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("audit.log");
//! let mut log = AuditLog::open(&path)?;
//! let appended = log.append(&Event::new("auth.ok").field("principal", "alice@LAB"))?;
//! // Only now acknowledge the login.
//! assert_eq!(appended.seq, 1);
//! drop(log);
//! assert!(verify(&path)?.ends_at(appended.seq, &appended.hash));
//! # Ok(())
//! # }
//! ```

pub mod budget;
mod error;
mod head;
mod log;
mod record;
mod repair;
mod rotate;
pub mod segments;
mod settings;
mod shared;
pub mod space;
mod verify;

pub use crate::error::{Error, Result};
pub use crate::head::{Head, MAX_HEAD_FILE_LEN};
#[doc(hidden)]
pub use crate::log::TestOnlyFailure;
pub use crate::log::{Appended, AuditLog, OpenOptions};
pub use crate::record::{
    line_hash, Event, FieldValue, Record, GENESIS_PREV, MAX_NAME_LEN, MAX_RECORD_LEN,
    RESERVED_NAMES,
};
pub use crate::repair::{find_torn_tail, RepairedTail, REPAIR_EVENT, REPAIR_HEAD_LEN};
pub use crate::segments::{
    scan_log, scan_log_strict, segment_path, segments_of, verify_log, LogProblem, LogReport,
    Segment, ROTATE_EVENT,
};
pub use crate::settings::{AuditSettings, MIN_ROTATE_BYTES};
pub use crate::shared::SharedAuditLog;
pub use crate::verify::{read_records, scan_records, verify, verify_reader, Problem, VerifyReport};
