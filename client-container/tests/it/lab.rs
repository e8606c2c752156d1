//! The lab an end-to-end test runs in, all real and all on 127.0.0.1: an MIT KDC (kdc-test),
//! two (or [`Policy::stations`]) `burnstand-station` daemons on file pseudo-drives burning with real xorriso, one
//! `burnstand-master`, and the `burnstand` binary run as each user with their own ccache.
//!
//! The daemons are the workspace's binaries next to this test's `burnstand` (cargo builds
//! every package's binaries for `cargo nextest run --workspace`; run `cargo build --workspace`
//! first for `-p burnstand`). They run with the realm's environment only, like scripts/demo.sh.
//! Every wait is bounded by [`HANG_GUARD`], a hang guard and never a timing assertion.
//!
//! Built on the workspace's test lab (`burnstand-testlab`): the realm, ISO images, starting
//! the daemons and the hang guards are shared with the other crates' tests.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use burnstand_audit::Record;
use burnstand_testlab::{daemon_command, digest, realm_builder, start_daemon, Daemon};
use kdc_test::{Realm, RealmBuilder};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub use burnstand_testlab::{read_records, MASTER, REALM, STATION};
/// alice, bob, carol and dave may use every station; mallory is on no access list.
pub const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "mallory"];
/// Upper bound on any single wait: only a hang trips it.
pub const HANG_GUARD: Duration = Duration::from_secs(120);

/// A disc image in the lab's catalog.
pub struct Image {
    pub sha256: String,
    pub md5: String,
    pub size: u64,
}

/// A running lab; dropping it stops every daemon.
pub struct Lab {
    pub realm: Realm,
    pub dir: tempfile::TempDir,
    pub master_addr: SocketAddr,
    pub master_audit: PathBuf,
    pub station_audits: Vec<PathBuf>,
    /// Each station's catalog directory (all the same one unless
    /// [`Policy::separate_catalogs`]).
    pub catalogs: Vec<PathBuf>,
    /// `sample`: 2 MiB, quick to burn. `big`: 12 MiB, about 9 s at speed 1: long enough to
    /// act while it burns.
    pub sample: Image,
    pub big: Image,
    /// The stations first (station `n` at `n - 1`), then the master.
    daemons: Vec<Daemon>,
    /// How many stations run ([`Policy::stations`]); the master is `daemons[stations]`.
    stations: usize,
    /// With [`Policy::foreign`]: `FOREIGN.TEST`, trusted by the lab's realm, with user `eve`,
    /// and a krb5.conf that knows both realms.
    pub foreign: Option<(Realm, PathBuf)>,
}

/// The foreign realm of [`Policy::foreign`].
pub const FOREIGN: &str = "FOREIGN.TEST";

/// A workspace binary next to the `burnstand` binary under test.
fn sibling(name: &str) -> PathBuf {
    burnstand_testlab::binary(name).unwrap_or_else(|e| {
        panic!(
            "{e}: the end-to-end tests run the real daemons; run `cargo build --workspace` first"
        )
    })
}

/// The policy a lab runs with: which users may burn the two images, and their quota.
pub struct Policy {
    /// Users entitled to both images.
    pub users: Vec<&'static str>,
    /// Copies of `sample` per user; `None` is unlimited.
    pub sample_copies: Option<u32>,
    /// Copies of `big` per user; `None` is unlimited.
    pub big_copies: Option<u32>,
    /// The realm offers anonymous PKINIT (`anonymous.ccache` holds an anonymous ticket).
    pub anonymous: bool,
    /// A trusted foreign realm with user eve (`eve.ccache`), see [`Lab::foreign`].
    pub foreign: bool,
    /// Extra top-level policy lines (realms, allow_anonymous).
    pub header: String,
    /// Extra principals (or `*@REALM`) entitled to both images.
    pub extra_users: Vec<String>,
    /// Both stations are configured with this `station_id` (a mistake the master must catch);
    /// `None`: `test-station-1` and `test-station-2`.
    pub shared_station_id: Option<&'static str>,
    /// Lines of the master's `[limits]` table.
    pub master_limits: String,
    /// Extra top-level keys (`admin = […]`) then sections (`[farm]`, `[queue]`) of the
    /// master's config.
    pub master_extra: String,
    /// How many stations the lab runs (`dvd-1` …, all of one type); 2 by default.
    pub stations: usize,
    /// Each station gets its own catalog (a copy of the shared one) instead of sharing one
    /// directory: image push writes to each station's catalog.
    pub separate_catalogs: bool,
    /// Extra lines of every station's configuration (tables such as `[push]`).
    pub station_extra: String,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            users: vec!["alice", "bob", "carol", "dave"],
            sample_copies: None,
            big_copies: None,
            anonymous: false,
            foreign: false,
            header: format!("realms = [\"{REALM}\"]"),
            extra_users: Vec::new(),
            shared_station_id: None,
            master_limits: String::new(),
            master_extra: String::new(),
            stations: 2,
            separate_catalogs: false,
            station_extra: String::new(),
        }
    }
}

impl Policy {
    fn text(&self, sample: &Image, big: &Image) -> String {
        let users: Vec<String> = self
            .users
            .iter()
            .map(|u| format!("\"{u}@{REALM}\""))
            .chain(self.extra_users.iter().map(|u| format!("\"{u}\"")))
            .collect();
        let users = users.join(", ");
        let copies = self
            .sample_copies
            .map(|n| format!("copies = {n}\n"))
            .unwrap_or_default();
        let big_copies = self
            .big_copies
            .map(|n| format!("copies = {n}\n"))
            .unwrap_or_default();
        format!(
            "{}\n\n[[image]]\nsha256 = \"{}\"\nname = \"sample\"\nallow_users = [{users}]\n{copies}\n[[image]]\nsha256 = \"{}\"\nname = \"big\"\nallow_users = [{users}]\n{big_copies}",
            self.header, sample.sha256, big.sha256
        )
    }
}

/// Builds an ISO 9660 image of a `payload` bytes file with xorriso, published as `id`.
fn make_iso(images: &Path, id: &'static str, payload: usize) -> Image {
    let file = images.join(format!("{id}.iso"));
    burnstand_testlab::make_iso(&file, payload, b"");
    std::fs::write(
        images.join(format!("{id}.iso.toml")),
        format!("name = \"Test image {id}\"\nid = \"{id}\"\nrestricted = true\n"),
    )
    .unwrap();
    Image {
        sha256: digest("sha256sum", &file),
        md5: digest("md5sum", &file),
        size: std::fs::metadata(&file).unwrap().len(),
    }
}

impl Lab {
    /// Realm, catalog, two stations (burning at `speed = 1`), master.
    pub fn start() -> Lab {
        Lab::start_with_policy(&Policy::default())
    }

    /// [`Lab::start`] with a policy of this shape (written to `policy.toml`, read by the
    /// master and every station), and as many stations as it says.
    pub fn start_with_policy(policy: &Policy) -> Lab {
        let station_bin = sibling("burnstand-station");
        let master_bin = sibling("burnstand-master");
        let realm = realm_builder(REALM, &USERS)
            .anonymous(policy.anonymous)
            .start()
            .expect("start the test realm");
        let dir = tempfile::tempdir().expect("temp dir");
        let images = dir.path().join("images");
        std::fs::create_dir_all(&images).unwrap();
        let sample = make_iso(&images, "sample", 2 << 20);
        let big = make_iso(&images, "big", 12 << 20);
        let policy_path = dir.path().join("policy.toml");
        std::fs::write(&policy_path, policy.text(&sample, &big)).unwrap();

        let mut daemons = Vec::new();
        let mut station_addrs = Vec::new();
        let mut station_audits = Vec::new();
        let mut catalogs = Vec::new();
        for n in 1..=policy.stations {
            let sdir = dir.path().join(format!("station-{n}"));
            std::fs::create_dir_all(&sdir).unwrap();
            let images = if policy.separate_catalogs {
                let own = sdir.join("images");
                std::fs::create_dir_all(&own).unwrap();
                for entry in std::fs::read_dir(&images).unwrap() {
                    let entry = entry.unwrap();
                    std::fs::copy(entry.path(), own.join(entry.file_name())).unwrap();
                }
                own
            } else {
                images.clone()
            };
            catalogs.push(images.clone());
            let audit = sdir.join("audit.jsonl");
            let config = format!(
                r#"listen = "127.0.0.1:0"
principal = "{STATION}@{REALM}"
keytab = "{keytab}"
trusted_masters = ["{MASTER}@{REALM}"]
friendly_name = "Test station {n} (DVD)"
station_id = "{station_id}"
catalog = "{images}"
state_dir = "{state}"
audit_log = "{audit}"
policy = "{policy}"

[drive]
kind = "DVD"
file = "{disc}"
allow_file_drive = true
speed = 1
{extra}
"#,
                extra = policy.station_extra,
                keytab = realm.keytab(STATION).expect("station keytab").display(),
                station_id = policy
                    .shared_station_id
                    .map_or_else(|| format!("test-station-{n}"), str::to_owned),
                images = images.display(),
                state = sdir.join("state").display(),
                audit = audit.display(),
                policy = policy_path.display(),
                disc = sdir.join("disc.img").display(),
            );
            let path = sdir.join("station.toml");
            std::fs::write(&path, config).unwrap();
            let mut cmd = daemon_command(&station_bin, &realm);
            cmd.arg("--config").arg(&path);
            let daemon = start_daemon(cmd, &sdir.join("station.log"), "listening on ");
            let addr = daemon.addr;
            // A restart (Lab::restart_station) listens on the same address.
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replace("127.0.0.1:0", &addr.to_string())).unwrap();
            daemons.push(daemon);
            station_addrs.push(addr);
            station_audits.push(audit);
        }

        let master_audit = dir.path().join("master-audit.jsonl");
        let group: Vec<String> = ["alice", "bob", "carol", "dave"]
            .iter()
            .map(|u| format!("\"{u}@{REALM}\""))
            .collect();
        let mut config = format!(
            "listen = \"127.0.0.1:0\"\nprincipal = \"{MASTER}@{REALM}\"\nkeytab = \"{}\"\naudit_log = \"{}\"\npolicy = \"{}\"\n{}\n\n[groups]\nlab = [{}]\n",
            realm.keytab(MASTER).expect("master keytab").display(),
            master_audit.display(),
            policy_path.display(),
            policy.master_extra,
            group.join(", "),
        );
        if !policy.master_limits.is_empty() {
            config.push_str(&format!("\n[limits]\n{}\n", policy.master_limits));
        }
        let allow: Vec<String> = std::iter::once("\"group:lab\"".to_owned())
            .chain(policy.extra_users.iter().map(|u| format!("\"{u}\"")))
            .collect();
        let allow = allow.join(", ");
        for (n, addr) in station_addrs.iter().enumerate() {
            config.push_str(&format!(
                "\n[[station]]\nname = \"dvd-{}\"\ndrive = \"DVD\"\naddress = \"{addr}\"\nprincipal = \"{STATION}@{REALM}\"\nservices = [\"burner\"]\nallow = [{allow}]\nlocation = \"room 2.1{}\"\n",
                n + 1,
                n + 1
            ));
        }
        let path = dir.path().join("master.toml");
        std::fs::write(&path, &config).unwrap();
        let mut cmd = daemon_command(&master_bin, &realm);
        cmd.arg("--config").arg(&path);
        let daemon = start_daemon(
            cmd,
            &dir.path().join("master.log"),
            "burnstand-master listening on ",
        );
        let master_addr = daemon.addr;
        // A restart (Lab::restart_master) listens on the same address.
        std::fs::write(
            &path,
            config.replace("127.0.0.1:0", &master_addr.to_string()),
        )
        .unwrap();
        daemons.push(daemon);

        let mut lab = Lab {
            realm,
            dir,
            master_addr,
            master_audit,
            station_audits,
            catalogs,
            sample,
            big,
            daemons,
            stations: policy.stations,
            foreign: None,
        };
        for user in USERS {
            lab.realm
                .kinit_into(user, &lab.ccache(user))
                .expect("kinit a test user");
        }
        if policy.anonymous {
            lab.realm
                .kinit_anonymous(&lab.ccache("anonymous"))
                .expect("anonymous kinit");
        }
        if policy.foreign {
            let foreign = RealmBuilder::new(FOREIGN)
                .user("eve", "eve-pw")
                .start()
                .expect("start the foreign realm");
            lab.realm.trust_from(&foreign).expect("cross-realm trust");
            let conf = lab.dir.path().join("both-realms.conf");
            kdc_test::combined_krb5_conf(&[&lab.realm, &foreign], &conf).expect("krb5.conf");
            foreign
                .kinit_into("eve", &lab.ccache("eve"))
                .expect("kinit eve");
            lab.foreign = Some((foreign, conf));
        }
        lab
    }

    /// Starts station `n` again (after [`Lab::kill_station`]) on its old address.
    pub fn restart_station(&mut self, n: usize) {
        let sdir = self.dir.path().join(format!("station-{n}"));
        let mut cmd = daemon_command(&sibling("burnstand-station"), &self.realm);
        cmd.arg("--config").arg(sdir.join("station.toml"));
        let daemon = start_daemon(cmd, &sdir.join("station-2.log"), "listening on ");
        self.daemons[n - 1] = daemon;
    }

    /// Stops the master with SIGTERM (its orderly shutdown) and waits for it to exit.
    pub fn stop_master(&mut self) {
        let daemon = &mut self.daemons[self.stations];
        kill(daemon.pid(), Signal::SIGTERM).expect("signal the master");
        let status = wait_child(&mut daemon.child, "the stopping master");
        assert!(status.success(), "the master exited with {status}");
    }

    /// Starts the master again (after [`Lab::stop_master`]) with the same configuration, on
    /// its old address; returns once it listens.
    pub fn restart_master(&mut self) {
        let mut cmd = daemon_command(&sibling("burnstand-master"), &self.realm);
        cmd.arg("--config").arg(self.dir.path().join("master.toml"));
        let daemon = start_daemon(
            cmd,
            &self.dir.path().join("master-2.log"),
            "burnstand-master listening on ",
        );
        assert_eq!(daemon.addr, self.master_addr);
        self.daemons[self.stations] = daemon;
    }

    /// SIGHUP to the master (what `systemctl reload` sends): it reads its configuration
    /// (`master.toml` in the lab's directory) and the policy (`policy.toml`) again.
    pub fn reload_master(&self) {
        kill(self.daemons[self.stations].pid(), Signal::SIGHUP).expect("signal the master");
    }

    /// SIGHUP to station `n` (from 1): it reads its policy again.
    pub fn reload_station(&self, n: usize) {
        kill(self.daemons[n - 1].pid(), Signal::SIGHUP).expect("signal the station");
    }

    /// SIGSTOPs (`true`) or SIGCONTs station `n`'s daemon: a hung host, its TCP still up.
    pub fn freeze_station(&self, n: usize, frozen: bool) {
        let signal = if frozen {
            Signal::SIGSTOP
        } else {
            Signal::SIGCONT
        };
        kill(self.daemons[n - 1].pid(), signal).expect("signal the station");
    }

    /// SIGKILLs station `n` (from 1), as a crash or power loss would.
    pub fn kill_station(&mut self, n: usize) {
        let daemon = &mut self.daemons[n - 1];
        let _ = daemon.child.kill();
        let _ = daemon.child.wait();
    }

    /// The user's own credential cache.
    pub fn ccache(&self, user: &str) -> PathBuf {
        self.dir.path().join(format!("{user}.ccache"))
    }

    pub fn principal(&self, user: &str) -> String {
        self.realm.principal(user)
    }

    /// `burnstand ARGS` as `user`: the realm's environment, the user's ccache, the master's
    /// address and principal from the environment (as a user's shell would have them).
    pub fn client(&self, user: &str, args: &[&str]) -> Command {
        let mut cmd = daemon_command(Path::new(env!("CARGO_BIN_EXE_burnstand")), &self.realm);
        let mut ccache = OsString::from("FILE:");
        ccache.push(self.ccache(user));
        cmd.env("KRB5CCNAME", ccache)
            .env("BURNSTAND_RUNTIME_DIR", self.dir.path().join("runtime"))
            .env("BURNSTAND_MASTER", self.master_addr.to_string())
            .env("BURNSTAND_MASTER_PRINCIPAL", format!("{MASTER}@{REALM}"))
            .args(args)
            .stdin(Stdio::null());
        if let (Some((_, conf)), "eve") = (&self.foreign, user) {
            cmd.env("KRB5_CONFIG", conf);
        }
        cmd
    }

    /// Runs `burnstand ARGS` as `user` to its end.
    pub fn run(&self, user: &str, args: &[&str]) -> Output {
        let child = self
            .client(user, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start burnstand");
        wait_output(child, &format!("burnstand {}", args.join(" ")))
    }

    /// Starts `burnstand ARGS` as `user` in the background; its output goes to files.
    pub fn spawn(&self, user: &str, args: &[&str]) -> Running {
        let name = format!("{user}-{}", args.join("-")).replace('/', "_");
        let stdout = self.dir.path().join(format!("{name}.out"));
        let stderr = self.dir.path().join(format!("{name}.err"));
        let child = self
            .client(user, args)
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start burnstand");
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// Every record of the station logs (a log not written yet is empty).
    pub fn station_records(&self) -> Vec<Record> {
        self.station_audits
            .iter()
            .flat_map(|path| read_records(path))
            .collect()
    }

    /// The records of the station log that recorded `user`'s burn.
    pub fn station_log_of(&self, user: &str) -> Option<PathBuf> {
        let principal = self.principal(user);
        self.station_audits
            .iter()
            .find(|path| {
                read_records(path).iter().any(|r| {
                    r.event == "burn.start" && r.get_str("user") == Some(principal.as_str())
                })
            })
            .cloned()
    }

    pub fn master_records(&self) -> Vec<Record> {
        read_records(&self.master_audit)
    }

    /// Waits until some station record matches.
    pub fn wait_for_station_record(&self, what: &str, f: impl Fn(&Record) -> bool) -> Record {
        wait_for(what, || self.station_records().into_iter().find(|r| f(r)))
    }

    /// Waits until some master record matches.
    pub fn wait_for_master_record(&self, what: &str, f: impl Fn(&Record) -> bool) -> Record {
        wait_for(what, || self.master_records().into_iter().find(|r| f(r)))
    }

    /// Waits until `user`'s burn has started at a station (its `burn.start` is on disk).
    pub fn wait_for_burn_start(&self, user: &str) -> Record {
        let principal = self.principal(user);
        self.wait_for_station_record(&format!("{user}'s burn.start"), |r| {
            r.event == "burn.start" && r.get_str("user") == Some(principal.as_str())
        })
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        let stations = (1..=self.stations).flat_map(|n| {
            [
                format!("station-{n}/station.log"),
                format!("station-{n}/station-2.log"),
            ]
        });
        let master = ["master.log".to_owned(), "master-2.log".to_owned()];
        for name in stations.chain(master) {
            let log = std::fs::read_to_string(self.dir.path().join(&name)).unwrap_or_default();
            text.push_str(&format!("--- {name}\n{log}\n"));
        }
        text
    }
}

impl Drop for Lab {
    /// SIGTERM to every daemon at once, then each one's bounded wait (as it drops).
    fn drop(&mut self) {
        for daemon in &self.daemons {
            daemon.terminate();
        }
        self.daemons.clear();
    }
}

/// A `burnstand` running in the background.
pub struct Running {
    pub child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    pub fn signal(&self, signal: Signal) {
        kill(pid(&self.child), signal).expect("signal burnstand");
    }

    /// Waits for the exit (bounded) and returns the status with stdout and stderr.
    pub fn wait(mut self) -> (ExitStatus, String, String) {
        let status = wait_child(&mut self.child, "a background burnstand");
        (
            status,
            std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn pid(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pid fits"))
}

fn wait_child(child: &mut Child, what: &str) -> ExitStatus {
    burnstand_testlab::wait_child(child, HANG_GUARD, what)
}

/// Collects a child's piped output with a hang guard.
pub fn wait_output(child: Child, what: &str) -> Output {
    burnstand_testlab::wait_output(child, HANG_GUARD, what)
}

/// Polls `f` until it returns something (bounded by [`HANG_GUARD`]).
pub fn wait_for<T>(what: &str, f: impl Fn() -> Option<T>) -> T {
    burnstand_testlab::wait_for(HANG_GUARD, what, f)
}

/// stdout or stderr as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
