//! Baseline for (a): OpenSSH through a jump host, the way a lab would reach a station without
//! burnstand (`ssh -J master station`), moving the same bytes as the relay run.
//!
//! The bench starts its own `sshd` on loopback, as the current user (root or not), with a
//! throwaway host key, client key, `authorized_keys` and config in a temporary directory, and
//! uses it as both the jump host and the target: `ssh -J` then makes two real SSH hops (the
//! client's connection to the jump sshd, a `direct-tcpip` channel through it, and a second
//! SSH connection inside it to the target sshd, which runs `cat > /dev/null`), so the bytes
//! are encrypted twice and decrypted twice, like a relay's. Cipher `aes128-gcm@openssh.com`
//! (AES-NI), no compression. Timing starts once the target's shell is ready (it prints a
//! line), so the handshakes are not counted, as the relay's are not, and ends when the remote
//! `cat` has read everything (ssh exits after the remote command does).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// The cipher both hops use.
const CIPHER: &str = "aes128-gcm@openssh.com";

/// Where Debian's openssh-server puts the daemon (sshd must be started by absolute path).
const SSHD: &str = "/usr/sbin/sshd";

/// How long sshd gets to listen and ssh to connect before the baseline is given up.
const START: Duration = Duration::from_secs(20);

/// The bench's sshd, killed on drop.
struct Sshd {
    child: Child,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), Error> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e} (scripts/install-deps.sh installs openssh)"))?;
    if !out.status.success() {
        return Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(())
}

fn keygen(path: &Path) -> Result<(), Error> {
    run(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path),
        "ssh-keygen",
    )
}

fn id(flag: &str) -> Result<String, Error> {
    let out = Command::new("id").arg(flag).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

fn current_user() -> Result<String, Error> {
    id("-un")
}

fn current_uid() -> Result<String, Error> {
    id("-u")
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts sshd on two free loopback ports (one for the jump, one for the target: ssh refuses
/// a jump host that is its own destination) with everything in `dir`.
fn start_sshd(dir: &Path) -> Result<(Sshd, [u16; 2]), Error> {
    keygen(&dir.join("host_key"))?;
    keygen(&dir.join("id_ed25519"))?;
    std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys"))?;
    let ports = [free_port()?, free_port()?];
    let d = dir.display();
    let config = format!(
        "Port {}\nPort {}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\nUsePAM no\nStrictModes no\n\
         PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nCiphers {CIPHER}\n\
         Compression no\nPrintMotd no\nLogLevel ERROR\nSubsystem sftp internal-sftp\n",
        ports[0], ports[1]
    );
    std::fs::write(dir.join("sshd_config"), config)?;
    if current_uid()? == "0" {
        // As root sshd separates privileges into this (empty) directory; the package makes
        // it only when its own service starts, which a CI container never does.
        std::fs::create_dir_all("/run/sshd")?;
    }
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("sshd.log"))?)
        .spawn()
        .map_err(|e| format!("{SSHD}: {e} (scripts/install-deps.sh installs openssh-server)"))?;
    let sshd = Sshd { child };
    let deadline = Instant::now() + START;
    for port in ports {
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
                return Err(format!("sshd did not listen on port {port}: {log}").into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok((sshd, ports))
}

/// The bench's own OpenSSH: sshd on two loopback ports and a client config that reaches it
/// with a throwaway key. Everything lives in a temporary directory; sshd dies on drop.
pub struct SshLab {
    dir: tempfile::TempDir,
    _sshd: Sshd,
    /// `[jump, target]`: two ports of the same sshd.
    ports: [u16; 2],
}

impl SshLab {
    pub fn start() -> Result<SshLab, Error> {
        let dir = tempfile::tempdir()?;
        let (sshd, ports) = start_sshd(dir.path())?;
        let user = current_user()?;
        let d = dir.path().display();
        // In a config file, not options: ssh passes `-F` on to the jump connection, but not -o.
        let client_config = format!(
            "Host *\n  User {user}\n  IdentityFile {d}/id_ed25519\n  \
             IdentitiesOnly yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile {d}/known_hosts\n  \
             Ciphers {CIPHER}\n  Compression no\n  BatchMode yes\n  LogLevel ERROR\n"
        );
        std::fs::write(dir.path().join("ssh_config"), client_config)?;
        Ok(SshLab {
            dir,
            _sshd: sshd,
            ports,
        })
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// `scp FILE` into `remote_dir` on this sshd (a "host" of its own: the second port), as a
    /// child process to wait for.
    pub fn scp(&self, file: &Path, remote_dir: &Path) -> Result<Child, Error> {
        Command::new("scp")
            .arg("-q")
            .arg("-F")
            .arg(self.config())
            .args(["-P", &self.ports[1].to_string()])
            .arg(file)
            .arg(format!("127.0.0.1:{}/", remote_dir.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!("scp: {e} (scripts/install-deps.sh installs openssh-client)").into()
            })
    }
}

/// Moves `total` bytes through `ssh -J` into `cat > /dev/null` on the target, in chunks of
/// `chunk` bytes; MiB/s from the moment the target is ready to the moment ssh exits.
/// Blocking (processes and pipes): run it off the async runtime.
pub fn jump_host_rate(total: u64, chunk: usize) -> Result<f64, Error> {
    let lab = SshLab::start()?;
    let [jump, target] = lab.ports;
    let mut ssh = Command::new("ssh")
        .arg("-F")
        .arg(lab.config())
        .args([
            "-J",
            &format!("127.0.0.1:{jump}"),
            "-p",
            &target.to_string(),
        ])
        .arg("127.0.0.1")
        .arg("echo ready; exec cat > /dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ssh: {e} (scripts/install-deps.sh installs openssh-client)"))?;
    let (Some(mut stdin), Some(stdout)) = (ssh.stdin.take(), ssh.stdout.take()) else {
        return Err("ssh: no pipes".into());
    };
    let mut ready = String::new();
    BufReader::new(stdout).read_line(&mut ready)?;
    if ready.trim() != "ready" {
        let out = ssh.wait_with_output()?;
        return Err(format!("ssh -J: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    let block = vec![0xa5u8; chunk];
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let n = usize::try_from(total - sent).map_or(chunk, |left| left.min(chunk));
        stdin.write_all(&block[..n])?;
        sent += n as u64;
    }
    drop(stdin);
    let out = ssh.wait_with_output()?;
    let took = started.elapsed();
    if !out.status.success() {
        return Err(format!("ssh -J: {}", String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    Ok(total as f64 / (1 << 20) as f64 / took.as_secs_f64().max(1e-9))
}
