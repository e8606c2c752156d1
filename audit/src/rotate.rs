//! Rotation of the live file into a segment (see [`crate::segments`] for names and the chain).
//!
//! A rotation happens inside [`AuditLog::append`], before the record that would make the live
//! file too large (or is the first of a new UTC day), so every record is still fsynced before
//! its append returns. The live file's name always points to a locked file, and the segment is
//! never left half-written:
//!
//! 1. The new live file is prepared under a hidden name (`.<name>.rotating`): created, locked,
//!    the [`ROTATE_EVENT`] record written and fsynced.
//! 2. The live file gets its segment name as a second link (`link`), so it is never missing.
//! 3. The prepared file is renamed over the live name (atomic), and the directory fsynced.
//!
//! A failure in steps 1–2 changes nothing of the log: the rotation is undone, a warning
//! logged, and appends go on in the old live file (the next append tries again). A crash
//! leaves either the old state with a stray hidden file, or the live file also linked under
//! its segment name (step 2 done, step 3 not): opening the log undoes both
//! ([`recover_interrupted`]). A failed directory fsync after step 3 poisons the log.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};
use crate::log::{day_of, lock_exclusive, sync_parent_dir, AuditLog, NEW_LOG_MODE};
use crate::record::{line_hash, render_line, Event};
use crate::segments::{rotating_path, segment_end, segment_path, segments_of, ROTATE_EVENT};

/// The rotate record that starts a live file after the segment `name` (`first..=last`, whose
/// last line hashes to `hash`).
fn rotate_event(name: &str, first: u64, last: u64, hash: &str, reason: &str) -> Event {
    Event::new(ROTATE_EVENT)
        .field("prev_segment", name)
        .field("prev_first_seq", first)
        .field("prev_last_seq", last)
        .field("prev_hash", hash)
        .field("reason", reason)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

impl AuditLog {
    /// Why the live file must be rotated before appending a line of `len` bytes at `time`.
    pub(crate) fn rotation_due(&self, len: u64, time: &str) -> Option<&'static str> {
        // Never rotate a live file that holds nothing but its own rotate record (a live file
        // that does not start at record 1 starts with one).
        if self.live_bytes == 0 || (self.last_seq == self.first_seq && self.first_seq > 1) {
            return None;
        }
        let settings = &self.settings;
        if settings.rotate_bytes > 0 && self.live_bytes.saturating_add(len) > settings.rotate_bytes
        {
            return Some("size");
        }
        if settings.rotate_daily
            && self
                .live_day
                .as_deref()
                .is_some_and(|day| day != day_of(time))
        {
            return Some("day");
        }
        None
    }

    /// Rotates the live file (see the module docs). `Ok(false)`: nothing changed, appends go
    /// on in the old live file. `Err`: the log is poisoned.
    pub(crate) fn rotate(&mut self, reason: &'static str, time: &str) -> Result<bool> {
        let segment = segment_path(&self.path, self.first_seq, self.last_seq);
        let tmp = rotating_path(&self.path);
        let seq = self.last_seq + 1;
        let event = rotate_event(
            &file_name(&segment),
            self.first_seq,
            self.last_seq,
            &self.last_hash,
            reason,
        );
        let line = render_line(seq, time, &self.last_hash, &event)?;

        let prepared = (|| -> io::Result<File> {
            match std::fs::remove_file(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create_new(true)
                .mode(NEW_LOG_MODE)
                .open(&tmp)?;
            lock_exclusive(&file, &tmp).map_err(io::Error::other)?;
            file.write_all(format!("{line}\n").as_bytes())?;
            file.sync_all()?;
            if segment.exists() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists already", segment.display()),
                ));
            }
            std::fs::hard_link(&self.path, &segment)?;
            Ok(file)
        })();
        let file = match prepared {
            Ok(file) => file,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                self.rotation_failed(&segment, &e);
                return Ok(false);
            }
        };
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            if let Err(undo) = std::fs::remove_file(&segment) {
                let cause = format!(
                    "rotation failed ({e}) and its segment link {} could not be removed \
                     ({undo})",
                    segment.display()
                );
                self.poison(cause);
                return Err(Error::Write {
                    path: self.path.clone(),
                    source: undo,
                });
            }
            self.rotation_failed(&segment, &e);
            return Ok(false);
        }
        if let Err(source) = sync_parent_dir(&self.path) {
            self.poison(format!(
                "fsync of the directory after a rotation failed: {source}"
            ));
            return Err(Error::Sync {
                path: self.path.clone(),
                source,
            });
        }
        self.replace_file(file);
        self.last_seq = seq;
        self.last_hash = line_hash(line.as_bytes());
        self.first_seq = seq;
        self.live_bytes = line.len() as u64 + 1;
        self.live_day = Some(day_of(time));
        self.rotation_failing = false;
        tracing::info!(
            path = %self.path.display(),
            segment = %segment.display(),
            reason,
            record = seq,
            "audit log rotated"
        );
        Ok(true)
    }

    fn rotation_failed(&mut self, segment: &Path, error: &io::Error) {
        if !self.rotation_failing {
            tracing::warn!(
                path = %self.path.display(),
                segment = %segment.display(),
                %error,
                "cannot rotate the audit log; appends go on in the live file and the next \
                 append tries again: check the directory's permissions and free space, and \
                 that no file has the segment's name"
            );
        }
        self.rotation_failing = true;
    }
}

/// Undoes what a crash in the middle of a rotation left (see the module docs). Called with the
/// live file's lock held, so no rotation is running.
pub(crate) fn recover_interrupted(live: &Path) -> Result<()> {
    let read_err = |source| Error::Read {
        path: live.to_owned(),
        source,
    };
    let tmp = rotating_path(live);
    match std::fs::remove_file(&tmp) {
        Ok(()) => tracing::warn!(
            file = %tmp.display(),
            "removed the new live file of a rotation that was interrupted before it took the \
             live file's name (it held only the rotate record; nothing acknowledged)"
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(read_err(e)),
    }
    let live_meta = std::fs::metadata(live).map_err(read_err)?;
    if let Some(newest) = segments_of(live).map_err(read_err)?.pop() {
        let meta = std::fs::metadata(&newest.path).map_err(read_err)?;
        if meta.dev() == live_meta.dev() && meta.ino() == live_meta.ino() {
            std::fs::remove_file(&newest.path).map_err(read_err)?;
            sync_parent_dir(live).map_err(read_err)?;
            tracing::warn!(
                segment = %newest.path.display(),
                "removed the segment name of a rotation that was interrupted before the new \
                 live file took over; the live file goes on as it was"
            );
        }
    }
    Ok(())
}

/// For an empty live file beside rotated segments: continues the chain after the newest one
/// with a rotate record (reason `resume`), so `seq` never restarts at 1 beside old segments.
pub(crate) fn continue_after_segments(log: &mut AuditLog) -> Result<()> {
    let read_err = |source| Error::Read {
        path: log.path.clone(),
        source,
    };
    let Some(newest) = segments_of(&log.path).map_err(read_err)?.pop() else {
        return Ok(());
    };
    let (first, last, hash) = segment_end(&newest.path)?;
    if first != newest.first_seq || last != newest.last_seq {
        return Err(Error::Segments {
            path: log.path.clone(),
            problem: format!(
                "the newest segment {} holds records {first} to {last}, not what its name says",
                newest.path.display()
            ),
        });
    }
    log.last_seq = last;
    log.last_hash = hash.clone();
    log.first_seq = last + 1;
    let appended = log.append(&rotate_event(
        &file_name(&newest.path),
        first,
        last,
        &hash,
        "resume",
    ))?;
    tracing::warn!(
        path = %log.path.display(),
        segment = %newest.path.display(),
        record = appended.seq,
        "the live audit log was empty or missing beside rotated segments; the chain goes on \
         after the newest segment. If the live file was moved away, its records are no longer \
         in the chain: verify with the exported head (burnstand audit verify --head)"
    );
    Ok(())
}
