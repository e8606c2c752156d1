//! The daemon under systemd (`Type=notify`, `WatchdogSec=`), with a stand-in notification
//! socket; and its stderr log as the journal or a log shipper reads it.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use burnstand_testlab::systemd::{assert_no_colour, json_lines, NotifySocket};
use burnstand_testlab::{start_daemon, wait_child, Daemon};
use kdc_test::Realm;

use crate::common::{config_text, start_realm, StationSpec, HANG_GUARD, MASTER};

const BIN: &str = env!("CARGO_BIN_EXE_burnstand-master");

/// A realm and a master configuration with one (offline) station.
struct Setup {
    realm: Realm,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let realm = start_realm(None);
        let dir = tempfile::tempdir().expect("temp dir");
        let keytab = realm.keytab(MASTER).expect("master keytab").to_owned();
        let station = (
            StationSpec::new("dvd-1", "DVD"),
            SocketAddr::from(([127, 0, 0, 1], 9)),
        );
        let text = config_text(
            &realm,
            &keytab,
            &dir.path().join("audit.jsonl"),
            &[station],
            "",
            "",
        );
        let config = dir.path().join("master.toml");
        std::fs::write(&config, text).expect("write config");
        Setup { realm, dir, config }
    }

    /// The daemon with the realm's environment only.
    fn command(&self) -> Command {
        let mut command = burnstand_testlab::daemon_command(Path::new(BIN), &self.realm);
        command.arg("--config").arg(&self.config);
        command
    }

    fn start(&self, command: Command, log: &Path) -> Daemon {
        start_daemon(command, log, "burnstand-master listening on ")
    }
}

/// SIGTERM, then the exit (successful).
fn stop(mut daemon: Daemon) {
    daemon.terminate();
    let status = wait_child(&mut daemon.child, HANG_GUARD, "the master to exit");
    assert!(status.success(), "{status:?}");
}

#[test]
fn systemd_hears_ready_once_the_port_accepts_then_watchdog_pings_then_stopping() {
    let setup = Setup::new();
    let notify = NotifySocket::bind(setup.dir.path());
    let mut command = setup.command();
    command
        .env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000");
    let daemon = setup.start(command, &setup.dir.path().join("master.log"));

    let said = notify.wait_for("READY=1", HANG_GUARD);
    assert_eq!(said.len(), 1, "READY=1 is the first thing said: {said:?}");
    assert!(
        said[0].contains(&format!("STATUS=listening on {}", daemon.addr)),
        "{said:?}"
    );
    // Ready means ready: the port takes a connection now.
    TcpStream::connect(daemon.addr).expect("the port accepts after READY=1");

    // WATCHDOG_USEC = 200 ms: pings come while it serves.
    notify.wait_for("WATCHDOG=1", HANG_GUARD);
    notify.wait_for("WATCHDOG=1", HANG_GUARD);

    daemon.terminate();
    notify.wait_for("STOPPING=1", HANG_GUARD);
    stop(daemon);
}

#[test]
fn without_notify_socket_it_serves_as_before() {
    let setup = Setup::new();
    let mut command = setup.command();
    // A watchdog without a socket to ping: nothing to do, nothing fails.
    command.env("WATCHDOG_USEC", "200000");
    let daemon = setup.start(command, &setup.dir.path().join("master.log"));
    TcpStream::connect(daemon.addr).expect("the port accepts");
    stop(daemon);
}

#[test]
fn a_log_file_gets_no_colour_codes_and_json_logs_are_one_object_a_line() {
    let setup = Setup::new();
    // Text (the default), stderr to a file, as under systemd.
    let text_log = setup.dir.path().join("text.log");
    stop(setup.start(setup.command(), &text_log));
    assert_no_colour(&text_log);
    let text = std::fs::read_to_string(&text_log).expect("log");
    assert!(
        text.contains("INFO") && text.contains("shutting down"),
        "{text}"
    );

    let json_log = setup.dir.path().join("json.log");
    let mut command = setup.command();
    command.args(["--log-format", "json"]);
    stop(setup.start(command, &json_log));
    assert_no_colour(&json_log);
    let lines = json_lines(&json_log);
    assert!(
        lines.iter().any(|l| {
            l.get("level").and_then(|v| v.as_str()) == Some("INFO")
                && l.get("fields")
                    .and_then(|f| f.get("message"))
                    .and_then(|m| m.as_str())
                    .is_some_and(|m| m.contains("shutting down"))
        }),
        "{lines:?}"
    );

    // An unknown format is a usage error naming the choices.
    let out = setup
        .command()
        .args(["--log-format", "xml", "--check-config"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("text") && stderr.contains("json"),
        "{stderr}"
    );
}
