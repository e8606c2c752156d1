//! The `kdc-test up` CLI: export lines on stdout, a working realm, clean stop on SIGTERM/SIGINT.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::pid_gone;

const BIN: &str = env!("CARGO_BIN_EXE_kdc-test");

/// Starts `kdc-test up`, reads its stdout up to `# ready`, returns exports and keytab comments.
fn up(dir: &Path, extra: &[&str]) -> (Child, Vec<(String, String)>, Vec<String>) {
    let mut child = Command::new(BIN)
        .arg("up")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut exports = Vec::new();
    let mut comments = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("export ") {
            let (k, v) = rest.split_once('=').unwrap();
            let v = v.trim_matches('\'').to_string();
            exports.push((k.to_string(), v));
        } else if line.starts_with("# keytab ") {
            comments.push(line.clone());
        } else if line == "# ready" {
            break;
        }
    }
    (child, exports, comments)
}

fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "kdc-test did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kdc_pid(dir: &Path) -> u32 {
    std::fs::read_to_string(dir.join("kdc.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn up_prints_exports_serves_and_stops_on_sigterm() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("demo-realm");
    let (mut child, exports, comments) = up(&dir, &[]);
    let names: Vec<&str> = exports.iter().map(|(k, _)| k.as_str()).collect();
    for var in [
        "KRB5_CONFIG",
        "KRB5_KDC_PROFILE",
        "KRB5CCNAME",
        "KRB5RCACHEDIR",
    ] {
        assert!(names.contains(&var), "{var} missing: {names:?}");
    }
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert!(
        comments[0].contains("burnstand/localhost@BURNSTAND.TEST"),
        "{comments:?}"
    );
    assert!(comments[1].contains("burnstand-station/localhost@BURNSTAND.TEST"));

    // The printed environment is all a shell needs: kinit the default user, get a service ticket.
    let shell = |script: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap()
    };
    let out = shell("echo alice-pw | kinit alice >/dev/null && kvno burnstand/localhost && klist");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("alice@BURNSTAND.TEST"));
    let out = shell("echo bob-pw | kinit bob >/dev/null");
    assert!(out.status.success());

    let kdc = kdc_pid(&dir);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let status = wait_exit(&mut child);
    assert!(status.success(), "{status}");
    assert!(
        pid_gone(kdc),
        "KDC {kdc} still running after SIGTERM to kdc-test"
    );
    assert!(
        dir.join("krb5.conf").exists(),
        "the user's dir is not deleted"
    );

    // `up` again in the same dir replaces the old realm, with custom principals.
    let (mut child, exports, comments) = up(
        &dir,
        &[
            "--realm",
            "DEMO.TEST",
            "--user",
            "carol:carol-pw",
            "--service",
            "a/localhost",
            "--service",
            "b/localhost",
        ],
    );
    assert!(
        comments[0].contains("a/localhost@DEMO.TEST"),
        "{comments:?}"
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg("echo carol-pw | kinit carol >/dev/null && klist")
        .envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("carol@DEMO.TEST"));
    let kdc = kdc_pid(&dir);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert!(wait_exit(&mut child).success());
    assert!(pid_gone(kdc));
}

#[test]
fn help_and_bad_arguments() {
    let help = Command::new(BIN).args(["up", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["--dir", "--realm", "--user", "--service", "BURNSTAND.TEST"] {
        assert!(text.contains(word), "{word} missing in help:\n{text}");
    }
    let bad = Command::new(BIN)
        .args(["up", "--dir", "/tmp/x", "--user", "nopassword"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NAME:PASSWORD"));
}

#[test]
fn a_killed_kdc_test_does_not_orphan_its_kdc() {
    // SIGKILL runs no destructor; the KDC's parent-death signal must take it down anyway.
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("realm");
    let (mut child, _, _) = up(&dir, &[]);
    let kdc = kdc_pid(&dir);
    assert!(!pid_gone(kdc));
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphan is reparented to init or a subreaper, which may reap it late (or, in some
    // sandboxes, never): a zombie counts as dead.
    let dead = || {
        pid_gone(kdc)
            || std::fs::read_to_string(format!("/proc/{kdc}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dead() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dead(), "KDC {kdc} survived its killed parent");
    // It was asked to stop (SIGTERM from the parent-death signal), not left to crash.
    let log = std::fs::read_to_string(dir.join("kdc.log")).unwrap();
    assert!(log.contains("shutting down"), "{log}");
}
