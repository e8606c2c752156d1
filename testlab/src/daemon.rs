//! The workspace's binaries: finding them, starting a daemon with a realm's environment and
//! reading its listen address from its first line on stdout, stopping it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use kdc_test::Realm;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How long a stopped daemon may take to drain before it is killed.
pub const DRAIN_BOUND: Duration = Duration::from_secs(30);

/// The workspace binary `name`: `CARGO_BIN_EXE_<name>` where the runner sets it, or else the
/// file next to this executable (a test's executable is in `deps/`, one level below the
/// binaries; cargo builds every package's binaries for `--workspace`).
pub fn binary(name: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
    }
    let exe = std::env::current_exe().map_err(|e| format!("this executable's path: {e}"))?;
    let mut dir = exe.parent().unwrap_or(Path::new(".")).to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{name} not found at {}: build the workspace's binaries first (cargo build --workspace)",
            path.display()
        ))
    }
}

/// A command for `program` with PATH and the realm's environment only (like scripts/demo.sh).
pub fn daemon_command(program: &Path, realm: &Realm) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(realm.env());
    cmd
}

/// A daemon this process started; dropping it stops it ([`Daemon::terminate`], then a wait
/// bounded by [`DRAIN_BOUND`], then SIGKILL).
pub struct Daemon {
    pub child: Child,
    /// Where it listens, from its first line.
    pub addr: SocketAddr,
    /// Kept open so a late line on stdout never meets a closed pipe; [`Daemon::next_line`]
    /// reads what it says after its first line.
    stdout: BufReader<ChildStdout>,
}

/// Starts `cmd` with stderr to `log` and returns once its first stdout line, `prefix` and an
/// address, says where it listens; on anything else kills it and says what it said, with its
/// log.
pub fn try_start_daemon(mut cmd: Command, log: &Path, prefix: &str) -> Result<Daemon, String> {
    let stderr = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("start {:?}: {e}", cmd.get_program()))?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    let read = stdout.read_line(&mut line);
    let addr = read.ok().and_then(|_| {
        line.trim()
            .strip_prefix(prefix)
            .and_then(|a| a.parse::<SocketAddr>().ok())
    });
    match addr {
        Some(addr) => Ok(Daemon {
            child,
            addr,
            stdout,
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "{:?} said {line:?} instead of {prefix:?}; its log ({}):\n{}",
                cmd.get_program(),
                log.display(),
                std::fs::read_to_string(log).unwrap_or_default()
            ))
        }
    }
}

/// [`try_start_daemon`], panicking on failure.
pub fn start_daemon(cmd: Command, log: &Path, prefix: &str) -> Daemon {
    try_start_daemon(cmd, log, prefix).unwrap_or_else(|e| panic!("{e}"))
}

impl Daemon {
    /// The daemon's next line on stdout (the master's status page address comes second), or
    /// `None` once stdout is closed. Blocks until the line comes.
    pub fn next_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Some(line.trim_end().to_owned()),
            _ => None,
        }
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"))
    }

    /// Sends SIGTERM (a daemon's orderly shutdown), without waiting.
    pub fn terminate(&self) {
        let _ = kill(self.pid(), Signal::SIGTERM);
    }

    /// A line of /proc/PID/status in kB (VmHWM, VmRSS).
    pub fn status_kb(&self, field: &str) -> u64 {
        crate::status_kb(self.child.id(), field)
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        self.terminate();
        let deadline = Instant::now() + DRAIN_BOUND;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}
