//! `[audit]`: the log's lifecycle settings, the same section in both daemons' configuration.

use std::path::PathBuf;

use serde::Deserialize;

/// Smallest `rotate_bytes` accepted: a few records (a `burn.receipt` is about 1 KiB). Smaller
/// would rotate at nearly every record.
pub const MIN_ROTATE_BYTES: u64 = 4096;

/// The `[audit]` section; every key has a default (no rotation, no head export).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// Rotate before an append would make the live file larger than this many bytes
    /// (0: never by size).
    pub rotate_bytes: u64,
    /// Rotate at the first append of a new UTC day.
    pub rotate_daily: bool,
    /// After every append, write the head (`SEQ:HASH`) to this file, atomically; put it on
    /// another disk (or where only root can change it).
    pub head_export: Option<PathBuf>,
    /// After every append, also send the head to this syslog socket (normally `/dev/log`).
    pub head_syslog: Option<PathBuf>,
}

impl AuditSettings {
    /// Whether any rotation is configured.
    pub fn rotates(&self) -> bool {
        self.rotate_bytes > 0 || self.rotate_daily
    }

    /// Problems with these settings for `--check-config`; `audit_log` is the live file.
    pub fn problems(&self, audit_log: &std::path::Path) -> Vec<String> {
        let mut problems = Vec::new();
        if self.rotate_bytes > 0 && self.rotate_bytes < MIN_ROTATE_BYTES {
            problems.push(format!(
                "[audit] rotate_bytes = {} is below the minimum of {MIN_ROTATE_BYTES} bytes; \
                 use 0 (no rotation by size) or a larger value, e.g. 104857600 (100 MiB)",
                self.rotate_bytes
            ));
        }
        if let Some(head) = &self.head_export {
            if head == audit_log {
                problems.push(
                    "[audit] head_export must not be the audit log itself; put it on another \
                     disk"
                        .to_owned(),
                );
            }
            let dir = match head.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dir.is_dir() {
                problems.push(format!(
                    "[audit] head_export {}: its directory {} does not exist; create it (on \
                     another disk than the audit log) or fix the path",
                    head.display(),
                    dir.display()
                ));
            }
        }
        if let Some(socket) = &self.head_syslog {
            if !socket.exists() {
                problems.push(format!(
                    "[audit] head_syslog {}: no syslog socket there; use the one your syslog \
                     daemon listens on (normally /dev/log) or leave head_syslog out",
                    socket.display()
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rotations_and_a_missing_head_directory_are_refused() {
        let log = std::path::Path::new("/tmp/audit.jsonl");
        assert!(AuditSettings::default().problems(log).is_empty());
        assert!(!AuditSettings::default().rotates());
        let bad = AuditSettings {
            rotate_bytes: 10,
            head_export: Some("/no/such/dir/head".into()),
            ..AuditSettings::default()
        };
        let problems = bad.problems(log);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("rotate_bytes"));
        assert!(problems[1].contains("/no/such/dir"));
        let same = AuditSettings {
            head_export: Some(log.to_path_buf()),
            ..AuditSettings::default()
        };
        assert!(same.problems(log)[0].contains("must not be the audit log"));
    }
}
