//! The one error type of the audit log.
//!
//! Every message names the file and says what an operator should do next: the daemons print
//! these verbatim when they refuse to start or refuse a session.

use std::io;
use std::path::PathBuf;

use crate::verify::Problem;

/// Everything that can go wrong while opening, appending to or reading an audit log.
///
/// Problems *found in* a log by [`verify`](crate::verify()) are not errors: they are reported in
/// [`VerifyReport::problem`](crate::VerifyReport::problem). They become errors only where a
/// caller needs an intact log ([`AuditLog::open`](crate::AuditLog::open),
/// [`read_records`](crate::read_records)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log file (or its directory) could not be opened or created.
    #[error(
        "cannot open audit log {path}: {source}; check that the directory exists and that the \
         daemon's user may read and write it"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The path exists but is not a regular file (a directory, a device, a FIFO…).
    #[error(
        "audit log {path} is not a regular file; point the daemon at a plain file on a local \
         filesystem"
    )]
    NotAFile { path: PathBuf },

    /// Another open handle (normally another daemon) holds the exclusive lock on the log.
    #[error(
        "audit log {path} is locked by another process: only one daemon may append to a log; \
         stop the other daemon or give this one its own log file"
    )]
    Locked { path: PathBuf },

    /// Taking the advisory lock failed for a reason other than contention.
    #[error(
        "cannot lock audit log {path}: {source}; the log must live on a filesystem that \
         supports flock(2)"
    )]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Reading the log (to open it, verify it or read its records) failed.
    #[error("cannot read audit log {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The last line of the log is incomplete: an append was interrupted.
    #[error(
        "audit log {path} ends in a torn record: line {line} ({len} bytes) is incomplete, so an \
         append was interrupted (crash, power loss or full disk) and that record was never \
         acknowledged; the daemons cut such a line off at start and record the cut; to do it \
         by hand, stop the daemon and run `burnstand audit repair {path}` (with --dry-run first \
         to see what would be cut)"
    )]
    TornTail { path: PathBuf, line: u64, len: u64 },

    /// The log failed verification for a reason other than a torn tail.
    #[error(
        "audit log {path} failed verification: {problem}; refusing to use it: keep the file \
         unchanged as evidence, run `burnstand audit verify` on it for the full report, and \
         start the daemon on a new log file"
    )]
    Corrupt { path: PathBuf, problem: Problem },

    /// Writing a record failed. The log is now poisoned.
    #[error(
        "writing to audit log {path} failed: {source}; the log is now closed for appends and \
         the daemon must refuse new sessions; fix the storage (full disk? failing device?) and \
         restart the daemon"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Flushing a record to stable storage (fsync) failed. The log is now poisoned.
    #[error(
        "fsync of audit log {path} failed: {source}; the last record may not be on disk, so the \
         log is now closed for appends and the daemon must refuse new sessions; fix the storage \
         and restart the daemon"
    )]
    Sync {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An earlier write or fsync failed, so this append was refused without writing anything.
    #[error(
        "audit log {path} is poisoned since an earlier write or fsync failed ({cause}); nothing \
         was written; refuse new sessions, fix the storage and restart the daemon"
    )]
    Poisoned { path: PathBuf, cause: String },

    /// The event's line would be longer than [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN).
    #[error(
        "audit record for event {event:?} would be {len} bytes, over the {max}-byte limit; log \
         digests and names, not payloads (nothing was written)"
    )]
    RecordTooLong {
        event: String,
        len: usize,
        max: usize,
    },

    /// The event name is empty, too long or uses characters outside `[A-Za-z0-9._-]`.
    #[error(
        "invalid audit event name {name:?}: use 1 to 64 ASCII letters, digits, '.', '_' or '-', \
         starting with a letter (nothing was written)"
    )]
    InvalidEventName { name: String },

    /// A field name is empty, too long or uses characters outside `[A-Za-z0-9._-]`.
    #[error(
        "invalid field name {field:?} in audit event {event:?}: use 1 to 64 ASCII letters, \
         digits, '.', '_' or '-', starting with a letter (nothing was written)"
    )]
    InvalidFieldName { event: String, field: String },

    /// A field name collides with one of the record's own members.
    #[error(
        "field {field:?} of audit event {event:?} collides with a record member (seq, time, \
         prev, event); rename the field (nothing was written)"
    )]
    ReservedField { event: String, field: String },

    /// The same field name was given twice.
    #[error("field {field:?} is given twice in audit event {event:?} (nothing was written)")]
    DuplicateField { event: String, field: String },

    /// The system clock cannot be written as an RFC 3339 UTC timestamp.
    #[error(
        "the system clock is before 1970 or after 9999, so audit records cannot be timestamped; \
         fix the clock (nothing was written)"
    )]
    Clock,

    /// A log in segments does not verify end to end (a segment is missing, misnamed, …).
    #[error(
        "audit log {path} and its segments do not verify end to end: {problem}; keep the files \
         unchanged as evidence and run `burnstand audit verify` on the directory for the report"
    )]
    Segments { path: PathBuf, problem: String },

    /// The log no longer holds the head its daemon exported (checked at open).
    #[error(
        "audit log {path} does not hold the head exported to {head_file}: {problem}; its newest \
         records were removed or edited while the daemon was stopped, or the log was replaced; \
         keep both files as evidence and run `burnstand audit verify {path} --head \
         {head_file}`; to start on this log anyway, move {head_file} aside"
    )]
    HeadMismatch {
        path: PathBuf,
        head_file: PathBuf,
        problem: String,
    },

    /// An exported head file does not hold `SEQ:HASH`.
    #[error(
        "{path} is not a head file: it must hold one line SEQ:HASH (e.g. 42:9f86…), as \
         the daemon's head_export writes it"
    )]
    BadHead { path: PathBuf },

    /// The blocking task that performed an async append panicked or was cancelled.
    #[error(
        "the audit append task failed ({0}); whether the record was written is unknown, so the \
         log is now closed for appends; restart the daemon"
    )]
    Task(String),
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
