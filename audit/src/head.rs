//! The head export: the log's newest `seq` and hash, kept in a second place.
//!
//! The hash chain shows every edit except at its end: removing the newest records (or the
//! newest segment) leaves a shorter chain that still verifies. So after every append the head
//! is also written to `head_export` (configure a file on another disk, or one only root can
//! change), and `burnstand audit verify --head FILE` checks that the record it names is still
//! in the log with that hash.
//!
//! The file holds one line, `SEQ:HASH` (e.g. `42:9f86…0a08`), the same text `--head` accepts.
//! It is replaced atomically (written to a temporary file, fsynced, renamed over the old one,
//! directory fsynced), so a crash leaves either the old or the new head, never a torn one.
//! The head is exported only after the record is on stable storage, so the log can be ahead of
//! the export (by the record being appended at a crash), never behind it.
//!
//! `head_syslog` (the syslog socket, normally `/dev/log`) also sends each head as one syslog
//! message (facility authpriv, level info, tag `burnstand-audit`:
//! `head LOG SEQ:HASH`), for labs that ship syslog to another host.
//!
//! A failing export is logged at ERROR once (and once when it works again) but does not stop
//! the log: the record itself is durable, and refusing every session because a second disk or
//! the syslog daemon is gone would let that take the daemon down.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Largest head file read: `SEQ:HASH` is at most 20 + 1 + 64 bytes and a newline.
pub const MAX_HEAD_FILE_LEN: u64 = 256;

/// A log's head: the `seq` of its newest record and the SHA-256 (hex) of that record's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    /// Parses `SEQ:HASH` (surrounding whitespace ignored). `None` for anything else.
    pub fn parse(text: &str) -> Option<Head> {
        let (seq, hash) = text.trim().split_once(':')?;
        let seq = seq.parse().ok()?;
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(Head {
            seq,
            hash: hash.to_owned(),
        })
    }

    /// Reads an exported head file.
    pub fn read(path: &Path) -> Result<Head> {
        let read_err = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        let mut text = String::new();
        File::open(path)
            .map_err(read_err)?
            .take(MAX_HEAD_FILE_LEN)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        Head::parse(&text).ok_or_else(|| Error::BadHead {
            path: path.to_owned(),
        })
    }

    /// Replaces the file at `path` with this head, atomically and durably (see the module docs).
    pub fn export(&self, path: &Path) -> io::Result<()> {
        let tmp = temp_path(path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        file.write_all(format!("{}:{}\n", self.seq, self.hash).as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// Syslog priority of a head message: facility authpriv (10), level info (6).
const SYSLOG_PRIORITY: u32 = 10 * 8 + 6;

/// Where a log's heads go, and whether each place failed last time (to log once).
#[derive(Debug, Default)]
pub(crate) struct HeadExport {
    file_failing: bool,
    syslog_failing: bool,
}

impl HeadExport {
    /// Exports `head` of the log at `log` as `settings` say.
    pub(crate) fn export(&mut self, settings: &crate::AuditSettings, log: &Path, head: &Head) {
        if let Some(path) = &settings.head_export {
            let result = head.export(path);
            report(&mut self.file_failing, "head_export", path, result);
        }
        if let Some(socket) = &settings.head_syslog {
            let result = head.to_syslog(socket, log);
            report(&mut self.syslog_failing, "head_syslog", socket, result);
        }
    }
}

fn report(failing: &mut bool, key: &'static str, path: &Path, result: io::Result<()>) {
    match result {
        Ok(()) => {
            if *failing {
                tracing::info!(key, path = %path.display(), "audit head export works again");
            }
            *failing = false;
        }
        Err(e) => {
            if !*failing {
                tracing::error!(
                    key,
                    path = %path.display(),
                    error = %e,
                    "cannot export the audit log's head; appends go on, but removal of the \
                     newest records is not detectable until it works again: check the disk, \
                     the permissions or the syslog daemon"
                );
            }
            *failing = true;
        }
    }
}

impl Head {
    /// Sends this head of the log at `log` as one syslog datagram to `socket`.
    pub fn to_syslog(&self, socket: &Path, log: &Path) -> io::Result<()> {
        let message = format!(
            "<{SYSLOG_PRIORITY}>burnstand-audit: head {} {self}",
            log.display()
        );
        let sender = std::os::unix::net::UnixDatagram::unbound()?;
        sender.set_nonblocking(true)?;
        sender.send_to(message.as_bytes(), socket).map(|_| ())
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "head".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_round_trip_through_a_file_and_parse_strictly() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("master.head");
        let head = Head {
            seq: 42,
            hash: "ab".repeat(32),
        };
        head.export(&path).expect("export");
        assert_eq!(Head::read(&path).expect("read"), head);
        let newer = Head {
            seq: 43,
            hash: "cd".repeat(32),
        };
        newer.export(&path).expect("replace");
        assert_eq!(Head::read(&path).expect("read"), newer);
        assert!(Head::parse("7").is_none());
        assert!(Head::parse(&format!("x:{}", "a".repeat(64))).is_none());
        assert!(Head::parse(&format!("7:{}", "A".repeat(64))).is_none());
        std::fs::write(&path, "garbage").expect("write");
        assert!(matches!(Head::read(&path), Err(Error::BadHead { .. })));
    }

    #[test]
    fn a_head_goes_to_syslog_as_one_datagram() {
        let dir = tempfile::tempdir().expect("tmp");
        let socket = dir.path().join("log.sock");
        let syslog = std::os::unix::net::UnixDatagram::bind(&socket).expect("bind");
        let head = Head {
            seq: 7,
            hash: "ef".repeat(32),
        };
        head.to_syslog(&socket, Path::new("/var/log/burnstand/master.jsonl"))
            .expect("send");
        let mut buf = [0u8; 512];
        let n = syslog.recv(&mut buf).expect("recv");
        let text = std::str::from_utf8(&buf[..n]).expect("utf-8");
        assert_eq!(
            text,
            format!(
                "<86>burnstand-audit: head /var/log/burnstand/master.jsonl 7:{}",
                head.hash
            )
        );
        let sent = text.rsplit(' ').next().and_then(Head::parse);
        assert_eq!(sent, Some(head));
        let missing = dir.path().join("nothing-listens");
        assert!(Head {
            seq: 1,
            hash: "00".repeat(32)
        }
        .to_syslog(&missing, Path::new("x"))
        .is_err());
    }
}
