//! The bench lab: a real MIT realm (kdc-test), the real `burnstand-master` binary, and an
//! in-process **sink station** that authenticates as the station principal like a real one
//! (OK, then the identity block) and counts the bytes relayed to it.
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
use burnstand_wire::gss::{acceptor_credentials, password_credentials, Cred};
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::link::{LinkOpen, MasterMessage, StationHello, StationMessage};
use kdc_test::Realm;
use tokio::net::{TcpListener, TcpStream};

use crate::Error;

pub const REALM: &str = "BENCH.TEST";
pub use burnstand_testlab::{MASTER, STATION};
pub const USER: &str = "bench";
pub const PASSWORD: &str = "bench-pw";
/// Users for concurrent clients: QUIT ends every connection of its principal, so each
/// concurrent client of the sessions benchmark is a user of its own.
pub const CLIENT_USERS: usize = 64;
/// Upper bound on one handshake in the bench (a hang guard).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A realm whose keytabs this process uses: the station's to accept (sink station and the
/// in-process baselines).
pub fn realm() -> Result<Realm, Error> {
    let mut builder = realm_builder(REALM, &[]).user(USER, PASSWORD);
    for n in 0..CLIENT_USERS {
        builder = builder.user(format!("{USER}{n}"), PASSWORD);
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

/// The station's acceptor credentials.
pub fn station_cred(realm: &Realm) -> Result<Cred, Error> {
    Ok(acceptor_credentials(&realm.principal(STATION))?)
}

/// A running sink station; `received` counts plaintext bytes relayed to it.
pub struct Sink {
    pub addr: SocketAddr,
    pub received: Arc<AtomicU64>,
}

/// Starts the sink station on 127.0.0.1.
pub async fn sink(realm: &Realm) -> Result<Sink, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let principal = realm.principal(STATION);
    let counter = Arc::clone(&received);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(cred) = acceptor_credentials(&principal) else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(mut s) = Unauthenticated::new(tcp).accept(cred, TIMEOUT).await else {
                    return;
                };
                if s.send(&StationHello::ready("bench-sink")).await.is_err() {
                    return;
                }
                match s.recv::<LinkOpen>().await {
                    Ok(LinkOpen::Session(_)) => {
                        while let Ok(bytes) = s.recv_bytes().await {
                            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        }
                    }
                    // The master's control link: the sink burns nothing, so it only answers
                    // the sync and the pings until the master closes it.
                    Ok(LinkOpen::Control) => loop {
                        let answer = match s.recv::<MasterMessage>().await {
                            Ok(MasterMessage::Sync { .. }) => StationMessage::Synced {
                                head_seq: 0,
                                head_hash: Sha256([0; 32]),
                            },
                            Ok(MasterMessage::Ping) => StationMessage::Pong,
                            Ok(_) => continue,
                            Err(_) => return,
                        };
                        if s.send(&answer).await.is_err() {
                            return;
                        }
                    },
                    Err(_) => {}
                }
            });
        }
    });
    Ok(Sink { addr, received })
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
    let dir = tempfile::tempdir()?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, policy_text)?;
    let config = dir.path().join("master.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nprincipal = \"{}\"\nkeytab = \"{}\"\naudit_log = \"{}\"\npolicy = \"{}\"\n\n\
             [limits]\nmax_connections = 30000\nmax_unauthenticated = 1024\nmax_handshakes_per_address = 1000\nmax_connections_per_user = 30000\n\
             login_budget_per_principal = 1000000\nlogin_budget_per_address = 1000000\n\
             idle_timeout = \"1h\"\nhandshake_timeout = \"60s\"\n\n\
             [[station]]\nname = \"sink\"\ndrive = \"DVD\"\naddress = \"{station}\"\nprincipal = \"{}\"\n\
             services = [\"burner\"]\nallow = [\"*@{REALM}\"]\n",
            realm.principal(MASTER),
            realm.keytab(MASTER).ok_or("no master keytab")?.display(),
            dir.path().join("audit.jsonl").display(),
            policy.display(),
            realm.principal(STATION),
        ),
    )?;
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
