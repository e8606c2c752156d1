//! Running the krb5 command-line tools (kdb5_util, kadmin.local, kinit, openssl) for one realm.
//!
//! Every child gets the realm's environment explicitly (never the parent's krb5 variables), a
//! bounded run time, and its stderr in the error when it fails.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{Paths, FOREIGN_VARS};
use crate::error::{Error, Result};

/// How long one helper command may run: they all finish in well under a second on loopback.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds a program in PATH or the sbin directories, where Debian puts krb5kdc, kdb5_util and
/// kadmin.local (not on a normal user's PATH).
pub(crate) fn find_tool(name: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for d in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(d));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| Error::MissingTool {
            tool: name.to_string(),
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A command for `program` (looked up with [`find_tool`] when it is a bare name) with the
/// realm's environment applied and foreign krb5 variables removed.
pub(crate) fn command(paths: &Paths, program: &OsStr) -> Command {
    let resolved = match program.to_str() {
        Some(name) if !name.contains('/') => find_tool(name)
            .map(PathBuf::into_os_string)
            .unwrap_or_else(|_| program.to_os_string()),
        _ => program.to_os_string(),
    };
    let mut cmd = Command::new(resolved);
    for var in FOREIGN_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(paths.env());
    cmd
}

/// A command for a required tool: fails with [`Error::MissingTool`] if it is not installed.
pub(crate) fn tool(paths: &Paths, name: &str) -> Result<Command> {
    let path = find_tool(name)?;
    Ok(command(paths, path.as_os_str()))
}

/// What a finished helper printed.
pub(crate) struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion with `stdin` fed to it, killing it after [`COMMAND_TIMEOUT`].
/// `display` names the command in errors (it must not contain secrets).
pub(crate) fn run(mut cmd: Command, display: &str, stdin: Option<&str>) -> Result<Output> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let shown = display;
    tracing::debug!(command = shown, "running");
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io(format!("starting `{display}`"), e))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A program that exits before reading its input closes the pipe: not our error to report.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child.stdout.take().map(reader);
    let err = child.stderr.take().map(reader);
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::CommandFailed {
                    command: display.to_string(),
                    status: format!("killed after {COMMAND_TIMEOUT:?}"),
                    stderr: String::new(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(Error::io(format!("waiting for `{display}`"), e)),
        }
    };
    let stdout = out.map(join).unwrap_or_default();
    let stderr = err.map(join).unwrap_or_default();
    if status.success() {
        Ok(Output { stdout, stderr })
    } else {
        Err(Error::CommandFailed {
            command: display.to_string(),
            status: status.to_string(),
            stderr: stderr.trim().to_string(),
        })
    }
}

fn reader<R: Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn join(h: std::thread::JoinHandle<String>) -> String {
    h.join().unwrap_or_default()
}

/// Runs one `kadmin.local` query against the realm's database (works while the KDC runs).
///
/// kadmin.local exits 0 even when the query fails, so success is recognised by `expect`
/// appearing in its output (e.g. `created.`), and otherwise its stderr becomes the error.
/// `display` replaces the query in errors, so passwords never end up in messages.
pub(crate) fn kadmin(
    paths: &Paths,
    realm: &str,
    query: &str,
    display: &str,
    expect: &str,
) -> Result<String> {
    let mut cmd = tool(paths, "kadmin.local")?;
    cmd.arg("-r").arg(realm).arg("-q").arg(query);
    let shown = format!("kadmin.local -r {realm} -q '{display}'");
    let out = run(cmd, &shown, None)?;
    if out.stdout.contains(expect) || out.stderr.contains(expect) {
        Ok(out.stdout)
    } else {
        Err(Error::CommandFailed {
            command: shown,
            status: "exit status: 0, but the query failed".into(),
            stderr: format!("{}\n{}", out.stderr.trim(), out.stdout.trim())
                .trim()
                .to_string(),
        })
    }
}

/// `kinit principal` into `ccache` with the password on stdin (kinit reads it from there when
/// stdin is not a terminal).
pub(crate) fn kinit(paths: &Paths, principal: &str, password: &str, ccache: &Path) -> Result<()> {
    let mut cmd = tool(paths, "kinit")?;
    cmd.arg("-c").arg(file_ccache(ccache)).arg(principal);
    let display = format!("kinit -c {} {principal}", ccache.display());
    run(cmd, &display, Some(&format!("{password}\n"))).map(drop)
}

/// `FILE:<path>` as an OS string, for ccache and keytab names.
pub(crate) fn file_ccache(path: &Path) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from("FILE:");
    s.push(path.as_os_str());
    s
}

/// A fresh random secret (hex of 24 bytes from the kernel) for master keys and cross-realm
/// passwords: nobody ever types them.
pub(crate) fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("reading /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let err = find_tool("kdc-test-no-such-program").unwrap_err();
        assert!(matches!(err, Error::MissingTool { .. }));
        assert!(err.to_string().contains("scripts/install-deps.sh"), "{err}");
    }

    #[test]
    fn sbin_tools_are_found_without_sbin_on_path() {
        // Debian puts krb5kdc in /usr/sbin, which is not on a normal user's PATH.
        assert!(find_tool("krb5kdc").unwrap().is_absolute());
    }

    #[test]
    fn failing_commands_report_stderr() {
        let cmd = Command::new("sh");
        let mut cmd = cmd;
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        let err = run(cmd, "sh -c boom", None).err().unwrap();
        let text = err.to_string();
        assert!(
            text.contains("boom") && text.contains("exit status: 3"),
            "{text}"
        );
    }
}
