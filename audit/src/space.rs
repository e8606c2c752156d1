//! [`FreeSpace`]: the free-space watermark of the filesystem an audit log is on.
//!
//! A daemon whose log cannot be written refuses everyone (fail closed). Budgets keep any one
//! peer from filling the disk quickly ([`crate::budget`]), but many peers, a log that is never
//! rotated, or another program on the same filesystem still can. So a daemon stops admitting
//! **new** sessions while the filesystem has less than `min_free_bytes` free, well before an
//! append fails: what is running goes on and its records are still written (the margin is
//! theirs), and the refusal tells the administrator exactly what to do.

use std::path::{Path, PathBuf};

use crate::budget::{Budget, Rate};

/// Default watermark: 64 MiB, room for about 200,000 records of the sessions still running.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// How often the low-space refusal is logged (tracing): once, then once a minute while it
/// lasts, so a refusal per connection does not flood the daemon's own log.
const LOG_RATE: Rate = Rate::new(1, 1);

/// Bytes available to unprivileged users on the filesystem holding `dir` (`statvfs`:
/// `f_bavail × f_frsize`).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The audit filesystem is below its watermark: refuse the new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowSpace {
    pub dir: PathBuf,
    pub free: u64,
    pub min_free: u64,
    /// Whether to log this refusal (the first in a minute).
    pub log: bool,
}

impl std::fmt::Display for LowSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "audit filesystem {} has {} bytes free, below min_free_bytes {}: refusing new \
             sessions; free space or raise the limit",
            self.dir.display(),
            self.free,
            self.min_free
        )
    }
}

/// The watermark check of one audit log's filesystem.
#[derive(Debug)]
pub struct FreeSpace {
    dir: PathBuf,
    min_free: u64,
    log: Budget,
}

impl FreeSpace {
    /// Watches the filesystem of `audit_log` (its directory); `min_free` = 0 turns it off.
    pub fn new(audit_log: &Path, min_free: u64) -> FreeSpace {
        let dir = match audit_log.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        FreeSpace {
            dir,
            min_free,
            log: Budget::new(LOG_RATE),
        }
    }

    /// The watermark in bytes.
    pub fn min_free(&self) -> u64 {
        self.min_free
    }

    /// `Err` when a new session must be refused. If the free space cannot be read (it always
    /// can for an existing directory) the session is admitted: the log's own appends still
    /// fail closed.
    pub fn check(&self) -> Result<(), LowSpace> {
        if self.min_free == 0 {
            return Ok(());
        }
        match free_bytes(&self.dir) {
            Ok(free) if free < self.min_free => Err(LowSpace {
                dir: self.dir.clone(),
                free,
                min_free: self.min_free,
                log: self.log.admit().is_some(),
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                if self.log.admit().is_some() {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the audit filesystem's free space");
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_refuses_below_and_admits_above() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("audit.jsonl");
        let free = free_bytes(dir.path()).expect("statvfs");
        assert!(free > 0);
        assert_eq!(FreeSpace::new(&log, 1).check(), Ok(()));
        assert_eq!(FreeSpace::new(&log, 0).check(), Ok(()));
        let check = FreeSpace::new(&log, u64::MAX);
        let low = check.check().expect_err("nothing has u64::MAX bytes free");
        assert!(low.log, "the first refusal is logged");
        assert!(!check.check().expect_err("still low").log, "not every one");
        let text = low.to_string();
        assert!(text.contains(&dir.path().display().to_string()), "{text}");
        assert!(text.contains("below min_free_bytes"), "{text}");
        assert!(text.contains("free space or raise the limit"), "{text}");
    }

    #[test]
    fn a_bare_file_name_watches_the_current_directory() {
        let check = FreeSpace::new(Path::new("audit.jsonl"), 1);
        assert_eq!(check.dir, PathBuf::from("."));
        assert_eq!(check.check(), Ok(()));
    }
}
