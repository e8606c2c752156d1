//! The station binary under systemd (`Type=notify`, `WatchdogSec=`), with a stand-in
//! notification socket; and its stderr log as the journal or a log shipper reads it.

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use burnstand_testlab::systemd::{assert_no_colour, json_lines, NotifySocket};
use burnstand_testlab::{daemon_command, start_daemon, wait_child, Daemon};

use crate::harness::*;

/// `burnstand-station --config station.toml` with the lab realm's environment only.
fn station(lab: &Lab) -> Command {
    let config = lab.dir.path().join("station.toml");
    std::fs::write(&config, lab.config_text("", "")).expect("write config");
    let mut cmd = daemon_command(
        Path::new(env!("CARGO_BIN_EXE_burnstand-station")),
        &lab.realm,
    );
    cmd.arg("--config").arg(&config);
    cmd
}

fn start(cmd: Command, log: &Path) -> Daemon {
    start_daemon(cmd, log, "listening on ")
}

/// SIGTERM, then the exit (successful).
fn stop(mut daemon: Daemon) {
    daemon.terminate();
    let status = wait_child(&mut daemon.child, EVENTUALLY, "the station to exit");
    assert!(status.success(), "{status:?}");
}

#[test]
fn systemd_hears_ready_once_the_port_accepts_then_watchdog_pings_then_stopping() {
    let lab = Lab::new();
    let notify = NotifySocket::bind(lab.dir.path());
    let mut cmd = station(&lab);
    cmd.env("NOTIFY_SOCKET", &notify.path)
        .env("WATCHDOG_USEC", "200000");
    let daemon = start(cmd, &lab.dir.path().join("station.stderr"));

    let said = notify.wait_for("READY=1", EVENTUALLY);
    assert_eq!(said.len(), 1, "READY=1 is the first thing said: {said:?}");
    assert!(
        said[0].contains(&format!("STATUS=listening on {}", daemon.addr)),
        "{said:?}"
    );
    TcpStream::connect(daemon.addr).expect("the port accepts after READY=1");

    notify.wait_for("WATCHDOG=1", EVENTUALLY);
    notify.wait_for("WATCHDOG=1", EVENTUALLY);

    daemon.terminate();
    notify.wait_for("STOPPING=1", EVENTUALLY);
    stop(daemon);
}

#[test]
fn a_log_file_gets_no_colour_codes_and_json_logs_are_one_object_a_line() {
    let lab = Lab::new();
    let text_log = lab.dir.path().join("text.log");
    stop(start(station(&lab), &text_log));
    assert_no_colour(&text_log);
    let text = std::fs::read_to_string(&text_log).expect("log");
    assert!(text.contains("INFO") && text.contains("stopping"), "{text}");

    let json_log = lab.dir.path().join("json.log");
    let mut cmd = station(&lab);
    cmd.args(["--log-format", "json"]);
    stop(start(cmd, &json_log));
    assert_no_colour(&json_log);
    let lines = json_lines(&json_log);
    assert!(
        lines.iter().any(|l| {
            l.get("fields")
                .and_then(|f| f.get("message"))
                .and_then(|m| m.as_str())
                .is_some_and(|m| m.contains("stopping"))
        }),
        "{lines:?}"
    );
}
