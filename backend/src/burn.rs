//! Running xorriso, reading its progress, and reading a disc back.
//!
//! xorriso is the only program that touches the drive. It runs as a child with a cleared
//! environment (`LC_ALL=C`, so its messages parse the same everywhere), no stdin, and its
//! output read through bounded buffers: a misbehaving xorriso cannot make the station hold
//! more than [`MAX_OUTPUT_LEN`] of its stdout and [`TAIL_LINES`] lines of its stderr.
//!
//! Every run ends with the child reaped: on success, on failure, on cancel (SIGTERM, then
//! SIGKILL after [`TERM_GRACE`], then `wait`), and on a deadline. `kill_on_drop` is only the
//! last resort if the future itself is dropped; the station never drops a running burn, it
//! cancels it and waits.
//!
//! **xorriso dies with its station.** A station killed with SIGKILL (or crashing) cannot
//! cancel anything, and an orphaned xorriso would go on writing to the drive, blocking it for
//! the next station. So xorriso runs as `setpriv --pdeathsig KILL -- xorriso …` (util-linux;
//! the workspace forbids the `unsafe` a `pre_exec` would need): the kernel sends it SIGKILL
//! when its parent dies. It also runs in its own process group, so a terminal's Ctrl-C aimed
//! at the station does not reach it behind the station's back: only the station stops it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use burnstand_wire::burner::{ErrorCode, Md5, Percent};
use md5::Digest;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{Result, StationError};

/// Most stdout kept from one xorriso run (the medium report is a few hundred bytes).
pub const MAX_OUTPUT_LEN: usize = 64 * 1024;

/// Longest stderr line kept; longer lines are cut (xorriso's are under 200 bytes).
pub const MAX_LINE_LEN: usize = 4096;

/// Last stderr lines kept to explain a failure to a person.
pub const TAIL_LINES: usize = 12;

/// Time xorriso gets to stop after SIGTERM (it releases the drive cleanly) before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(5);

/// The `PATH` xorriso (and setpriv) are looked up in.
pub const CHILD_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Whether `program` can be run by [`run_xorriso`]: an executable file at that path if it has
/// a `/`, else in [`CHILD_PATH`].
pub fn findable(program: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_os_str().to_string_lossy().contains('/') {
        return executable(program);
    }
    CHILD_PATH
        .split(':')
        .any(|dir| executable(&Path::new(dir).join(program)))
}

/// The program xorriso runs under: it sets the parent-death signal, then execs xorriso. Found
/// through the child's fixed `PATH` (util-linux installs it as `/usr/bin/setpriv`).
pub const SETPRIV: &str = "setpriv";

/// setpriv's exit status when it cannot execute the program (like a shell's).
const SETPRIV_EXEC_FAILED: i32 = 127;

/// Buffer for reading a disc back: the read-back costs this much memory, whatever the image
/// size.
pub const READBACK_BUF_LEN: usize = 256 * 1024;

/// What one xorriso run left behind.
#[derive(Debug)]
pub struct XorrisoOutput {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its stdout, at most [`MAX_OUTPUT_LEN`] bytes (lossy UTF-8).
    pub stdout: String,
    /// The first [`MAX_OUTPUT_LEN`] bytes of stderr, whole lines (xorriso reports the drive
    /// and medium there).
    pub stderr_head: String,
    /// The last [`TAIL_LINES`] lines of stderr.
    pub stderr_tail: Vec<String>,
}

impl XorrisoOutput {
    /// The stderr tail as one line for messages: the FAILURE/SORRY lines if there are any,
    /// else the last lines.
    pub fn explain(&self) -> String {
        let important: Vec<&str> = self
            .stderr_tail
            .iter()
            .map(String::as_str)
            .filter(|l| l.contains("FAILURE") || l.contains("SORRY") || l.contains("FATAL"))
            .filter(|l| !l.contains("aborting : -abort_on"))
            .collect();
        let lines: Vec<&str> = if important.is_empty() {
            self.stderr_tail
                .iter()
                .rev()
                .take(3)
                .rev()
                .map(String::as_str)
                .collect()
        } else {
            important
        };
        lines
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// Parses one xorriso progress line (`-as cdrecord -v`, on stderr):
/// `xorriso : UPDATE :   81 of 3091 MB written (fifo 95%) [buf  50%]  48.7x.`
///
/// Returns `(written_mb, total_mb)`, or `None` for any other line (and for a total of 0, which
/// xorriso prints before it knows the size).
pub fn parse_progress(line: &str) -> Option<(u64, u64)> {
    let rest = line.split_once("UPDATE :")?.1;
    let mut words = rest.split_whitespace();
    let written: u64 = words.next()?.parse().ok()?;
    if words.next()? != "of" {
        return None;
    }
    let total: u64 = words.next()?.parse().ok()?;
    if words.next()? != "MB" || words.next()? != "written" || total == 0 {
        return None;
    }
    Some((written, total))
}

/// The percentage to report while xorriso is still writing: at most 99, because 100 % is only
/// reported once xorriso has exited successfully.
pub fn writing_percent(written: u64, total: u64) -> Percent {
    let p = Percent::of(written, total).get().min(99);
    Percent::new(p).unwrap_or(Percent::ZERO)
}

/// Runs xorriso with `args`.
///
/// Progress lines update `progress` (if given); `cancel` stops the run (SIGTERM, grace,
/// SIGKILL, reap) and yields [`StationError::Cancelled`]; so does `deadline`, as a
/// [`StationError::Drive`] naming the timeout. The child is always reaped before this returns.
pub async fn run_xorriso(
    program: &Path,
    args: &[OsString],
    progress: Option<&watch::Sender<Percent>>,
    cancel: &CancellationToken,
    deadline: Option<Duration>,
) -> Result<XorrisoOutput> {
    let mut cmd = Command::new(SETPRIV);
    cmd.args(["--pdeathsig", "KILL", "--"])
        .arg(program)
        .args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .env("PATH", CHILD_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process.
    // This spawn runs in an async fn polled by a tokio worker thread, which lives as long as
    // the runtime, i.e. the station. Never move it into `spawn_blocking` (or behind
    // `block_in_place`): blocking-pool threads exit after being idle for a while, and xorriso
    // would be killed mid-burn when the thread that started it goes away.
    let mut child = cmd.spawn().map_err(|source| StationError::Spawn {
        program: PathBuf::from(SETPRIV),
        source,
    })?;
    let pid = child.id();
    tracing::debug!(pid, "xorriso started");
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();

    let read_stdout = async {
        match stdout {
            Some(out) => read_bounded(out, MAX_OUTPUT_LEN).await,
            None => String::new(),
        }
    };
    let read_stderr = async {
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        let mut head = String::new();
        if let Some(err) = stderr {
            read_lines(err, |line| {
                if head.len() + line.len() < MAX_OUTPUT_LEN {
                    head.push_str(line);
                    head.push('\n');
                }
                if let (Some(tx), Some((written, total))) = (progress, parse_progress(line)) {
                    tx.send_replace(writing_percent(written, total));
                }
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line.to_owned());
            })
            .await;
        }
        (head, tail.into_iter().collect::<Vec<_>>())
    };
    let wait = async {
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = child.wait() => status.map_err(|e| StationError::io("waiting for xorriso", e)),
            _ = cancel.cancelled() => {
                terminate(&mut child).await;
                Err(StationError::Cancelled)
            }
            _ = timer => {
                terminate(&mut child).await;
                Err(StationError::drive(
                    ErrorCode::DriveFailed,
                    "the drive did not answer in time; check it and try again",
                ))
            }
        }
    };
    let (stdout, (stderr_head, stderr_tail), status) = tokio::join!(read_stdout, read_stderr, wait);
    let status = status?;
    if status.code() == Some(SETPRIV_EXEC_FAILED)
        && stderr_tail
            .iter()
            .any(|l| l.starts_with("setpriv: failed to execute"))
    {
        return Err(StationError::Spawn {
            program: program.to_owned(),
            source: std::io::Error::other(stderr_tail.join(" / ")),
        });
    }
    tracing::debug!(pid, %status, "xorriso exited");
    Ok(XorrisoOutput {
        status,
        stdout,
        stderr_head,
        stderr_tail,
    })
}

/// Stops a child: SIGTERM so xorriso can release the drive, SIGKILL after [`TERM_GRACE`], and
/// always a `wait` so no zombie is left.
pub async fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
        if let Ok(Ok(_)) = tokio::time::timeout(TERM_GRACE, child.wait()).await {
            return;
        }
    }
    // SIGKILL and reap.
    let _ = child.kill().await;
    let _ = child.wait().await;
}

/// Reads at most `limit` bytes, then drains (and drops) the rest so the child never blocks on
/// a full pipe.
async fn read_bounded(mut r: impl AsyncRead + Unpin, limit: usize) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Calls `each` for every line (LF or CR terminated; xorriso may redraw with CR), each cut to
/// [`MAX_LINE_LEN`] bytes, until EOF.
async fn read_lines(r: impl AsyncRead + Unpin, mut each: impl FnMut(&str)) {
    let mut r = BufReader::new(r);
    let mut line = Vec::with_capacity(256);
    loop {
        let (consumed, done) = {
            let Ok(buf) = r.fill_buf().await else { break };
            if buf.is_empty() {
                break;
            }
            match buf.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    let room = MAX_LINE_LEN.saturating_sub(line.len());
                    line.extend_from_slice(&buf[..i.min(room)]);
                    (i + 1, true)
                }
                None => {
                    let room = MAX_LINE_LEN.saturating_sub(line.len());
                    line.extend_from_slice(&buf[..buf.len().min(room)]);
                    (buf.len(), false)
                }
            }
        };
        r.consume(consumed);
        if done {
            if !line.is_empty() {
                each(&String::from_utf8_lossy(&line));
            }
            line.clear();
        }
    }
    if !line.is_empty() {
        each(&String::from_utf8_lossy(&line));
    }
}

/// What reading a disc back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBack {
    /// MD5 over the bytes read.
    pub md5: Md5,
    /// Bytes read: the image's length, unless the disc ended early.
    pub bytes: u64,
}

/// Reads the first `len` bytes of `path` (a device node or a file pseudo-drive) and returns
/// their MD5, in a blocking thread with a [`READBACK_BUF_LEN`] buffer.
///
/// Only the image's length is hashed: a burned disc is longer than its image (padding and
/// rounding to sectors). A disc that ends early yields `bytes < len`, which fails verification.
pub async fn read_back_md5(
    path: PathBuf,
    len: u64,
    progress: &watch::Sender<Percent>,
    cancel: &CancellationToken,
) -> Result<ReadBack> {
    let progress = progress.clone();
    let cancel = cancel.clone();
    tokio::task::spawn_blocking(move || read_back_blocking(&path, len, &progress, &cancel))
        .await
        .map_err(|e| StationError::io("read-back task", std::io::Error::other(e.to_string())))?
}

fn read_back_blocking(
    path: &Path,
    len: u64,
    progress: &watch::Sender<Percent>,
    cancel: &CancellationToken,
) -> Result<ReadBack> {
    let mut file = std::fs::File::open(path).map_err(|e| {
        StationError::drive(
            ErrorCode::BurnFailed,
            format!("cannot open the disc to read it back ({e}); the burn is unverified"),
        )
    })?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0u8; READBACK_BUF_LEN];
    let mut done: u64 = 0;
    while done < len {
        if cancel.is_cancelled() {
            return Err(StationError::Cancelled);
        }
        let want = usize::try_from(len - done)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(StationError::drive(
                    ErrorCode::BurnFailed,
                    format!(
                    "reading the disc back failed after {done} bytes ({e}); the disc is not good"
                ),
                ))
            }
        };
        hasher.update(&buf[..n]);
        done += n as u64;
        progress.send_if_modified(|p| {
            let new = Percent::of(done, len);
            let changed = *p != new;
            *p = new;
            changed
        });
    }
    Ok(ReadBack {
        md5: Md5(hasher.finalize().into()),
        bytes: done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines captured from `xorriso -stdio_sync off -as cdrecord -v speed=1 dev=stdio:…` (1.5.4).
    const CAPTURED: &str = "xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.

Drive current: -outdev 'stdio:/tmp/xo/disc.img'
Media current: stdio file, overwriteable
Media status : is blank
Media summary: 0 sessions, 0 data blocks, 0 data, 77.9g free
Beginning to write data track.
xorriso : UPDATE :    1 of    3 MB written (fifo 55%) [buf  50%]
xorriso : UPDATE :    2 of    3 MB written (fifo 30%) [buf  50%]   0.9x.
xorriso : UPDATE :    3 of    3 MB written (fifo  5%) [buf  50%]   0.8x.
Writing to 'stdio:/tmp/xo/disc.img' completed successfully.
";

    #[test]
    fn progress_from_captured_lines() {
        let found: Vec<(u64, u64)> = CAPTURED.lines().filter_map(parse_progress).collect();
        assert_eq!(found, vec![(1, 3), (2, 3), (3, 3)]);
        // The line from the facts file, with a speed suffix.
        assert_eq!(
            parse_progress(
                "xorriso : UPDATE :   81 of 3091 MB written (fifo 95%) [buf  50%]  48.7x."
            ),
            Some((81, 3091))
        );
        assert_eq!(
            parse_progress("xorriso : UPDATE :    0 of    3 MB written [buf  50%]"),
            Some((0, 3))
        );
    }

    #[test]
    fn other_lines_are_not_progress() {
        for line in [
            "",
            "Media status : is blank",
            "xorriso : UPDATE :    0 of    0 MB written",
            "xorriso : UPDATE : 12 of",
            "xorriso : UPDATE : x of 3 MB written",
            "xorriso : UPDATE : 1 of 3 KB written",
            "xorriso : UPDATE : 1 from 3 MB written",
            "xorriso : UPDATE : 99999999999999999999999 of 3 MB written",
        ] {
            assert_eq!(parse_progress(line), None, "{line:?}");
        }
    }

    #[test]
    fn writing_percent_stops_at_99() {
        assert_eq!(writing_percent(0, 3).get(), 0);
        assert_eq!(writing_percent(1, 3).get(), 33);
        assert_eq!(writing_percent(3, 3).get(), 99);
        assert_eq!(writing_percent(4, 3).get(), 99);
    }

    #[test]
    fn explain_prefers_failure_lines() {
        let out = XorrisoOutput {
            status: std::process::ExitStatus::default(),
            stdout: String::new(),
            stderr_head: String::new(),
            stderr_tail: vec![
                "xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.".into(),
                "libburn : FAILURE : File object '/dev/sr0' not found".into(),
                "xorriso : FAILURE : Cannot acquire drive '/dev/sr0'".into(),
                "xorriso : aborting : -abort_on 'FAILURE' encountered 'FAILURE'".into(),
            ],
        };
        assert_eq!(
            out.explain(),
            "libburn : FAILURE : File object '/dev/sr0' not found / xorriso : FAILURE : Cannot acquire drive '/dev/sr0'"
        );
    }

    #[tokio::test]
    async fn read_lines_splits_and_bounds() {
        let input: &[u8] = b"a\nb\rc\r\n";
        let mut got = Vec::new();
        read_lines(input, |l| got.push(l.to_owned())).await;
        assert_eq!(got, ["a", "b", "c"]);
        let long = vec![b'x'; MAX_LINE_LEN * 3];
        let mut lens = Vec::new();
        read_lines(long.as_slice(), |l| lens.push(l.len())).await;
        assert_eq!(lens, [MAX_LINE_LEN]);
    }

    #[tokio::test]
    async fn read_back_hashes_exactly_the_image_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disc.img");
        std::fs::write(&path, b"hello world, and padding").unwrap();
        let (tx, rx) = watch::channel(Percent::ZERO);
        let rb = read_back_md5(path.clone(), 11, &tx, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(rb.bytes, 11);
        assert_eq!(rb.md5.to_hex(), "5eb63bbbe01eeed093cb22bb8f5acdc3"); // md5("hello world")
        assert_eq!(*rx.borrow(), Percent::FULL);
        // A disc shorter than the image reads what is there.
        let rb = read_back_md5(path, 1000, &tx, &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(rb.bytes, 24);
    }
}
