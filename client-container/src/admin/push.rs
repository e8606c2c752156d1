//! `burnstand admin push FILE`: hashes the file (SHA-256 and MD5, with a progress bar), asks
//! the master to PUSH it (`docs/protocol.md` §5.11), streams it from the offset the master
//! names in chunks of [`PUSH_CHUNK_LEN`] with a bar per station, and reports what each
//! station did. The file is read one chunk at a time, never whole.

use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use burnstand_wire::burner::{Md5, Sha256};
use burnstand_wire::command::{Command, Reply};
use burnstand_wire::push::{
    check_push_id, PushData, PushImage, PushReply, PushRequest, PushTarget, TargetState,
    PUSH_CHUNK_LEN, PUSH_VERSION,
};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::Digest as _;
use serde::Serialize;

use crate::cli::PushArgs;
use crate::config::Settings;
use crate::master::MasterConnection;
use crate::output::{Output, Report};
use crate::ticket::Ticket;
use crate::ClientError;

/// Longest the master may take to answer PUSH (each station re-reads what it has of the
/// image) and the last chunk (each station syncs and publishes it): the master waits up to
/// 5 minutes for each station.
pub const DONE_TIMEOUT: Duration = Duration::from_secs(330);

/// What happened to one station.
#[derive(Debug, Clone, Serialize)]
pub struct StationResult {
    pub station: String,
    /// stored or failed.
    pub result: String,
    /// Bytes the station had already (a resumed push), 0 for a fresh one.
    pub resumed_from: u64,
    /// The file name it was stored as, or why it failed.
    pub detail: String,
}

/// What `admin push` printed; with --json `{"push": {…}}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushReport {
    Push {
        id: String,
        size: u64,
        sha256: String,
        md5: String,
        /// Bytes this run sent to the master.
        sent: u64,
        stations: Vec<StationResult>,
    },
}

impl Report for PushReport {
    fn human(&self) -> String {
        let PushReport::Push {
            id, size, stations, ..
        } = self;
        let mut lines = vec![format!("{id} ({})", HumanBytes(*size))];
        for s in stations {
            let resumed = if s.resumed_from > 0 && s.resumed_from < *size {
                format!(", resumed at {}", HumanBytes(s.resumed_from))
            } else {
                String::new()
            };
            lines.push(format!(
                "  {}: {} ({}{resumed})",
                s.station, s.result, s.detail
            ));
        }
        lines.join("\n")
    }
}

/// The digests of `path`, read once with a progress bar.
fn digests(path: &Path, size: u64, show: bool) -> std::io::Result<(Sha256, Md5)> {
    let bar = if show {
        let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "hashing [{bar:24.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let file = std::fs::File::open(path)?;
    let digests = hash_parallel(file, |n| {
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    digests
}

/// Bytes read from the file at a time for hashing: large reads cost fewer system calls.
pub const HASH_READ_LEN: usize = 1 << 20;

/// Reads queued for each digest's thread. Memory: a read is shared by the two threads, so at
/// most `2 * HASH_QUEUED_READS + 3` reads of [`HASH_READ_LEN`] are alive at once (11 MiB).
pub const HASH_QUEUED_READS: usize = 4;

/// SHA-256 and MD5 of everything `file` holds, each on its own thread over the same reads:
/// the two digests cost the slower one's time, not their sum. `read` is told each read's
/// length (progress).
fn hash_parallel(
    mut file: impl Read,
    mut read: impl FnMut(usize),
) -> std::io::Result<(Sha256, Md5)> {
    use std::sync::mpsc::sync_channel;
    use std::sync::Arc;

    // A read: the buffer and how many of its bytes the file filled.
    type ReadBuf = (Arc<Vec<u8>>, usize);
    let (to_sha, sha_reads) = sync_channel::<ReadBuf>(HASH_QUEUED_READS);
    let (to_md5, md5_reads) = sync_channel::<ReadBuf>(HASH_QUEUED_READS);
    // Reads MD5 (the slower digest) is done with come back to be read into again: no
    // allocation per read. Never more than the reads alive at once, so `try_send` has room.
    let (give_back, returned) = sync_channel::<Arc<Vec<u8>>>(2 * HASH_QUEUED_READS + 3);
    std::thread::scope(|scope| {
        let sha = scope.spawn(move || {
            let mut sha = sha2::Sha256::new();
            for (buf, n) in sha_reads {
                sha.update(buf.get(..n).unwrap_or_default());
            }
            Sha256(sha.finalize().into())
        });
        let md5 = scope.spawn(move || {
            let mut md5 = md5::Md5::new();
            for (buf, n) in md5_reads {
                md5.update(buf.get(..n).unwrap_or_default());
                let _ = give_back.try_send(buf);
            }
            Md5(md5.finalize().into())
        });
        let fed = (|| loop {
            // A returned read SHA-256 is still at is left to it; a new buffer then.
            let mut buf = returned
                .try_recv()
                .ok()
                .and_then(|buf| Arc::try_unwrap(buf).ok())
                .unwrap_or_default();
            if buf.len() != HASH_READ_LEN {
                buf = vec![0u8; HASH_READ_LEN];
            }
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let buf = Arc::new(buf);
            // A thread's queue is open until it has every read: it ends only after them.
            let _ = to_sha.send((Arc::clone(&buf), n));
            let _ = to_md5.send((buf, n));
            read(n);
        })();
        drop((to_sha, to_md5));
        let (sha, md5) = (joined(sha), joined(md5));
        fed.map(|()| (sha, md5))
    })
}

/// A hashing thread's digest (its panic goes on in the caller).
fn joined<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    match thread.join() {
        Ok(digest) => digest,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
}

/// What to push, from the command line and the file.
fn image(args: &PushArgs, size: u64, sha256: Sha256, md5: Md5) -> Result<PushImage, ClientError> {
    let id = match &args.id {
        Some(id) => id.clone(),
        None => file_name(&args.file).unwrap_or_default(),
    };
    check_push_id(&id).map_err(|_| {
        ClientError::Usage(format!(
            "{id:?} cannot be an image id: use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' (--id)"
        ))
    })?;
    Ok(PushImage {
        name: args.name.clone().unwrap_or_else(|| id.clone()),
        id,
        restricted: !args.unrestricted,
        replace: args.replace,
        size,
        sha256,
        md5,
    })
}

/// `burnstand admin push`.
pub async fn push(settings: &Settings, args: &PushArgs, out: &Output) -> Result<(), ClientError> {
    let path = args.file.clone();
    let unreadable =
        |e: std::io::Error| ClientError::Usage(format!("cannot read {}: {e}", args.file.display()));
    let size = std::fs::metadata(&path).map_err(unreadable)?.len();
    if size == 0 {
        return Err(ClientError::Usage(format!(
            "{} is empty: there is nothing to push",
            args.file.display()
        )));
    }
    let (station, type_id) = match (&args.station, args.type_id) {
        (Some(station), _) => (station.clone(), 0),
        (None, Some(type_id)) => (String::new(), type_id),
        (None, None) => {
            return Err(ClientError::Usage(
                "say where to push: --station NAME or --type N".into(),
            ))
        }
    };
    let show = !out.is_json() && std::io::stderr().is_terminal();
    let hashed = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || digests(&path, size, show)).await
    };
    let (sha256, md5) = hashed
        .map_err(|e| ClientError::Internal(format!("the hashing task failed: {e}")))?
        .map_err(unreadable)?;
    let image = image(args, size, sha256, md5)?;
    let ticket = Ticket::current()?;
    let mut master = MasterConnection::connect(settings, &ticket).await?;
    let request = Command::Push(Box::new(PushRequest {
        version: PUSH_VERSION,
        station,
        type_id,
        image: image.clone(),
    }));
    master.send(&request).await?;
    let (targets, sent) = match answer(&mut master).await? {
        PushReply::Refused(Reply::ErrDenied(reason)) => {
            return Err(ClientError::NotAdmin {
                what: "push".into(),
                station: args.station.clone(),
                reason,
            })
        }
        PushReply::Refused(Reply::ErrInvCmd) => {
            return Err(ClientError::OldMaster {
                what: "`burnstand admin push` needs PUSH, which this master does not know".into(),
                advice: "ask the lab staff to update burnstand-master".into(),
            })
        }
        PushReply::Refused(other) => {
            return Err(ClientError::Unexpected {
                peer: "the master",
                what: format!("{} in answer to PUSH", other.word()),
            })
        }
        PushReply::Done { targets } => (targets, 0),
        PushReply::Start { from, targets } => {
            let bars = Bars::new(show, &targets, size);
            let sent = stream(&mut master, &path, from, size, &bars).await?;
            bars.clear();
            match answer(&mut master).await? {
                PushReply::Done { targets } => (targets, sent),
                _ => {
                    return Err(ClientError::Unexpected {
                        peer: "the master",
                        what: "an answer after the image's last chunk that is not PUSHDONE".into(),
                    })
                }
            }
        }
    };
    master.close();
    report(out, &image, sent, &targets)
}

/// The master's next answer in a push. Its first one waits for every station to re-read
/// what it has of the image, its last one for every station to publish it: both bounded by
/// [`DONE_TIMEOUT`], not by the short command timeout.
async fn answer(master: &mut MasterConnection) -> Result<PushReply, ClientError> {
    let bytes = tokio::time::timeout(DONE_TIMEOUT, master.recv_bytes())
        .await
        .map_err(|_| {
            ClientError::ConnectionLost(format!(
                "the master did not answer the push within {DONE_TIMEOUT:?}; running the same push again resumes it"
            ))
        })??;
    burnstand_wire::datastream::from_bytes::<PushReply>(&bytes).map_err(|e| {
        ClientError::Unexpected {
            peer: "the master",
            what: format!("an answer to PUSH burnstand cannot read ({e})"),
        }
    })
}

/// Prints the report; an error if a station did not store the image.
fn report(
    out: &Output,
    image: &PushImage,
    sent: u64,
    targets: &[PushTarget],
) -> Result<(), ClientError> {
    let stations: Vec<StationResult> = targets
        .iter()
        .map(|t| StationResult {
            station: t.station.clone(),
            result: match t.state {
                TargetState::Stored => "stored",
                TargetState::Ready | TargetState::Failed => "failed",
            }
            .to_owned(),
            resumed_from: t.offset,
            detail: t.text.clone(),
        })
        .collect();
    let failed: Vec<String> = stations
        .iter()
        .filter(|s| s.result != "stored")
        .map(|s| format!("{}: {}", s.station, s.detail))
        .collect();
    let total = stations.len();
    out.report(&PushReport::Push {
        id: image.id.clone(),
        size: image.size,
        sha256: image.sha256.to_hex(),
        md5: image.md5.to_hex(),
        sent,
        stations,
    });
    if failed.is_empty() {
        Ok(())
    } else {
        Err(ClientError::PushFailed {
            stored: total - failed.len(),
            stations: total,
            detail: failed.join("; "),
        })
    }
}

/// Sends the file from `from` to its end; the bytes sent.
async fn stream(
    master: &mut MasterConnection,
    path: &PathBuf,
    from: u64,
    size: u64,
    bars: &Bars,
) -> Result<u64, ClientError> {
    let unreadable = |e: std::io::Error| {
        ClientError::Internal(format!(
            "cannot read {} while pushing it: {e}",
            path.display()
        ))
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    file.seek(SeekFrom::Start(from)).map_err(unreadable)?;
    let mut offset = from;
    let mut buf = vec![0u8; PUSH_CHUNK_LEN];
    while offset < size {
        let want =
            usize::try_from(size - offset).map_or(PUSH_CHUNK_LEN, |left| left.min(PUSH_CHUNK_LEN));
        file.read_exact(&mut buf[..want]).map_err(unreadable)?;
        let message = PushData::encode_slice(offset, &buf[..want]);
        master.send_bytes(&message).await?;
        offset += want as u64;
        bars.at(offset);
    }
    Ok(offset - from)
}

/// One bar per station that takes bytes, each from its own resume offset.
struct Bars {
    multi: Option<MultiProgress>,
    bars: Vec<(u64, ProgressBar)>,
}

impl Bars {
    fn new(show: bool, targets: &[PushTarget], size: u64) -> Bars {
        if !show {
            return Bars {
                multi: None,
                bars: Vec::new(),
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let width = targets.iter().map(|t| t.station.len()).max().unwrap_or(0);
        let bars = targets
            .iter()
            .filter(|t| t.state == TargetState::Ready)
            .map(|t| {
                let bar = multi.add(ProgressBar::new(size));
                if let Ok(style) = ProgressStyle::with_template(
                    "{prefix} [{bar:24.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec}  {msg}",
                ) {
                    bar.set_style(style);
                }
                bar.set_prefix(format!("{:<width$}", t.station));
                bar.set_position(t.offset);
                if t.offset > 0 {
                    bar.set_message(format!("resumed at {}", HumanBytes(t.offset)));
                }
                (t.offset, bar)
            })
            .collect();
        Bars {
            multi: Some(multi),
            bars,
        }
    }

    /// The client has sent everything before `offset`.
    fn at(&self, offset: u64) {
        for (from, bar) in &self.bars {
            bar.set_position(offset.max(*from));
        }
    }

    fn clear(self) {
        for (_, bar) in &self.bars {
            bar.finish_and_clear();
        }
        drop(self.multi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, as a file or pipe may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn parallel_push_digests_equal_the_sequential_ones() {
        let bytes: Vec<u8> = (0..HASH_READ_LEN + 4099)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        let expected = (
            Sha256(sha2::Sha256::digest(&bytes).into()),
            Md5(md5::Md5::digest(&bytes).into()),
        );
        for step in [HASH_READ_LEN, 65_537, 1] {
            let step_bytes = if step == 1 {
                &bytes[..5000]
            } else {
                &bytes[..]
            };
            let want = if step == 1 {
                (
                    Sha256(sha2::Sha256::digest(step_bytes).into()),
                    Md5(md5::Md5::digest(step_bytes).into()),
                )
            } else {
                expected
            };
            let mut seen = 0;
            let got = hash_parallel(
                Trickle {
                    bytes: step_bytes,
                    step,
                },
                |n| seen += n,
            )
            .unwrap();
            assert_eq!(got, want, "reads of {step} bytes");
            assert_eq!(seen, step_bytes.len());
        }
        let empty = hash_parallel(std::io::empty(), |_| {}).unwrap();
        assert_eq!(empty.0, Sha256(sha2::Sha256::digest(b"").into()));
    }
}
