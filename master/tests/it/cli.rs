//! The daemon binary: `--check-config`, and SIGTERM (stop accepting, drain, exit).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use burnstand_wire::command::{Command as Cmd, Reply};
use kdc_test::Realm;
use tokio::net::TcpStream;

use crate::client::{assert_closed, bind_first, command, handshake_in, Client};
use crate::common::{config_text, guard, start_realm, StationSpec, MASTER};

const BIN: &str = env!("CARGO_BIN_EXE_burnstand-master");

struct Setup {
    realm: Realm,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let realm = start_realm(None);
        realm.apply_to_process(None).expect("client environment");
        Setup {
            realm,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn keytab(&self) -> PathBuf {
        self.realm.keytab(MASTER).expect("master keytab").to_owned()
    }

    fn audit(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// A config file with one station (nothing needs to listen there for these tests).
    fn write_config(&self, name: &str, limits: &str, edit: impl Fn(String) -> String) -> PathBuf {
        self.write_config_at(name, limits, SocketAddr::from(([127, 0, 0, 1], 9)), edit)
    }

    /// A config file with one station at `station`.
    fn write_config_at(
        &self,
        name: &str,
        limits: &str,
        station: SocketAddr,
        edit: impl Fn(String) -> String,
    ) -> PathBuf {
        let station = (StationSpec::new("dvd-1", "DVD"), station);
        let text = edit(config_text(
            &self.realm,
            &self.keytab(),
            &self.audit(),
            &[station],
            limits,
            "",
        ));
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// The daemon with the realm's environment; keytab variables come from the config.
    fn command(&self, config: &Path) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("--config")
            .arg(config)
            .env_clear()
            .envs(self.realm.env());
        command
    }

    /// A runtime serving a test station (the daemon's station must be up to be reserved: an
    /// offline one never is), and the station's address. Call before any other thread runs.
    fn station(&self) -> (tokio::runtime::Runtime, SocketAddr) {
        let keytab = self
            .realm
            .keytab(crate::common::STATION)
            .expect("station keytab")
            .to_owned();
        burnstand_testlab::apply_env(&self.realm, Some(&keytab), None).expect("environment");
        let runtime = runtime();
        let station = runtime.block_on(crate::station::TestStation::start(
            &self.realm.principal(crate::common::STATION),
            &self.realm.principal(MASTER),
            crate::station::StationMode::Accept,
        ));
        (runtime, station.addr)
    }

    fn check(&self, config: &Path) -> Output {
        self.command(config)
            .arg("--check-config")
            .output()
            .expect("run --check-config")
    }
}

#[test]
fn check_config_accepts_a_good_config_and_prints_a_summary() {
    let setup = Setup::new();
    let config = setup.write_config("good.toml", "", |t| t);
    let out = setup.check(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": OK"), "{stdout}");
    assert!(
        stdout.contains("station type 1 \"DVD burner\": dvd-1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("alice@BURNSTAND.TEST, bob@BURNSTAND.TEST"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fast path on (self-test passed)"),
        "{stdout}"
    );

    // `fast_path = false` (a top-level key) is shown as off.
    let config = setup.write_config("mit.toml", "", |t| format!("fast_path = false\n{t}"));
    let out = setup.check(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("fast path off (fast_path = false)"),
        "{stdout}"
    );
}

/// A change to the good config text.
type Edit = Box<dyn Fn(String) -> String>;

#[test]
fn check_config_explains_what_is_wrong() {
    let setup = Setup::new();
    let station_principal = setup.realm.principal(crate::common::STATION);
    let master_principal = setup.realm.principal(MASTER);
    let keytab = setup.keytab().display().to_string();
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "syntax.toml",
            Box::new(|t| t.replace("listen =", "listen")),
            "is not valid",
        ),
        (
            "service.toml",
            Box::new(|t| t.replace("[\"burner\"]", "[\"toaster\"]")),
            "unknown service \"toaster\"",
        ),
        (
            "group.toml",
            Box::new(|t| t.replace("group:lab", "group:staff")),
            "group \"staff\" is not defined",
        ),
        (
            "keytab.toml",
            Box::new(move |t| t.replace(&keytab, "/nonexistent/master.keytab")),
            "cannot read keytab",
        ),
        (
            "principal.toml",
            Box::new(move |t| t.replacen(&master_principal, &station_principal, 1)),
            "cannot accept as",
        ),
        (
            "audit.toml",
            Box::new(|t| t.replace("audit.jsonl", "missing-dir/audit.jsonl")),
            "does not exist",
        ),
    ];
    for (name, edit, expected) in cases {
        let config = setup.write_config(name, "", edit);
        let out = setup.check(&config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{name}: expected {expected:?} in {stderr}"
        );
    }
    let out = Command::new(BIN).arg("--help").output().expect("--help");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--check-config"));
}

/// The daemon (stopped on drop).
struct Daemon(burnstand_testlab::Daemon);

impl Daemon {
    fn start(setup: &Setup, limits: &str) -> Daemon {
        let config = setup.write_config("master.toml", limits, |t| t);
        Daemon::run(setup, &config)
    }

    /// The daemon with its one station at `station`.
    fn start_at(setup: &Setup, limits: &str, station: SocketAddr) -> Daemon {
        let config = setup.write_config_at("master.toml", limits, station, |t| t);
        Daemon::run(setup, &config)
    }

    fn run(setup: &Setup, config: &Path) -> Daemon {
        Daemon(burnstand_testlab::start_daemon(
            setup.command(config),
            &setup.dir.path().join("master.log"),
            "burnstand-master listening on ",
        ))
    }

    fn addr(&self) -> SocketAddr {
        self.0.addr
    }

    fn terminate(&self) {
        nix::sys::signal::kill(self.0.pid(), nix::sys::signal::Signal::SIGTERM).expect("kill");
    }

    /// Waits for the process to exit (polling, so the runtime is never blocked for long).
    async fn wait(&mut self) -> std::process::ExitStatus {
        guard("the daemon to exit", async {
            loop {
                if let Some(status) = self.0.child.try_wait().expect("try_wait") {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }
}

async fn connect(setup: &Setup, daemon: &Daemon, user: &str) -> Client {
    let stream = TcpStream::connect(daemon.addr()).await.expect("connect");
    guard("handshake", handshake_in(&setup.realm, user, stream))
        .await
        .expect("authenticate")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn sigterm_stops_accepting_and_lets_sessions_finish() {
    let setup = Setup::new();
    let (runtime, station) = setup.station();
    let mut daemon = Daemon::start_at(&setup, "drain_deadline = \"60s\"", station);
    runtime.block_on(async {
        let mut alice = connect(&setup, &daemon, "alice").await;
        assert_eq!(bind_first(&mut alice).await, Reply::Ok);
        let mut bob = connect(&setup, &daemon, "bob").await;
        daemon.terminate();
        // No new connections once the listener is closed.
        guard("the listener to close", async {
            while TcpStream::connect(daemon.addr()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        // Sessions go on: bob may still list, but may not reserve during the drain.
        assert_eq!(crate::client::list(&mut bob).await.len(), 1);
        assert_eq!(bind_first(&mut bob).await, Reply::ErrUnaval);
        drop(bob);
        assert_eq!(command(&mut alice, Cmd::Quit).await, Reply::Ok);
        assert_closed(&mut alice).await;
        let status = daemon.wait().await;
        assert!(status.success(), "{status:?}");
    });
    let records = burnstand_audit::read_records(setup.audit()).expect("audit");
    assert!(records
        .iter()
        .any(|r| r.event == "teardown" && r.get_str("reason") == Some("quit")));
}

#[test]
fn the_drain_deadline_closes_what_is_left() {
    let setup = Setup::new();
    let (runtime, station) = setup.station();
    let mut daemon = Daemon::start_at(&setup, "drain_deadline = \"1s\"", station);
    runtime.block_on(async {
        let mut alice = connect(&setup, &daemon, "alice").await;
        assert_eq!(bind_first(&mut alice).await, Reply::Ok);
        daemon.terminate();
        assert_closed(&mut alice).await;
        let status = daemon.wait().await;
        assert!(status.success(), "{status:?}");
    });
    let records = burnstand_audit::read_records(setup.audit()).expect("audit");
    let teardown = records
        .iter()
        .find(|r| r.event == "teardown")
        .expect("a teardown record");
    assert!(
        teardown
            .get_str("reason")
            .is_some_and(|r| r.contains("shutting down")),
        "{teardown:?}"
    );
    assert!(burnstand_audit::verify(setup.audit())
        .expect("verify")
        .is_ok());
}

/// Writes `records` records to the master's audit log, then `torn`: the remains of an append a
/// crash or a full disk cut short.
fn torn_log(path: &Path, records: u64, torn: &[u8]) {
    use std::io::Write as _;
    let mut log = burnstand_audit::AuditLog::open(path).expect("a fresh log");
    for n in 1..=records {
        log.append(&burnstand_audit::Event::new("auth.ok").field("n", n))
            .expect("append");
    }
    drop(log);
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open the log")
        .write_all(torn)
        .expect("tear the log");
}

#[test]
fn a_torn_audit_tail_is_cut_at_start_and_the_cut_is_recorded() {
    let setup = Setup::new();
    let torn = b"{\"seq\":4,\"time\":\"2026-11-22T04:30:00.1";
    torn_log(&setup.audit(), 3, torn);
    let mut daemon = Daemon::start(&setup, "");
    let stderr = std::fs::read_to_string(setup.dir.path().join("master.log")).expect("log");
    assert!(
        stderr.contains("WARN") && stderr.contains("torn record") && stderr.contains("cut off"),
        "the operator is told about the repair: {stderr}"
    );
    runtime().block_on(async {
        // It serves: a user can authenticate and list.
        let mut alice = connect(&setup, &daemon, "alice").await;
        // (LISTX: its one station is offline, nothing listens there, but the type is listed.)
        assert_eq!(crate::client::list_x(&mut alice).await.types.len(), 1);
        assert_eq!(command(&mut alice, Cmd::Quit).await, Reply::Ok);
        assert_closed(&mut alice).await;
        daemon.terminate();
        assert!(daemon.wait().await.success());
    });
    let report = burnstand_audit::verify(setup.audit()).expect("verify");
    assert!(report.is_ok(), "the repaired log verifies: {report}");
    let records = burnstand_audit::read_records(setup.audit()).expect("records");
    let repair = &records[3];
    assert_eq!(repair.event, burnstand_audit::REPAIR_EVENT);
    assert_eq!(repair.get_u64("cut_bytes"), Some(torn.len() as u64));
    assert_eq!(repair.get_u64("line"), Some(4));
}

#[test]
fn a_log_broken_before_its_end_stops_the_master_with_words_not_function_names() {
    let setup = Setup::new();
    torn_log(&setup.audit(), 3, b"");
    let edited = std::fs::read_to_string(setup.audit())
        .expect("log")
        .replacen("auth.ok", "auth.OK", 1);
    std::fs::write(setup.audit(), &edited).expect("edit the log");
    let config = setup.write_config("master.toml", "", |t| t);
    let out = setup.command(&config).output().expect("run the master");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("record 1 (line 1) was edited")
            && stderr.contains("burnstand audit verify"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("::"),
        "no Rust paths for operators: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(setup.audit()).expect("log"),
        edited,
        "nothing is cut from a tampered log"
    );
}

#[test]
fn check_config_and_start_refuse_a_keytab_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let keytab = setup.keytab();
    std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = setup.write_config("master.toml", "", |t| t);
    let expected = format!("chmod 600 {}", keytab.display());

    let out = setup.check(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&expected) && stderr.contains("mode 0644"),
        "{stderr}"
    );

    let out = setup.command(&config).output().expect("run the master");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(out.stdout.is_empty(), "it never listened");
    assert!(!setup.audit().exists(), "nothing was opened");
}

/// `[audit]` with rotation and head export: the master rotates its log into segments, exports
/// its head after every append, goes on after a restart (also after a power cut zeroed the
/// largest append), and the whole directory verifies against the exported head.
#[test]
fn the_master_rotates_its_log_exports_its_head_and_goes_on_after_restarts() {
    use std::io::Write as _;
    let setup = Setup::new();
    let head = setup.dir.path().join("other-disk").join("master.head");
    std::fs::create_dir_all(head.parent().expect("dir")).expect("head dir");
    let config = setup.write_config("master.toml", "", |t| {
        format!(
            "{t}\n[audit]\nrotate_bytes = 4096\nhead_export = \"{}\"\n",
            head.display()
        )
    });
    let logins = |rounds: usize| {
        let mut daemon = Daemon::run(&setup, &config);
        runtime().block_on(async {
            for _ in 0..rounds {
                let mut alice = connect(&setup, &daemon, "alice").await;
                assert_eq!(command(&mut alice, Cmd::Quit).await, Reply::Ok);
                assert_closed(&mut alice).await;
            }
            daemon.terminate();
            assert!(daemon.wait().await.success());
        });
    };
    logins(20);
    logins(5);
    let segments = burnstand_audit::segments_of(&setup.audit()).expect("segments");
    assert!(!segments.is_empty(), "the log rotated");
    let exported = burnstand_audit::Head::read(&head).expect("head");
    let report = burnstand_audit::verify_log(&setup.audit(), Some(&exported)).expect("verify");
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.after_head, Some(0), "{report}");
    assert_eq!(report.first_seq, 1);

    // A power cut zeroed the largest append: cut at start, and the chain goes on.
    std::fs::OpenOptions::new()
        .append(true)
        .open(setup.audit())
        .expect("open the log")
        .write_all(&vec![0u8; burnstand_audit::MAX_RECORD_LEN + 1])
        .expect("tear the log");
    logins(1);
    let exported = burnstand_audit::Head::read(&head).expect("head");
    let report = burnstand_audit::verify_log(&setup.audit(), Some(&exported)).expect("verify");
    assert!(report.is_ok(), "{report}");
    let repairs = burnstand_audit::read_records(setup.audit())
        .expect("records")
        .into_iter()
        .filter(|r| r.event == burnstand_audit::REPAIR_EVENT)
        .count();
    assert_eq!(repairs, 1);

    // The newest segment and the live file removed: the chain alone verifies, the head not.
    std::fs::remove_file(setup.audit()).expect("remove the live file");
    let newest = burnstand_audit::segments_of(&setup.audit())
        .expect("segments")
        .pop()
        .expect("a segment");
    std::fs::remove_file(&newest.path).expect("remove the newest segment");
    assert!(burnstand_audit::verify_log(&setup.audit(), None)
        .expect("verify")
        .is_ok());
    assert!(
        !burnstand_audit::verify_log(&setup.audit(), Some(&exported))
            .expect("verify")
            .is_ok()
    );
    // Nor does the master start on it: it would overwrite the head that proves the removal.
    let out = setup.command(&config).output().expect("run the master");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("does not hold the head exported") && stderr.contains("move"),
        "{stderr}"
    );
    assert_eq!(
        burnstand_audit::Head::read(&head).expect("head"),
        exported,
        "the exported head is kept as evidence"
    );
}
