//! The `krb5kdc -n` child process: choosing a port, starting, proving the port is ours, stopping.
//!
//! krb5kdc keeps running when its bind fails, and two listeners with SO_REUSEPORT split the
//! requests between them, so "the port accepts connections" proves nothing. After the KDC
//! answers, every LISTEN socket for the port in /proc/net/tcp{,6} must be one of the child's
//! own file descriptors; otherwise the KDC is stopped and another port is tried.
//!
//! A process killed without unwinding (a test runner's timeout, SIGKILL) runs no `Drop`, which
//! would orphan its KDC. So the KDC is started through `setpriv --pdeathsig TERM` (util-linux;
//! it execs krb5kdc, so the pid is the KDC's) from a keeper thread that lives exactly as long as
//! the [`Kdc`] handle: the kernel sends SIGTERM when that thread, or the whole process, is gone.

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::admin;
use crate::config::Paths;
use crate::error::{Error, Result};

/// How long a foreign listener may answer on the port before our KDC shows up on it.
const OWNERSHIP_GRACE: Duration = Duration::from_millis(1500);
/// How long the KDC gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Asks the kernel for a free port on 127.0.0.1 and releases it again. Someone else may take it
/// before the KDC binds it; [`Kdc::start`] notices that and the caller retries.
pub(crate) fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding 127.0.0.1:0 to find a free port", e))?;
    let port = l
        .local_addr()
        .map_err(|e| Error::io("reading the address of a free port", e))?
        .port();
    Ok(port)
}

/// Why one start attempt did not give a KDC on the port.
pub(crate) enum StartFailure {
    /// Someone else holds the port: retry with another one.
    PortNotOurs { pid: u32 },
    /// Anything else (the KDC died, timed out, could not be spawned): give up.
    Fatal(Error),
}

/// A running KDC, owned by a keeper thread; dropping the handle stops and reaps it.
pub(crate) struct Kdc {
    pid: u32,
    stop: Option<mpsc::Sender<()>>,
    keeper: Option<JoinHandle<()>>,
    exited: Arc<AtomicBool>,
}

impl Kdc {
    /// Starts `krb5kdc -n` for `realm` (its kdc.conf must already name `port`), waits until it
    /// accepts TCP connections on 127.0.0.1:`port` and verifies that the port is held by it.
    pub(crate) fn start(
        paths: &Paths,
        realm: &str,
        port: u16,
        timeout: Duration,
    ) -> std::result::Result<Kdc, StartFailure> {
        let (result_tx, result_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let exited = Arc::new(AtomicBool::new(false));
        let (paths, realm_name, flag) = (paths.clone(), realm.to_string(), exited.clone());
        let keeper = std::thread::Builder::new()
            .name(format!("kdc-test {realm}"))
            .spawn(
                move || match start_child(&paths, &realm_name, port, timeout) {
                    Ok(mut child) => {
                        let _ = result_tx.send(Ok(child.id()));
                        keep(&mut child, &stop_rx, &flag);
                    }
                    Err(failure) => {
                        let _ = result_tx.send(Err(failure));
                    }
                },
            )
            .map_err(|e| StartFailure::Fatal(Error::io("starting the KDC keeper thread", e)))?;
        match result_rx.recv() {
            Ok(Ok(pid)) => Ok(Kdc {
                pid,
                stop: Some(stop_tx),
                keeper: Some(keeper),
                exited,
            }),
            Ok(Err(failure)) => {
                let _ = keeper.join();
                Err(failure)
            }
            Err(_) => {
                let _ = keeper.join();
                Err(StartFailure::Fatal(Error::io(
                    "starting krb5kdc",
                    std::io::Error::other("the KDC keeper thread panicked"),
                )))
            }
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// False once the KDC has exited (checked by the keeper every 100 ms) or been stopped.
    pub(crate) fn running(&self) -> bool {
        !self.exited.load(Ordering::SeqCst)
    }

    /// Stops and reaps the KDC; returns when it is gone.
    pub(crate) fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The keeper thread's life after a successful start: reap the KDC if it dies on its own, stop
/// it when the handle asks (or is dropped).
fn keep(child: &mut Child, stop_rx: &mpsc::Receiver<()>, exited: &AtomicBool) {
    loop {
        match stop_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    tracing::warn!(pid = child.id(), %status, "krb5kdc exited on its own");
                    exited.store(true, Ordering::SeqCst);
                    // Stay alive until asked: nothing left to do but must not return early.
                    let _ = stop_rx.recv();
                    return;
                }
            }
        }
    }
    stop(child);
    exited.store(true, Ordering::SeqCst);
}

/// One start attempt, run on the keeper thread (the KDC's parent-death signal is tied to it).
fn start_child(
    paths: &Paths,
    realm: &str,
    port: u16,
    timeout: Duration,
) -> std::result::Result<Child, StartFailure> {
    // Only what this attempt logs counts when deciding why the KDC exited.
    let log_start = std::fs::metadata(&paths.kdc_log).map_or(0, |m| m.len());
    let mut child = spawn(paths, realm).map_err(StartFailure::Fatal)?;
    let pid = child.id();
    let started = Instant::now();
    let mut first_answer: Option<Instant> = None;
    loop {
        match child.try_wait() {
            // krb5kdc exits when it cannot bind at all ("Address already in use - Error
            // setting up network"); when it can share the port (SO_REUSEPORT) it runs on.
            Ok(Some(_))
                if log_since(&paths.kdc_log, log_start).contains("Address already in use") =>
            {
                tracing::warn!(
                    port,
                    pid,
                    "port taken by another process (bind failed); retrying"
                );
                return Err(StartFailure::PortNotOurs { pid });
            }
            Ok(Some(status)) => {
                return Err(StartFailure::Fatal(Error::KdcExited {
                    status: status.to_string(),
                    log_tail: log_tail(paths),
                }))
            }
            Ok(None) => {}
            Err(e) => {
                stop(&mut child);
                return Err(StartFailure::Fatal(Error::io("waiting for krb5kdc", e)));
            }
        }
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            let answered = *first_answer.get_or_insert_with(Instant::now);
            match listeners(port, pid) {
                Ok(Listeners { ours, others: 0 }) if ours > 0 => {
                    tracing::debug!(port, pid, "krb5kdc listens and owns its port");
                    return Ok(child);
                }
                // Shared (SO_REUSEPORT), or someone else's while ours never appeared.
                Ok(Listeners { ours, .. }) if ours > 0 || answered.elapsed() >= OWNERSHIP_GRACE => {
                    tracing::warn!(port, pid, "port taken by another process; retrying");
                    stop(&mut child);
                    return Err(StartFailure::PortNotOurs { pid });
                }
                // Someone else answered, but our KDC may not have bound yet.
                Ok(_) => {}
                Err(e) => {
                    stop(&mut child);
                    return Err(StartFailure::Fatal(e));
                }
            }
        }
        if started.elapsed() >= timeout {
            stop(&mut child);
            return Err(StartFailure::Fatal(Error::KdcTimeout {
                port,
                waited: timeout,
                log_tail: log_tail(paths),
            }));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn(paths: &Paths, realm: &str) -> Result<Child> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.kdc_out)
        .map_err(|e| Error::io_path("opening", &paths.kdc_out, e))?;
    let err = out
        .try_clone()
        .map_err(|e| Error::io_path("opening", &paths.kdc_out, e))?;
    let kdc = admin::find_tool("krb5kdc")?;
    let mut cmd = match admin::find_tool("setpriv") {
        Ok(setpriv) => {
            let mut c = admin::command(paths, setpriv.as_os_str());
            c.args(["--pdeathsig", "TERM", "--"]).arg(kdc);
            c
        }
        Err(_) => {
            tracing::debug!("setpriv not found: the KDC would outlive a killed test process");
            admin::command(paths, kdc.as_os_str())
        }
    };
    cmd.arg("-n")
        .arg("-r")
        .arg(realm)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let child = cmd.spawn().map_err(|e| Error::io("starting krb5kdc", e))?;
    // The pid file lets a later `kdc-test up` in the same directory stop a KDC orphaned by a
    // killed parent. It is a convenience: failing to write it is not an error.
    let _ = std::fs::write(&paths.kdc_pid, format!("{}\n", child.id()));
    Ok(child)
}

/// Stops the KDC: SIGTERM (it logs "shutting down" and closes its database), then SIGKILL if
/// it lingers, and always reaps it so no zombie is left behind.
pub(crate) fn stop(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Ok(raw) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(raw), Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// True if every LISTEN socket on `port` that covers 127.0.0.1 (in /proc/net/tcp and tcp6)
/// belongs to process `pid`, and there is at least one.
///
/// Public so tests can check it independently of the start-up path.
pub fn port_owned_by(port: u16, pid: u32) -> Result<bool> {
    let l = listeners(port, pid)?;
    Ok(l.ours > 0 && l.others == 0)
}

/// LISTEN sockets on a port, split by whether `pid` holds them.
struct Listeners {
    ours: usize,
    others: usize,
}

fn listeners(port: u16, pid: u32) -> Result<Listeners> {
    let inodes = listening_inodes(port)?;
    if inodes.is_empty() {
        return Ok(Listeners { ours: 0, others: 0 });
    }
    let held = socket_inodes_of(pid)?;
    let ours = inodes.iter().filter(|i| held.contains(i)).count();
    Ok(Listeners {
        ours,
        others: inodes.len() - ours,
    })
}

/// Inodes of LISTEN sockets on `port` bound to 127.0.0.1, 0.0.0.0, :: or ::ffff:127.0.0.1.
fn listening_inodes(port: u16) -> Result<Vec<u64>> {
    let mut inodes = Vec::new();
    for (table, covers) in [
        ("/proc/net/tcp", &["0100007F", "00000000"][..]),
        (
            "/proc/net/tcp6",
            &[
                "00000000000000000000000000000000",
                "0000000000000000FFFF00000100007F",
            ][..],
        ),
    ] {
        let text = match std::fs::read_to_string(table) {
            Ok(t) => t,
            // No IPv6 in this kernel: nothing can listen there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && table.ends_with('6') => continue,
            Err(e) => return Err(Error::io_path("reading", Path::new(table), e)),
        };
        inodes.extend(parse_listeners(&text, port, covers));
    }
    Ok(inodes)
}

/// Parses a /proc/net/tcp table: `sl local rem st tx:rx tr:when retr uid timeout inode ...`.
fn parse_listeners(text: &str, port: u16, addrs: &[&str]) -> Vec<u64> {
    let want_port = format!("{port:04X}");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (addr, p) = f.get(1)?.split_once(':')?;
            let listening = *f.get(3)? == "0A";
            let covered = addrs.iter().any(|a| a.eq_ignore_ascii_case(addr));
            if listening && covered && p.eq_ignore_ascii_case(&want_port) {
                f.get(9)?.parse().ok()
            } else {
                None
            }
        })
        .collect()
}

/// Socket inodes among the open file descriptors of `pid` (links `socket:[N]` in /proc/pid/fd).
fn socket_inodes_of(pid: u32) -> Result<Vec<u64>> {
    let dir = format!("/proc/{pid}/fd");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| Error::io_path("listing", Path::new(&dir), e))?;
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|link| {
            let s = link.to_string_lossy().into_owned();
            s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect())
}

/// What was appended to `log` after byte `start`.
fn log_since(log: &Path, start: u64) -> String {
    let bytes = std::fs::read(log).unwrap_or_default();
    let from = usize::try_from(start).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// The last lines of the KDC's stdout/stderr and of its log file, for error messages.
pub(crate) fn log_tail(paths: &Paths) -> String {
    let tail = |p: &Path| {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(15);
        lines[start..].join("\n")
    };
    format!(
        "--- {} ---\n{}\n--- {} ---\n{}",
        paths.kdc_out.display(),
        tail(&paths.kdc_out),
        paths.kdc_log.display(),
        tail(&paths.kdc_log)
    )
}

/// Stops a KDC left running by an earlier `kdc-test up` in the same directory, if the pid file
/// names a live krb5kdc whose KRB5_KDC_PROFILE is this directory's kdc.conf (so a recycled pid
/// of an unrelated process is never signalled).
pub(crate) fn stop_stale(paths: &Paths) {
    let Ok(text) = std::fs::read_to_string(&paths.kdc_pid) else {
        return;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return;
    };
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let mut needle = b"KRB5_KDC_PROFILE=".to_vec();
    needle.extend_from_slice(paths.kdc_conf.as_os_str().as_encoded_bytes());
    let is_ours = comm.trim() == "krb5kdc"
        && environ
            .split(|b| *b == 0)
            .any(|entry| entry == needle.as_slice());
    if is_ours {
        tracing::warn!(pid, "stopping a stale krb5kdc of this directory");
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline && Path::new(&format!("/proc/{pid}")).exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if Path::new(&format!("/proc/{pid}")).exists() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_proc_net_tcp() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0\n\
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n";
        assert_eq!(
            parse_listeners(text, 0x1F90, &["0100007F", "00000000"]),
            vec![12345]
        );
    }
}
