//! The lab a test runs in: a real MIT KDC (kdc-test), a catalog of real ISO images made with
//! xorriso, a file pseudo-drive, and a station — in this process (`server::serve`) or as the
//! real binary. The test itself plays the master: it authenticates with the master's keytab
//! (or as a user, to be refused), sends the identity block and then speaks the burner protocol
//! like a module would through the relay.
//!
//! Each test runs in its own process (nextest): the Kerberos environment is process-global.
//!
//! Built on the workspace's test lab (`burnstand-testlab`): the realm, ISO images, the daemon
//! binary, `/proc` look-ups and hang guards are shared with the other crates' tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use burnstand_audit::Record;
use burnstand_station::drive::Drive;
use burnstand_station::{server, Config, Station};
use burnstand_testlab::{apply_env, daemon_command, realm_builder, start_daemon};
use burnstand_wire::burner::{Event, Request};
use burnstand_wire::command::Identity;
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::gss::{initiator_credentials, password_credentials};
use burnstand_wire::io::{Session, Unauthenticated};
use burnstand_wire::link::{LinkOpen, StationHello};
use kdc_test::Realm;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use burnstand_testlab::{xorriso_children, MASTER, REALM, STATION};
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Generous bound on waiting for one event; only a hang trips it (no timing assertions).
pub const EVENT_WAIT: Duration = Duration::from_secs(120);
/// Bound on [`eventually`]: only a hang trips it.
pub const EVENTUALLY: Duration = Duration::from_secs(60);

pub struct Lab {
    pub realm: Realm,
    pub dir: tempfile::TempDir,
    pub images: PathBuf,
    pub state: PathBuf,
    pub audit_log: PathBuf,
    pub disc: PathBuf,
    /// The policy file the station reads (rewritten by [`Lab::entitle`]).
    pub policy: PathBuf,
    policy_state: std::sync::Mutex<PolicyState>,
}

#[derive(Default)]
struct PolicyState {
    header: String,
    /// image file name -> its `[[image]]` entry
    entries: std::collections::BTreeMap<String, String>,
}

impl Lab {
    /// A realm with the master, the station and users alice (allowed) and mallory; the
    /// process environment set so the station accepts with its keytab and the test initiates
    /// with the master's.
    pub fn new() -> Lab {
        let realm = realm_builder(REALM, &["alice", "mallory"])
            .start()
            .expect("start the test realm");
        apply_env(&realm, realm.keytab(STATION), realm.keytab(MASTER))
            .expect("apply the realm env");
        let dir = tempfile::tempdir().expect("temp dir");
        let images = dir.path().join("images");
        std::fs::create_dir(&images).expect("images dir");
        let lab = Lab {
            policy: dir.path().join("policy.toml"),
            policy_state: std::sync::Mutex::new(PolicyState {
                header: format!("realms = [\"{REALM}\"]\n"),
                ..PolicyState::default()
            }),
            state: dir.path().join("state"),
            audit_log: dir.path().join("audit/station.log"),
            disc: dir.path().join("drive/disc.img"),
            images,
            realm,
            dir,
        }
        .with_drive_dir();
        lab.write_policy();
        lab
    }

    /// Sets the policy's top-level lines (realms, allow_anonymous, `[groups]`).
    pub fn policy_header(&self, header: &str) {
        self.policy_state.lock().unwrap().header = header.to_owned();
        self.write_policy();
    }

    /// Entitles `lines` (allow_users = …, copies = …) to burn the image file `file` (in the
    /// images directory), by its SHA-256; replaces an earlier entry for the same file.
    pub fn entitle(&self, file: &str, lines: &str) {
        use sha2::Digest as _;
        let mut image = std::fs::File::open(self.images.join(file)).expect("open the image");
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut image, &mut hasher).expect("hash the image");
        let sha = hex::encode(hasher.finalize());
        let entry = format!("[[image]]\nsha256 = \"{sha}\"\nname = \"{file}\"\n{lines}\n");
        self.policy_state
            .lock()
            .unwrap()
            .entries
            .insert(file.to_owned(), entry);
        self.write_policy();
    }

    fn write_policy(&self) {
        let state = self.policy_state.lock().unwrap();
        let mut text = state.header.clone();
        text.push('\n');
        for entry in state.entries.values() {
            text.push_str(entry);
        }
        std::fs::write(&self.policy, text).expect("write the policy");
    }

    fn with_drive_dir(self) -> Lab {
        std::fs::create_dir_all(self.disc.parent().expect("disc dir")).expect("drive dir");
        self
    }

    pub fn principal(&self, name: &str) -> String {
        self.realm.principal(name)
    }

    /// The station configuration for this lab; `extra` lines go into the top level, `drive`
    /// lines into `[drive]`.
    pub fn config_text(&self, extra: &str, drive: &str) -> String {
        format!(
            r#"
listen = "127.0.0.1:0"
principal = "{station}"
keytab = "{keytab}"
trusted_masters = ["{master}"]
friendly_name = "Test station"
station_id = "test-station"
catalog = "{images}"
state_dir = "{state}"
audit_log = "{audit}"
policy = "{policy}"
{idle}
{extra}

[drive]
kind = "DVD"
file = "{disc}"
allow_file_drive = true
{drive}
"#,
            station = self.principal(STATION),
            keytab = self
                .realm
                .keytab(STATION)
                .expect("station keytab")
                .display(),
            master = self.principal(MASTER),
            images = self.images.display(),
            state = self.state.display(),
            audit = self.audit_log.display(),
            policy = self.policy.display(),
            disc = self.disc.display(),
            idle = if extra.contains("idle_report_secs") {
                ""
            } else {
                "idle_report_secs = 0"
            },
        )
    }

    pub fn config(&self, extra: &str, drive: &str) -> Config {
        Config::parse(&self.config_text(extra, drive), Path::new("test")).expect("test config")
    }

    /// Publishes `file` (already in the images dir) with a sidecar.
    pub fn publish(&self, file: &str, sidecar: &str) {
        std::fs::write(self.images.join(format!("{file}.toml")), sidecar).expect("write sidecar");
    }

    /// Builds a real ISO 9660 image of about `payload_bytes` (one file of pseudo-random
    /// bytes, optionally starting with `marker`) with xorriso, publishes it for everyone.
    pub fn make_iso(
        &self,
        file: &str,
        payload_bytes: usize,
        marker: &[u8],
        restricted: bool,
    ) -> PathBuf {
        let out = self.images.join(file);
        burnstand_testlab::make_iso(&out, payload_bytes, marker);
        self.publish(
            file,
            &format!("name = \"Image {file}\"\nrestricted = {restricted}\n"),
        );
        self.entitle(
            file,
            &format!("allow_users = [\"{}\"]", self.principal("alice")),
        );
        out
    }

    pub fn records(&self) -> Vec<Record> {
        burnstand_audit::read_records(&self.audit_log).expect("read the audit log")
    }

    pub fn records_named(&self, event: &str) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| r.event == event)
            .collect()
    }

    /// Starts a station in this process around `drive` (or the configured xorriso drive).
    pub async fn start(&self, config: Config, drive: Option<Arc<dyn Drive>>) -> Running {
        let station = match drive {
            Some(drive) => Station::with_drive(config, drive),
            None => Station::from_config(config),
        }
        .expect("build the station");
        self.serve(station).await
    }

    /// Serves an already built station in this process.
    pub async fn serve(&self, station: Arc<Station>) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server::serve(
            listener,
            Arc::clone(&station),
            shutdown.clone(),
        ));
        Running {
            addr,
            shutdown,
            task: Some(task),
        }
    }

    /// Starts the real `burnstand-station` binary with `config_text` and this realm's
    /// environment; returns once it printed its address.
    pub fn start_binary(&self, config_text: &str) -> ChildStation {
        let path = self.dir.path().join("station.toml");
        std::fs::write(&path, config_text).expect("write config");
        let mut cmd = daemon_command(
            Path::new(env!("CARGO_BIN_EXE_burnstand-station")),
            &self.realm,
        );
        cmd.arg("--config").arg(&path);
        start_daemon(
            cmd,
            &self.dir.path().join("station.stderr"),
            "listening on ",
        )
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: Option<JoinHandle<burnstand_station::Result<()>>>,
}

impl Running {
    /// Shuts the server down and waits for every session to end.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
    }
}

/// The real `burnstand-station` binary (`child`, `addr`, `status_kb`), stopped on drop.
pub type ChildStation = burnstand_testlab::Daemon;

/// The test's side of a station connection: the master (and, after the identity block, the
/// module behind it).
pub struct Module {
    pub session: Session<TcpStream>,
}

/// How a connection attempt ended.
pub enum Connected {
    Ok(Box<Module>),
    NotAvailable,
    Closed(burnstand_wire::IoError),
}

impl Connected {
    pub fn module(self) -> Module {
        match self {
            Connected::Ok(m) => *m,
            Connected::NotAvailable => panic!("station answered ERRNOTAVL"),
            Connected::Closed(e) => panic!("station closed the connection: {e}"),
        }
    }
}

/// Connects as the master (from the master's keytab) and sends alice's identity.
pub async fn connect_as_master(lab: &Lab, addr: SocketAddr) -> Connected {
    let cred = initiator_credentials(Some(&lab.principal(MASTER))).expect("master credentials");
    connect_with(lab, addr, cred, "alice").await
}

/// Connects with `cred`, and if the station says OK, sends the identity block for `user`.
pub async fn connect_with(
    lab: &Lab,
    addr: SocketAddr,
    cred: burnstand_wire::gss::Cred,
    user: &str,
) -> Connected {
    connect_with_identity(lab, addr, cred, identity_of(lab, user)).await
}

/// The identity block the master would send for `user`.
pub fn identity_of(lab: &Lab, user: &str) -> Identity {
    let principal = lab.principal(user);
    let exported = burnstand_station::principal::exported_name(&principal).expect("export name");
    Identity {
        user: principal,
        user_exported_name: exported,
        session_id: format!("test-session-{user}"),
        client_address: "192.0.2.7:40312".into(),
    }
}

/// Connects with `cred`, and if the station says OK, sends `identity`.
pub async fn connect_with_identity(
    lab: &Lab,
    addr: SocketAddr,
    cred: burnstand_wire::gss::Cred,
    identity: Identity,
) -> Connected {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut session = match Unauthenticated::new(tcp)
        .initiate(cred, &lab.principal(STATION), TIMEOUT)
        .await
    {
        Ok(s) => s,
        Err(e) => return Connected::Closed(e),
    };
    match session.recv::<StationHello>().await {
        Ok(StationHello::Ready { .. }) => {}
        Ok(StationHello::NotAvailable) => return Connected::NotAvailable,
        Err(e) => return Connected::Closed(e),
    }
    session
        .send(&LinkOpen::Session(identity))
        .await
        .expect("send identity");
    Connected::Ok(Box::new(Module { session }))
}

/// The test plays the master's control link: connects with the master's keytab, opens the
/// link and returns it with the station id the station presented.
pub async fn control_link(lab: &Lab, addr: SocketAddr) -> (Session<TcpStream>, String) {
    let cred = initiator_credentials(Some(&lab.principal(MASTER))).expect("master credentials");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut session = Unauthenticated::new(tcp)
        .initiate(cred, &lab.principal(STATION), TIMEOUT)
        .await
        .expect("authenticate");
    let station_id = match session.recv::<StationHello>().await.expect("hello") {
        StationHello::Ready { station_id, .. } => station_id,
        StationHello::NotAvailable => panic!("station answered ERRNOTAVL"),
    };
    session
        .send(&LinkOpen::Control)
        .await
        .expect("open the control link");
    (session, station_id)
}

/// A user principal's password credentials (to act as an untrusted initiator).
pub fn user_credentials(lab: &Lab, user: &str) -> burnstand_wire::gss::Cred {
    let pw = lab.realm.password(user).expect("user password");
    password_credentials(&lab.principal(user), pw).expect("password credentials")
}

impl Module {
    pub async fn send(&mut self, request: &Request) {
        self.session.send(request).await.expect("send request");
    }

    /// BURN one copy of `image` and wait for its end, which must be a passed VERIFY; returns
    /// every event until then.
    pub async fn burn_verified(&mut self, image: &str) -> Vec<Event> {
        self.send(&Request::Burn {
            image_id: image.into(),
            copies: 1,
        })
        .await;
        let events = self
            .until(|e| matches!(e, Event::Verify(_) | Event::Error(_)))
            .await;
        assert!(
            matches!(events.last(), Some(Event::Verify(v)) if v.passed),
            "{events:?}"
        );
        events
    }

    pub async fn recv_raw(&mut self) -> Vec<u8> {
        tokio::time::timeout(EVENT_WAIT, self.session.recv_bytes())
            .await
            .expect("an event in time")
            .expect("receive an event")
    }

    pub async fn recv(&mut self) -> Event {
        from_bytes(&self.recv_raw().await).expect("a valid burner event")
    }

    /// Sends `request` and returns the next event.
    pub async fn ask(&mut self, request: &Request) -> Event {
        self.send(request).await;
        self.recv().await
    }

    /// Receives events until one satisfies `last`; returns them all.
    pub async fn until(&mut self, last: impl Fn(&Event) -> bool) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let e = self.recv().await;
            let done = last(&e);
            events.push(e);
            if done {
                return events;
            }
        }
    }
}

/// Polls `cond` until it holds; panics only if it never does within [`EVENTUALLY`] (a hang,
/// not a timing assertion).
pub async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    burnstand_testlab::eventually(EVENTUALLY, what, cond).await
}
