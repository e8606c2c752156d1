//! The bench lab: a real MIT realm (kdc-test), the real `burnstand-master` binary, and an
//! in-process **sink station** that authenticates as the station principal like a real one
//! (OK, then the identity block) and counts the bytes relayed to it. On the master's control
//! link it behaves like a real station: it answers SYNC and PING, and after WATCH reports its
//! state (idle, or reserved while a session link is open) at once, on every change and as the
//! heartbeat, so the master never quarantines it.
//!
//! Built on the workspace's test lab (`burnstand-testlab`), like the integration tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use burnstand_testlab::{apply_env, daemon_command, realm_builder, try_start_daemon, Daemon};
use burnstand_wire::burner::Sha256;
use burnstand_wire::command::{Command as Cmd, Greeting, Reply, ServiceType};
use burnstand_wire::farm::{Activity, StationState};
use burnstand_wire::gss::{acceptor_credentials, password_credentials, Cred};
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::link::{LinkOpen, MasterMessage, StationHello, StationMessage};
use kdc_test::Realm;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::Error;

pub const REALM: &str = "BENCH.TEST";
pub use burnstand_testlab::{MASTER, STATION};
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-pw";
/// Users for concurrent clients: QUIT ends every connection of its principal, so each
/// concurrent client of the sessions benchmark is a user of its own.
pub const CLIENT_USERS: usize = 64;
/// Prefix of the farm benchmarks' users (`benchq0`, `benchq1`, …): waiting users of (e),
/// busy users of (f).
pub const QUEUE_USER: &str = "benchq";
/// Upper bound on one handshake in the bench (a hang guard).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A realm whose keytabs this process uses: the station's to accept (sink station and the
/// in-process baselines); with `queue_users` users for the farm benchmarks ([`queue_cred`]).
pub fn realm(queue_users: usize) -> Result<Realm, Error> {
    let mut builder = realm_builder(REALM, &[])
        .user(USER, PASSWORD)
        .service(crate::web::WEB_SERVICE);
    for n in 0..CLIENT_USERS {
        builder = builder.user(format!("{USER}{n}"), PASSWORD);
    }
    for n in 0..queue_users {
        builder = builder.user(format!("{QUEUE_USER}{n}"), PASSWORD);
    }
    let realm = builder.start()?;
    let keytab = realm.keytab(STATION).ok_or("no station keytab")?;
    apply_env(&realm, Some(keytab), None)?;
    Ok(realm)
}

/// The user's credentials (held in memory; tickets are cached in them after the first use).
pub fn user_cred(realm: &Realm) -> Result<Cred, Error> {
    Ok(password_credentials(&realm.principal(USER), PASSWORD)?)
}

/// Credentials of client user `n` (< [`CLIENT_USERS`]).
pub fn client_cred(realm: &Realm, n: usize) -> Result<Cred, Error> {
    Ok(password_credentials(
        &realm.principal(&format!("{USER}{n}")),
        PASSWORD,
    )?)
}

/// Credentials of farm user `n` (< the `queue_users` the realm was made with).
pub fn queue_cred(realm: &Realm, n: usize) -> Result<Cred, Error> {
    Ok(password_credentials(
        &realm.principal(&format!("{QUEUE_USER}{n}")),
        PASSWORD,
    )?)
}

/// The station's acceptor credentials.
pub fn station_cred(realm: &Realm) -> Result<Cred, Error> {
    Ok(acceptor_credentials(&realm.principal(STATION))?)
}

/// A running sink station; `received` counts plaintext bytes relayed to it.
pub struct Sink {
    pub addr: SocketAddr,
    pub received: Arc<AtomicU64>,
}

/// Starts the sink station on 127.0.0.1. Its station id (in the hello) is `bench-sink-PORT`,
/// so many sinks can serve one master.
pub async fn sink(realm: &Realm) -> Result<Sink, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let principal = realm.principal(STATION);
    let counter = Arc::clone(&received);
    let id = format!("bench-sink-{}", addr.port());
    // Session links open now: what the control link reports (idle or reserved).
    let (open_tx, open_rx) = watch::channel(0u32);
    let open_tx = Arc::new(open_tx);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(cred) = acceptor_credentials(&principal) else {
                return;
            };
            let counter = Arc::clone(&counter);
            let (id, open_tx, open_rx) = (id.clone(), Arc::clone(&open_tx), open_rx.clone());
            tokio::spawn(async move {
                let Ok(mut s) = Unauthenticated::new(tcp).accept(cred, TIMEOUT).await else {
                    return;
                };
                if s.send(&StationHello::ready(&id)).await.is_err() {
                    return;
                }
                match s.recv::<LinkOpen>().await {
                    Ok(LinkOpen::Session(_)) => {
                        open_tx.send_modify(|n| *n += 1);
                        while let Ok(bytes) = s.recv_bytes().await {
                            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        }
                        open_tx.send_modify(|n| *n = n.saturating_sub(1));
                    }
                    Ok(LinkOpen::Control) => control(s, open_rx).await,
                    Ok(LinkOpen::Push(_)) | Err(_) => {}
                }
            });
        }
    });
    Ok(Sink { addr, received })
}

/// The sink's side of the master's control link: the sink burns nothing, so it answers the
/// sync (no receipts) and the pings, and after WATCH sends its state at once, whenever the
/// number of open sessions changes, and as the heartbeat, until the master closes the link.
async fn control(mut s: Session<TcpStream>, mut open: watch::Receiver<u32>) {
    let state = |open: u32| StationState {
        activity: if open > 0 {
            Activity::Reserved
        } else {
            Activity::Idle
        },
        ..StationState::default()
    };
    let mut heartbeat: Option<tokio::time::Interval> = None;
    loop {
        let watched = heartbeat.is_some();
        let beat = async {
            match heartbeat.as_mut() {
                Some(interval) => {
                    interval.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        let answer = tokio::select! {
            message = s.recv::<MasterMessage>() => match message {
                Ok(MasterMessage::Sync { .. }) => StationMessage::Synced {
                    head_seq: 0,
                    head_hash: Sha256([0; 32]),
                },
                Ok(MasterMessage::Ping) => StationMessage::Pong,
                Ok(MasterMessage::Watch { heartbeat_ms }) => {
                    // The first tick is immediate: the state goes out at once.
                    let mut interval =
                        tokio::time::interval(Duration::from_millis(u64::from(heartbeat_ms)));
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    heartbeat = Some(interval);
                    continue;
                }
                Ok(_) => continue,
                Err(_) => return,
            },
            changed = open.changed(), if watched => {
                if changed.is_err() {
                    return;
                }
                if let Some(interval) = heartbeat.as_mut() {
                    interval.reset();
                }
                StationMessage::State(state(*open.borrow_and_update()))
            }
            () = beat => StationMessage::State(state(*open.borrow_and_update())),
        };
        if s.send(&answer).await.is_err() {
            return;
        }
    }
}

/// The master daemon, stopped on drop (SIGTERM and a bounded wait, so a profiler wrapping
/// the master can write its output, then SIGKILL).
pub struct Master {
    daemon: Daemon,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Master {
    /// The last lines of the master's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self._dir.path().join("master.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    /// CPU time the master has used (user + system), from /proc/PID/stat.
    pub fn cpu_seconds(&self) -> f64 {
        let text = std::fs::read_to_string(format!("/proc/{}/stat", self.daemon.child.id()))
            .unwrap_or_default();
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // USER_HZ is 100 on Linux.
        (ticks(11) + ticks(12)) / 100.0
    }

    /// A line of /proc/PID/status in kB (VmRSS, VmHWM); 0 if it cannot be read.
    pub fn status_kb(&self, field: &str) -> u64 {
        burnstand_testlab::status_kb(self.daemon.child.id(), field).unwrap_or(0)
    }
}

/// The workspace binary `name` next to this one (build it first: `cargo build --release
/// --workspace`).
pub fn sibling(name: &str) -> Result<PathBuf, Error> {
    Ok(burnstand_testlab::binary(name)?)
}

/// A policy letting everyone of the realm burn the image with `sha256` without limit.
pub fn open_policy(sha256: &str) -> String {
    format!(
        "realms = [\"{REALM}\"]\n[[image]]\nsha256 = \"{sha256}\"\nname = \"bench\"\nallow_users = [\"*@{REALM}\"]\n"
    )
}

/// Starts `burnstand-master` with one station (`station`) that everyone of the realm may use.
pub fn master(realm: &Realm, binary: &Path, station: SocketAddr) -> Result<Master, Error> {
    master_with_policy(realm, binary, station, &open_policy(&"0".repeat(64)))
}

/// [`master`] with this policy text.
pub fn master_with_policy(
    realm: &Realm,
    binary: &Path,
    station: SocketAddr,
    policy_text: &str,
) -> Result<Master, Error> {
    master_with(realm, binary, &[station], policy_text, "")
}

/// The line that keeps a daemon on MIT's wrap/unwrap when the bench runs with `--mit` (the
/// process-wide fast-path default is then off), so a run measures the path it says.
pub fn fast_path_line() -> &'static str {
    if burnstand_wire::gss::fast_path_default() {
        ""
    } else {
        "fast_path = false\n"
    }
}

/// The `burnstand` client as the bench user runs it: only PATH and the realm's environment,
/// the user's ticket cache `ccache`, this master, and the same protection path as the daemons
/// (`BURNSTAND_FAST_PATH`, see `--mit`).
pub fn client(
    realm: &Realm,
    master: &Master,
    ccache: &Path,
) -> Result<std::process::Command, Error> {
    let fast_path = if burnstand_wire::gss::fast_path_default() {
        "1"
    } else {
        "0"
    };
    let mut cmd = std::process::Command::new(sibling("burnstand")?);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(realm.env())
        .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
        .env("BURNSTAND_FAST_PATH", fast_path)
        .env("BURNSTAND_MASTER", master.addr.to_string())
        .env("BURNSTAND_MASTER_PRINCIPAL", realm.principal(MASTER));
    Ok(cmd)
}

/// `burnstand-master` with these stations (one DVD burner type, named `st-0`, `st-1`, … in
/// this order, which everyone of the realm may use), this policy text, and `extra` appended
/// to its configuration (e.g. a `[farm]` section).
pub fn master_with(
    realm: &Realm,
    binary: &Path,
    stations: &[SocketAddr],
    policy_text: &str,
    extra: &str,
) -> Result<Master, Error> {
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, policy_text)?;
    let config = dir.path().join("master.toml");
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\nprincipal = \"{}\"\nkeytab = \"{}\"\naudit_log = \"{}\"\npolicy = \"{}\"\n{}{extra}\n\n\
         [limits]\nmax_connections = 30000\nmax_unauthenticated = 1024\nmax_handshakes_per_address = 1000\nmax_connections_per_user = 30000\n\
         login_budget_per_principal = 1000000\nlogin_budget_per_address = 1000000\n\
         idle_timeout = \"1h\"\nhandshake_timeout = \"60s\"\ndrain_deadline = \"2s\"\n",
        realm.principal(MASTER),
        realm.keytab(MASTER).ok_or("no master keytab")?.display(),
        dir.path().join("audit.jsonl").display(),
        policy.display(),
        fast_path_line(),
    );
    for (n, station) in stations.iter().enumerate() {
        text.push_str(&format!(
            "\n[[station]]\nname = \"st-{n}\"\ndrive = \"DVD\"\naddress = \"{station}\"\nprincipal = \"{}\"\n\
             services = [\"burner\"]\nallow = [\"*@{REALM}\"]\n",
            realm.principal(STATION),
        ));
    }
    std::fs::write(&config, text)?;
    let mut cmd = daemon_command(binary, realm);
    cmd.arg("--config").arg(&config).env("RUST_LOG", "warn");
    let daemon = try_start_daemon(
        cmd,
        &dir.path().join("master.log"),
        "burnstand-master listening on ",
    )?;
    Ok(Master {
        addr: daemon.addr,
        daemon,
        _dir: dir,
    })
}

/// An authenticated connection to the master (principal `master`), greeting checked.
pub async fn connect(
    master: &str,
    cred: Cred,
    addr: SocketAddr,
) -> Result<Session<TcpStream>, Error> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut s = Unauthenticated::new(tcp)
        .initiate(cred, master, TIMEOUT)
        .await?;
    s.recv::<Greeting>().await?.check()?;
    Ok(s)
}

/// A container (BIND) and a module in pass-through to the station (SERV).
pub async fn pass_through(
    realm: &Realm,
    cred: &Cred,
    addr: SocketAddr,
) -> Result<(Session<TcpStream>, Session<TcpStream>), Error> {
    let master = realm.principal(MASTER);
    let mut container = connect(&master, cred.clone(), addr).await?;
    container.send(&Cmd::List).await?;
    let types: Vec<burnstand_wire::command::StationType> = container.recv().await?;
    let first = types.into_iter().next().ok_or("no station type listed")?;
    container.send(&Cmd::Bind(first)).await?;
    let reply: Reply = container.recv().await?;
    if reply != Reply::Ok {
        return Err(format!("BIND answered {reply:?}").into());
    }
    let mut module = connect(&master, cred.clone(), addr).await?;
    module
        .send(&Cmd::Serv(ServiceType {
            id: ServiceType::BURNER,
            name: "burner".into(),
            description: String::new(),
        }))
        .await?;
    let reply: Reply = module.recv().await?;
    if reply != Reply::Ok {
        return Err(format!("SERV answered {reply:?}").into());
    }
    Ok((container, module))
}
