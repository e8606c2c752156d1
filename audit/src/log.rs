//! [`AuditLog`]: open (verify, lock, maybe repair), append (write, fsync, or poison).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::head::{Head, HeadExport};
use crate::record::{line_hash, now_rfc3339, render_line, Event};
use crate::repair::RepairedTail;
use crate::settings::AuditSettings;
use crate::verify::walk::{walk_from, Anchor};
use crate::verify::{problem_error, Problem};

/// Permissions of a newly created log: owner read/write, group read (auditors), others nothing.
pub(crate) const NEW_LOG_MODE: u32 = 0o640;

/// What an append returns once the record is on stable storage.
///
/// `seq` and `hash` are the log's new head. A daemon that also records the head somewhere else
/// (its own log at shutdown, the master's log for a station) lets an auditor detect edits or
/// removal of the newest records, which the chain alone cannot show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The record's `seq`.
    pub seq: u64,
    /// The record's `time`.
    pub time: String,
    /// SHA-256 (hex) of the record's line: the next record's `prev`.
    pub hash: String,
    /// The record's line exactly as written (without its newline): what a receipt hands to
    /// the user, so they can later prove it is in the log byte for byte.
    pub line: String,
}

/// Injected failure for tests of the fail-closed path; never use it in a daemon.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOnlyFailure {
    /// The `on_append`-th append through this handle (from 1) writes `partial_bytes` of its line,
    /// then its write fails.
    Write {
        on_append: u64,
        partial_bytes: usize,
    },
    /// The `on_append`-th append writes its whole line, then its fsync fails.
    Sync { on_append: u64 },
}

/// How to open a log. [`AuditLog::open`] and [`AuditLog::open_repairing`] cover the usual cases.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    repair_torn_tail: bool,
    settings: AuditSettings,
    failure: Option<TestOnlyFailure>,
}

impl OpenOptions {
    /// Default options: refuse a torn tail.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to cut off a torn last line instead of refusing to open.
    ///
    /// A torn line is the prefix of a record whose append never returned `Ok`, so its action
    /// was never acknowledged and cutting it loses no acknowledged record. The cut is not
    /// silent: the file is truncated and fsynced, then an [`REPAIR_EVENT`](crate::REPAIR_EVENT)
    /// record naming the cut (offset, length, SHA-256 and first bytes of what went) is appended
    /// and chained like any other, and a warning is logged with `tracing::warn!`. Only the last
    /// line is ever cut, and only when it is incomplete (no trailing newline) or not JSON at
    /// all; any other problem, a complete record that does not chain included, still refuses
    /// the open (see [`crate::repair`](crate::find_torn_tail)).
    pub fn repair_torn_tail(mut self, repair: bool) -> Self {
        self.repair_torn_tail = repair;
        self
    }

    /// Rotation and head export (`[audit]`); the default does neither.
    pub fn settings(mut self, settings: AuditSettings) -> Self {
        self.settings = settings;
        self
    }

    #[doc(hidden)]
    pub fn test_only_failure(mut self, failure: TestOnlyFailure) -> Self {
        self.failure = Some(failure);
        self
    }

    /// Opens (creating if missing) the log at `path`; see [`AuditLog::open`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<AuditLog> {
        AuditLog::open_with(path.as_ref(), self)
    }
}

/// Where appended lines go. The file is the only real sink; the seam exists so tests can make
/// writes and fsyncs fail (root ignores permissions and there is no small filesystem to fill).
trait Sink: Send {
    /// Writes one whole line (newline included) with a single `write_all`.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
    /// Flushes written lines to stable storage; `first` is the first sync of this handle.
    fn sync(&mut self, first: bool) -> io::Result<()>;
    /// Appends go to `file` from now on (a rotation's new live file, already synced).
    fn replace_file(&mut self, file: File);
}

/// The log file, opened with `O_APPEND` and holding the exclusive `flock`.
struct FileSink {
    file: File,
}

impl Sink for FileSink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        // O_APPEND: every write lands at the current end of file, whatever the offset.
        self.file.write_all(line)
    }

    fn sync(&mut self, first: bool) -> io::Result<()> {
        // fdatasync persists the appended bytes and the new file size, which is all an append
        // changes. The first sync of a handle is a full fsync so that any metadata change made
        // while opening (creation, repair truncation) is on disk too.
        if first {
            self.file.sync_all()
        } else {
            self.file.sync_data()
        }
    }

    fn replace_file(&mut self, file: File) {
        self.file = file;
    }
}

/// A file sink that fails as a [`TestOnlyFailure`] says.
struct TestOnlyFailingSink {
    inner: FileSink,
    failure: TestOnlyFailure,
    appends: u64,
}

impl TestOnlyFailingSink {
    fn injected() -> io::Error {
        io::Error::other("test-only injected failure")
    }
}

impl Sink for TestOnlyFailingSink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.appends += 1;
        match self.failure {
            TestOnlyFailure::Write {
                on_append,
                partial_bytes,
            } if self.appends >= on_append => {
                let partial = &line[..partial_bytes.min(line.len())];
                self.inner.write_line(partial)?;
                self.inner.file.sync_data()?;
                Err(Self::injected())
            }
            _ => self.inner.write_line(line),
        }
    }

    fn sync(&mut self, first: bool) -> io::Result<()> {
        match self.failure {
            TestOnlyFailure::Sync { on_append } if self.appends >= on_append => {
                Err(Self::injected())
            }
            _ => self.inner.sync(first),
        }
    }

    fn replace_file(&mut self, file: File) {
        self.inner.replace_file(file);
    }
}

/// An open, locked, verified audit log that appends durably or not at all.
///
/// Holds an exclusive `flock` on the file for its whole life, so a second daemon (or a second
/// `open` in the same process) pointed at the same file is refused with [`Error::Locked`].
/// The lock is advisory: it does not stop a person with an editor, which is what the hash
/// chain is for.
pub struct AuditLog {
    pub(crate) path: PathBuf,
    sink: Box<dyn Sink>,
    pub(crate) last_seq: u64,
    pub(crate) last_hash: String,
    synced_once: bool,
    poisoned: Option<String>,
    repaired: Option<RepairedTail>,
    pub(crate) settings: AuditSettings,
    /// `seq` of the live file's first record (the next record's, while it is empty).
    pub(crate) first_seq: u64,
    /// Bytes in the live file.
    pub(crate) live_bytes: u64,
    /// UTC day (`YYYY-MM-DD`) of the live file's first record, for daily rotation.
    pub(crate) live_day: Option<String>,
    /// Whether the last rotation attempt or head export failed (warned once until it works).
    pub(crate) rotation_failing: bool,
    head_export: HeadExport,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("last_seq", &self.last_seq)
            .field("last_hash", &self.last_hash)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log at `path`, creating it (mode 0640) if it does not exist.
    ///
    /// Takes the exclusive lock, then reads and verifies the whole file and continues the
    /// chain from its last record. Refuses a log that fails verification
    /// ([`Error::Corrupt`], naming the record) or ends in a torn line ([`Error::TornTail`],
    /// naming the line; see [`AuditLog::open_repairing`]). Blocking: call it from
    /// `spawn_blocking` or before the runtime starts.
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog> {
        OpenOptions::new().open(path)
    }

    /// Like [`AuditLog::open`], but cuts off a torn last line and records the cut instead of
    /// refusing; see [`OpenOptions::repair_torn_tail`]. This is what the daemons use at start.
    pub fn open_repairing(path: impl AsRef<Path>) -> Result<AuditLog> {
        OpenOptions::new().repair_torn_tail(true).open(path)
    }

    fn open_with(path: &Path, options: &OpenOptions) -> Result<AuditLog> {
        let open_err = |source| Error::Open {
            path: path.to_owned(),
            source,
        };
        let (file, created) = open_or_create(path).map_err(open_err)?;
        if !file.metadata().map_err(open_err)?.is_file() {
            return Err(Error::NotAFile {
                path: path.to_owned(),
            });
        }
        lock_exclusive(&file, path)?;
        if created {
            // Make the new directory entry durable, or a crash could lose the whole log.
            sync_parent_dir(path).map_err(open_err)?;
        }

        crate::rotate::recover_interrupted(path)?;

        let mut live_day = None;
        let walked = walk_from(&file, Anchor::Open, |record, _| {
            if live_day.is_none() {
                live_day = Some(day_of(&record.time));
            }
        })
        .map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut repaired = None;
        match (walked.report.problem, walked.torn) {
            (None, _) => {}
            (Some(Problem::TornTail { line, .. }), Some(torn)) if options.repair_torn_tail => {
                file.set_len(torn.offset).map_err(open_err)?;
                file.sync_all().map_err(open_err)?;
                repaired = Some(RepairedTail {
                    line,
                    offset: torn.offset,
                    bytes: torn.bytes,
                });
            }
            (Some(problem), _) => return Err(problem_error(path, problem)),
        }
        let live_bytes = file.metadata().map_err(open_err)?.len();

        let file_sink = FileSink { file };
        let sink: Box<dyn Sink> = match options.failure {
            None => Box::new(file_sink),
            Some(failure) => Box::new(TestOnlyFailingSink {
                inner: file_sink,
                failure,
                appends: 0,
            }),
        };
        let mut log = AuditLog {
            path: path.to_owned(),
            sink,
            last_seq: walked.report.last_seq,
            last_hash: walked.report.last_hash,
            synced_once: false,
            poisoned: None,
            repaired: None,
            settings: options.settings.clone(),
            first_seq: if walked.first_seq > 0 {
                walked.first_seq
            } else {
                walked.report.last_seq + 1
            },
            live_bytes,
            live_day,
            rotation_failing: false,
            head_export: HeadExport::default(),
        };
        check_exported_head(path, &options.settings)?;
        if walked.report.records == 0 {
            // An empty live file beside rotated segments (it was moved away, or the only line
            // it had was torn): the chain goes on from the newest segment, never from 1 again.
            crate::rotate::continue_after_segments(&mut log)?;
        }
        if let Some(tail) = repaired {
            // The cut is recorded in the log itself, chained like any other record, before
            // anything else can be appended.
            let appended = log.append(&tail.event())?;
            tracing::warn!(
                path = %path.display(),
                record = appended.seq,
                "audit log {} ended in a torn record, an append that was interrupted (crash, \
                 power loss or full disk) and never acknowledged; cut off {}; the cut is \
                 recorded as record {} ({}). Nothing acknowledged was lost. If the daemon did \
                 not crash and the disk was not full, check the storage and who can write the \
                 file",
                path.display(),
                tail.describe(),
                appended.seq,
                crate::repair::REPAIR_EVENT,
            );
            log.repaired = Some(tail);
        }
        log.export_head();
        Ok(log)
    }

    /// Appends `event` as the next record and returns only once it is on stable storage.
    ///
    /// Acknowledge the audited action only after `Ok`. On `Err` nothing may be assumed written;
    /// if the write or the fsync failed, the log is poisoned: this and every later append fail
    /// ([`Error::Poisoned`] without writing), [`AuditLog::is_healthy`] turns false and the
    /// daemon must refuse new sessions. Invalid events ([`Error::InvalidEventName`],
    /// [`Error::RecordTooLong`], …) are refused before writing and do not poison the log.
    pub fn append(&mut self, event: &Event) -> Result<Appended> {
        if let Some(cause) = &self.poisoned {
            return Err(Error::Poisoned {
                path: self.path.clone(),
                cause: cause.clone(),
            });
        }
        event.validate()?;
        let time = now_rfc3339()?;
        let mut line = render_line(self.last_seq + 1, &time, &self.last_hash, event)?;
        if let Some(reason) = self.rotation_due(line.len() as u64 + 1, &time) {
            if self.rotate(reason, &time)? {
                line = render_line(self.last_seq + 1, &time, &self.last_hash, event)?;
            }
        }
        let seq = self.last_seq + 1;
        let hash = line_hash(line.as_bytes());
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');

        if let Err(source) = self.sink.write_line(&bytes) {
            self.poison(format!("write of record {seq} failed: {source}"));
            return Err(Error::Write {
                path: self.path.clone(),
                source,
            });
        }
        if let Err(source) = self.sink.sync(!self.synced_once) {
            self.poison(format!("fsync of record {seq} failed: {source}"));
            return Err(Error::Sync {
                path: self.path.clone(),
                source,
            });
        }
        self.synced_once = true;
        self.last_seq = seq;
        self.last_hash.clone_from(&hash);
        if self.live_bytes == 0 {
            self.first_seq = seq;
            self.live_day = Some(day_of(&time));
        }
        self.live_bytes += bytes.len() as u64;
        self.export_head();
        Ok(Appended {
            seq,
            time,
            hash,
            line,
        })
    }

    pub(crate) fn poison(&mut self, cause: String) {
        tracing::error!(
            path = %self.path.display(),
            %cause,
            "audit log poisoned: refusing all further appends (the daemon refuses new sessions); free space or fix the disk under the log, check it with `burnstand audit verify`, then restart the daemon"
        );
        self.poisoned = Some(cause);
    }

    /// Exports the head (`head_export`, `head_syslog`), if configured; see [`HeadExport`].
    fn export_head(&mut self) {
        let head = Head {
            seq: self.last_seq,
            hash: self.last_hash.clone(),
        };
        self.head_export.export(&self.settings, &self.path, &head);
    }

    /// Hands the sink a new live file (after a rotation).
    pub(crate) fn replace_file(&mut self, file: File) {
        self.sink.replace_file(file);
    }

    /// False once a write or fsync has failed; a daemon must then refuse new sessions.
    pub fn is_healthy(&self) -> bool {
        self.poisoned.is_none()
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `seq` of the last record (0 for an empty log).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Hash of the last record's line (the next record's `prev`).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// The torn line a repairing open cut off (and recorded as the log's last record), if it
    /// did.
    pub fn repaired_tail(&self) -> Option<&RepairedTail> {
        self.repaired.as_ref()
    }
}

/// Opens the log for reading and appending, creating it if missing; says whether it created it.
fn open_or_create(path: &Path) -> io::Result<(File, bool)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true);
    match options
        .clone()
        .create_new(true)
        .mode(NEW_LOG_MODE)
        .open(path)
    {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok((options.open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// Refuses to go on with a log that no longer holds the head exported last time (before it is
/// overwritten with the log's present head, which would destroy the evidence).
fn check_exported_head(path: &Path, settings: &AuditSettings) -> Result<()> {
    let Some(head_file) = &settings.head_export else {
        return Ok(());
    };
    if !head_file.exists() {
        return Ok(());
    }
    let head = Head::read(head_file)?;
    let report = crate::segments::verify_log(path, Some(&head))?;
    match report.problem {
        Some(problem @ crate::segments::LogProblem::Head { .. }) => Err(Error::HeadMismatch {
            path: path.to_owned(),
            head_file: head_file.clone(),
            problem: problem.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The UTC day (`YYYY-MM-DD`) of an RFC 3339 timestamp.
pub(crate) fn day_of(time: &str) -> String {
    time.chars().take(10).collect()
}

pub(crate) fn lock_exclusive(file: &File, path: &Path) -> Result<()> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(errno) if errno == rustix::io::Errno::WOULDBLOCK => Err(Error::Locked {
            path: path.to_owned(),
        }),
        Err(errno) => Err(Error::Lock {
            path: path.to_owned(),
            source: errno.into(),
        }),
    }
}

pub(crate) fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}
