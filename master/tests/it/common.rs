//! The lab every test runs in: a real MIT KDC (kdc-test), test stations, and the master's
//! `server::run` on 127.0.0.1:0, all in this test's own process (nextest: one per test).
//!
//! Kerberos is selected by the process environment, so the setup sets it once, before the
//! tokio runtime starts: KRB5_KTNAME is a keytab holding both the master's and the stations'
//! keys (each acceptor names its principal, so sharing the file is safe), KRB5_CLIENT_KTNAME the
//! master's (its initiator credentials towards stations). Users authenticate with in-memory
//! password credentials, so several users can act in one process.
//!
//! Built on the workspace's test lab (`burnstand-testlab`): the realm, keytabs, the daemon
//! binary, audit waits and the small disk are shared with the other crates' tests.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use burnstand_audit::{OpenOptions, Record, SharedAuditLog, TestOnlyFailure};
use burnstand_master::Config;
use burnstand_testlab::{daemon_command, realm_builder, start_daemon, within, Daemon};
use kdc_test::Realm;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::station::{StationMode, TestStation};

pub use burnstand_testlab::{events, merged_keytab, SmallDisk, MASTER, REALM, STATION};
/// Users of the realm: alice, bob and dave are in the `lab` group, carol is in no access
/// list.
pub const USERS: [(&str, &str); 4] = [
    ("alice", "alice-pw"),
    ("bob", "bob-pw"),
    ("carol", "carol-pw"),
    ("dave", "dave-pw"),
];

/// The status page's HTTP service principal (without the realm), in every lab's realm and
/// acceptor keytab.
pub const WEB: &str = "HTTP/localhost";

/// Upper bound on any single wait in a test: a hang guard, never a performance assertion.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the test if it hangs.
pub async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    within(HANG_GUARD, what, future).await
}

/// One station of the lab.
#[derive(Debug, Clone)]
pub struct StationSpec {
    pub name: &'static str,
    pub drive: &'static str,
    pub mode: StationMode,
    /// `None`: the `lab` group.
    pub allow: Option<&'static str>,
}

impl StationSpec {
    pub fn new(name: &'static str, drive: &'static str) -> Self {
        StationSpec {
            name,
            drive,
            mode: StationMode::Accept,
            allow: None,
        }
    }

    pub fn mode(mut self, mode: StationMode) -> Self {
        self.mode = mode;
        self
    }

    /// A TOML array literal for `allow`, e.g. `["alice@BURNSTAND.TEST"]`.
    pub fn allow(mut self, allow: &'static str) -> Self {
        self.allow = Some(allow);
        self
    }
}

/// What the lab should look like.
#[derive(Debug, Clone)]
pub struct LabSpec {
    pub stations: Vec<StationSpec>,
    /// Extra lines for `[limits]`.
    pub limits: String,
    /// Extra top-level keys (`admin = […]`) then sections (`[farm]`, `[queue]`).
    pub extra: String,
    pub ticket_lifetime: Option<Duration>,
    pub audit_failure: Option<TestOnlyFailure>,
    /// The policy file's text; by default every user of the realm may burn one (made-up)
    /// image without limit, so BIND is never refused by policy.
    pub policy: Option<String>,
    /// Records appended to the audit log before the master starts (earlier burns).
    pub seed: Vec<burnstand_audit::Event>,
    /// Put the audit log on a tmpfs of this many KiB (a disk that can fill up).
    pub small_disk_kib: Option<u32>,
    /// Run the real `burnstand-master` binary instead of the library in this process
    /// (incompatible with `audit_failure`, which is injected in process).
    pub binary: bool,
}

impl Default for LabSpec {
    fn default() -> Self {
        LabSpec {
            stations: vec![StationSpec::new("dvd-1", "DVD")],
            limits: String::new(),
            extra: String::new(),
            ticket_lifetime: None,
            audit_failure: None,
            policy: None,
            seed: Vec::new(),
            small_disk_kib: None,
            binary: false,
        }
    }
}

/// The default test policy: everyone of `REALM` may burn an image that exists nowhere.
pub fn open_policy() -> String {
    format!(
        "realms = [\"{REALM}\"]\n[[image]]\nsha256 = \"{}\"\nname = \"anything\"\nallow_users = [\"*@{REALM}\"]\n",
        "0".repeat(64)
    )
}

impl LabSpec {
    pub fn stations(mut self, stations: Vec<StationSpec>) -> Self {
        self.stations = stations;
        self
    }

    pub fn extra(mut self, extra: &str) -> Self {
        self.extra = extra.to_owned();
        self
    }

    pub fn limits(mut self, limits: &str) -> Self {
        self.limits = limits.to_owned();
        self
    }

    pub fn policy(mut self, policy: &str) -> Self {
        self.policy = Some(policy.to_owned());
        self
    }

    /// The real daemon binary, as a separate process.
    pub fn binary(mut self) -> Self {
        self.binary = true;
        self
    }

    pub fn small_disk(mut self, kib: u32) -> Self {
        self.small_disk_kib = Some(kib);
        self
    }

    pub fn seed(mut self, records: Vec<burnstand_audit::Event>) -> Self {
        self.seed = records;
        self
    }
}

/// A running lab, owned by the test body.
///
/// The realm and the directory are shared with `lab_test`, which keeps them until the body is
/// done: an `async move` body captures only the fields it uses, so a body that never touches
/// `lab.realm` would otherwise drop it (and stop the KDC) at once.
pub struct Lab {
    pub realm: Arc<Realm>,
    /// Holds the config's files (audit log, merged keytab).
    pub _dir: Arc<tempfile::TempDir>,
    pub master_addr: SocketAddr,
    pub audit_path: PathBuf,
    /// The small disk the audit log is on, with [`LabSpec::small_disk`].
    pub disk: Option<SmallDisk>,
    pub stations: Vec<TestStation>,
    pub master: MasterProcess,
    /// The status page's address, when the config has a `[web]` section (in process only).
    pub web_addr: Option<SocketAddr>,
}

/// The master under test: the library in this process, or the real binary.
pub enum MasterProcess {
    InProcess {
        shutdown: CancellationToken,
        server: JoinHandle<burnstand_master::Result<()>>,
    },
    /// Stopped on drop, if [`Lab::stop`] did not.
    Binary(Daemon),
}

impl Lab {
    /// Stops the master (drain), waits for it, and returns the audit records after checking
    /// that the whole chain verifies.
    pub async fn stop(mut self) -> Vec<Record> {
        match &mut self.master {
            MasterProcess::InProcess { shutdown, server } => {
                shutdown.cancel();
                guard("master shutdown", server)
                    .await
                    .expect("server task")
                    .expect("server result");
            }
            MasterProcess::Binary(daemon) => {
                daemon.terminate();
                let status = daemon.child.wait().expect("wait for the master");
                assert!(status.success(), "{status:?}");
            }
        }
        let report = burnstand_audit::verify(&self.audit_path).expect("verify the audit log");
        assert!(report.is_ok(), "{report:?}");
        let records = burnstand_audit::read_records(&self.audit_path).expect("audit log readable");
        assert_eq!(report.records, records.len() as u64);
        records
    }

    pub fn principal(&self, user: &str) -> String {
        self.realm.principal(user)
    }
}

/// Starts a realm with the users, the master and station services.
pub fn start_realm(lifetime: Option<Duration>) -> Realm {
    let users = USERS.map(|(user, _)| user);
    let mut builder = realm_builder(REALM, &users).service(WEB);
    if let Some(lifetime) = lifetime {
        // GSSAPI reports an acceptor's context lifetime as the ticket's end plus the allowed
        // clock skew; keep the skew small so the test does not wait for minutes.
        builder = builder
            .ticket_lifetime(lifetime)
            .clock_skew(Duration::from_secs(1));
    }
    builder
        .start()
        .unwrap_or_else(|e| panic!("starting the test realm: {e}"))
}

/// The config text for `spec`, with the stations' real addresses. The policy file is
/// `policy.toml` next to the audit log; it is written with [`open_policy`] if missing.
pub fn config_text(
    realm: &Realm,
    keytab: &Path,
    audit: &Path,
    stations: &[(StationSpec, SocketAddr)],
    limits: &str,
    extra: &str,
) -> String {
    let policy = audit.with_file_name("policy.toml");
    if !policy.exists() {
        std::fs::write(&policy, open_policy()).expect("write the test policy");
    }
    // The copy ledger stays off the audit log's (possibly tiny, tmpfs) filesystem.
    let state = keytab.with_file_name("master-state");
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\nprincipal = \"{}\"\nkeytab = \"{}\"\naudit_log = \"{}\"\nstate_dir = \"{}\"\npolicy = \"{}\"\n{extra}\n\n[limits]\n{limits}\n\n\
         [groups]\nlab = [\"{}\", \"{}\", \"{}\"]\n",
        realm.principal(MASTER),
        keytab.display(),
        audit.display(),
        state.display(),
        policy.display(),
        realm.principal("alice"),
        realm.principal("bob"),
        realm.principal("dave"),
    );
    for (spec, addr) in stations {
        text.push_str(&format!(
            "\n[[station]]\nname = \"{}\"\ndrive = \"{}\"\naddress = \"{addr}\"\nprincipal = \"{}\"\n\
             services = [\"burner\"]\nallow = {}\n",
            spec.name,
            spec.drive,
            realm.principal(STATION),
            spec.allow.unwrap_or("[\"group:lab\"]"),
        ));
    }
    text
}

/// Builds the lab for `spec` and runs `body` in a fresh multi-threaded runtime.
pub fn lab_test<F, Fut>(spec: LabSpec, body: F)
where
    F: FnOnce(Lab) -> Fut,
    Fut: Future<Output = ()>,
{
    let realm = Arc::new(start_realm(spec.ticket_lifetime));
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let merged = dir.path().join("acceptors.keytab");
    merged_keytab(&realm, &merged, &[MASTER, STATION, WEB]);
    let master_keytab = realm.keytab(MASTER).expect("master keytab").to_owned();
    // Before any runtime thread exists: the acceptors' keytab (master and stations), the
    // master's as the initiator's.
    burnstand_testlab::apply_env(&realm, Some(&merged), Some(&master_keytab))
        .expect("realm environment");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    let (keep_realm, keep_dir) = (Arc::clone(&realm), Arc::clone(&dir));
    runtime.block_on(async move {
        let mut stations = Vec::new();
        let mut placed = Vec::new();
        for station in &spec.stations {
            let test_station = TestStation::start(
                &realm.principal(STATION),
                &realm.principal(MASTER),
                station.mode,
            )
            .await;
            placed.push((station.clone(), test_station.addr));
            stations.push(test_station);
        }
        let disk = spec
            .small_disk_kib
            .map(|kib| SmallDisk::mount(&dir.path().join("disk"), kib));
        let audit_path = match &disk {
            Some(disk) => disk.path.join("master-audit.jsonl"),
            None => dir.path().join("master-audit.jsonl"),
        };
        if let Some(policy) = &spec.policy {
            std::fs::write(dir.path().join("policy.toml"), policy).expect("write the policy");
        }
        let text = config_text(
            &realm,
            &master_keytab,
            &audit_path,
            &placed,
            &spec.limits,
            &spec.extra,
        );
        let config =
            Config::from_toml(&text).unwrap_or_else(|e| panic!("test config: {e}\n{text}"));
        let mut options = OpenOptions::new();
        if let Some(failure) = spec.audit_failure {
            options = options.test_only_failure(failure);
        }
        let mut log = options.open(&audit_path).expect("open audit log");
        for record in &spec.seed {
            log.append(record).expect("seed the audit log");
        }
        let mut web_addr = None;
        let (master, master_addr) = if spec.binary {
            drop(log);
            start_binary(&realm, dir.path(), &text)
        } else {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind master");
            let master_addr = listener.local_addr().expect("master addr");
            let web = match &config.web {
                Some(_) => {
                    let web = TcpListener::bind("127.0.0.1:0").await.expect("bind web");
                    web_addr = Some(web.local_addr().expect("web addr"));
                    Some(web)
                }
                None => None,
            };
            let shutdown = CancellationToken::new();
            let server = tokio::spawn(burnstand_master::run_with_web(
                listener,
                web,
                config,
                SharedAuditLog::new(log),
                shutdown.clone(),
            ));
            (MasterProcess::InProcess { shutdown, server }, master_addr)
        };
        let lab = Lab {
            realm,
            _dir: dir,
            master_addr,
            audit_path,
            disk,
            stations,
            master,
            web_addr,
        };
        body(lab).await;
    });
    drop(runtime);
    drop((keep_realm, keep_dir));
}

/// Starts the `burnstand-master` binary with the config `text` and the realm's environment
/// (it reads its keytab from the config); returns once it printed its address.
fn start_binary(realm: &Realm, dir: &Path, text: &str) -> (MasterProcess, SocketAddr) {
    let config = dir.join("master.toml");
    std::fs::write(&config, text).expect("write the config");
    let mut cmd = daemon_command(Path::new(env!("CARGO_BIN_EXE_burnstand-master")), realm);
    cmd.arg("--config").arg(&config);
    let daemon = start_daemon(
        cmd,
        &dir.join("master.log"),
        "burnstand-master listening on ",
    );
    let addr = daemon.addr;
    (MasterProcess::Binary(daemon), addr)
}

/// Keeps reading the audit log until a record satisfies `pred` (records are appended by
/// other tasks; this is how a test waits for one without sleeping).
pub async fn wait_for_record(path: &Path, pred: impl Fn(&Record) -> bool) -> Vec<Record> {
    burnstand_testlab::wait_for_record(HANG_GUARD, path, pred).await
}
