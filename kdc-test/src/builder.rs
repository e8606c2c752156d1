//! [`RealmBuilder`]: what a realm should contain, and the start-up sequence that makes it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::admin::{self, kadmin, random_secret, tool};
use crate::config::{self, Paths, MARKER, OWNED_ENTRIES};
use crate::error::{Error, Result};
use crate::kdc::{self, Kdc, StartFailure};
use crate::pkinit;
use crate::realm::{Realm, RealmDir};

/// How many ports are tried when another process keeps grabbing the chosen one.
const MAX_PORT_ATTEMPTS: u32 = 5;

/// Describes a throwaway realm; [`RealmBuilder::start`] creates it and starts its KDC.
///
/// ```no_run
/// # fn main() -> Result<(), kdc_test::Error> {
/// let realm = kdc_test::RealmBuilder::new("BURNSTAND.TEST")
///     .user("alice", "alice-pw")
///     .service("burnstand/localhost")
///     .start()?;
/// realm.kinit("alice")?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RealmBuilder {
    name: String,
    users: Vec<(String, String)>,
    services: Vec<String>,
    lifetime: Option<Duration>,
    clock_skew: Option<Duration>,
    anonymous: bool,
    enctypes: Vec<String>,
    dir: Option<PathBuf>,
    first_port: Option<u16>,
    start_timeout: Duration,
}

impl RealmBuilder {
    /// A realm called `name` (upper case by Kerberos convention, e.g. `BURNSTAND.TEST`).
    pub fn new(name: impl Into<String>) -> Self {
        RealmBuilder {
            name: name.into(),
            users: Vec::new(),
            services: Vec::new(),
            lifetime: None,
            clock_skew: None,
            anonymous: false,
            enctypes: Vec::new(),
            dir: None,
            first_port: None,
            start_timeout: Duration::from_secs(10),
        }
    }

    /// Adds a user principal `name@REALM` with a password; [`Realm::kinit`] uses it later.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }

    /// Adds a service principal (without realm, e.g. `burnstand/localhost`) with a random key,
    /// exported to its own keytab ([`Realm::keytab`]).
    pub fn service(mut self, principal: impl Into<String>) -> Self {
        self.services.push(principal.into());
        self
    }

    /// Caps every ticket at `lifetime` (whole seconds, at least 1): the principals' and krbtgt's
    /// max_life, kdc.conf's max_life and krb5.conf's ticket_lifetime, so a `kinit` ticket really
    /// ends that soon. Expiry tests use e.g. 30 s.
    ///
    /// MIT's KDC and acceptors still accept a ticket up to `clockskew` (default 300 s) past its
    /// end, which would hide expiry for five minutes; so a realm with a ticket lifetime also gets
    /// `clockskew = 5` unless [`clock_skew`](Self::clock_skew) says otherwise (every process
    /// of the realm shares this machine's clock).
    pub fn ticket_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }

    /// Sets krb5.conf's `clockskew` (whole seconds, at least 1): how far past its end a ticket
    /// is still accepted, and the replay-cache window.
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = Some(skew);
        self
    }

    /// Enables the anonymous principal (`WELLKNOWN/ANONYMOUS`) through anonymous PKINIT: the
    /// realm makes a CA and a KDC certificate with openssl. Needs krb5-pkinit and openssl;
    /// without them [`start`](Self::start) fails with [`Error::Unsupported`] / [`Error::MissingTool`].
    pub fn anonymous(mut self, enabled: bool) -> Self {
        self.anonymous = enabled;
        self
    }

    /// Limits the realm to these krb5 enctypes (names such as `aes128-cts-hmac-sha256-128`):
    /// kdc.conf's `supported_enctypes` (the keys of krbtgt, users and services) and
    /// krb5.conf's `permitted_enctypes` (tickets, session keys and GSSAPI subkeys). Without
    /// it MIT's defaults apply (aes256- and aes128-cts-hmac-sha1-96 keys). Tests that need
    /// one particular enctype for a context use it.
    pub fn enctypes<S: Into<String>>(mut self, enctypes: impl IntoIterator<Item = S>) -> Self {
        self.enctypes = enctypes.into_iter().map(Into::into).collect();
        self
    }

    /// Creates the realm in `dir` (created if missing) instead of a temporary directory, and
    /// leaves the directory on disk when the realm is dropped (only the KDC is stopped). Used by
    /// the `kdc-test up` CLI. A directory that held an earlier kdc-test realm is cleaned first
    /// (only the entries kdc-test creates); one with unrelated files of the same names is refused.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// Tries `port` first instead of a kernel-chosen free port (mainly for tests of the port
    /// verification: if `port` is held by someone else, another port is chosen).
    pub fn first_port(mut self, port: u16) -> Self {
        self.first_port = Some(port);
        self
    }

    /// How long to wait for the KDC to listen (default 10 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Creates the database, principals and keytabs, then starts the KDC on a verified port.
    pub fn start(self) -> Result<Realm> {
        config::check_realm(&self.name)?;
        for (user, pw) in &self.users {
            config::check_principal(user)?;
            config::check_password(pw)?;
        }
        for service in &self.services {
            config::check_principal(service)?;
        }
        for enctype in &self.enctypes {
            config::check_enctype(enctype)?;
        }
        // Fail early with the install hint rather than half-way through.
        for t in ["kdb5_util", "kadmin.local", "krb5kdc", "kinit"] {
            admin::find_tool(t)?;
        }
        if self.anonymous {
            admin::find_tool("openssl")?;
            pkinit::check_plugin()?;
        }

        let dir = match &self.dir {
            Some(d) => RealmDir::Kept(prepare_user_dir(d)?),
            None => RealmDir::Temp(
                tempfile::Builder::new()
                    .prefix("kdc-test-")
                    .tempdir()
                    .map_err(|e| Error::io("creating a temporary realm directory", e))?,
            ),
        };
        let paths = Paths::new(dir.path());
        let mut realm = Realm {
            name: self.name.clone(),
            paths,
            port: 0,
            kdc: None,
            users: BTreeMap::new(),
            services: BTreeMap::new(),
            generations: BTreeMap::new(),
            lifetime: self.lifetime,
            clock_skew: self
                .clock_skew
                .or(self.lifetime.map(|_| Duration::from_secs(5))),
            anonymous: self.anonymous,
            enctypes: self.enctypes.clone(),
            attempts: 0,
            dir,
        };
        self.populate(&mut realm)?;
        self.start_kdc(&mut realm)?;
        Ok(realm)
    }

    /// Files, database and principals; the KDC is not running yet.
    fn populate(&self, realm: &mut Realm) -> Result<()> {
        let paths = realm.paths.clone();
        config::write(&paths.dir.join(MARKER), "created by kdc-test\n")?;
        for d in [&paths.rcache_dir, &paths.keytab_dir] {
            std::fs::create_dir_all(d).map_err(|e| Error::io_path("creating", d, e))?;
        }
        // kadmin.local wants an ACL file even though kadmind is never started.
        config::write(&paths.acl, "")?;
        config::write(&paths.openssl_conf, &config::openssl_conf(&self.name))?;
        if self.anonymous {
            pkinit::make_certificates(&paths)?;
        }
        realm.port = match self.first_port {
            Some(p) => p,
            None => kdc::free_port()?,
        };
        realm.write_configs()?;

        let mut create = tool(&paths, "kdb5_util")?;
        create
            .args(["create", "-s", "-r", &self.name, "-P"])
            .arg(random_secret()?);
        admin::run(
            create,
            &format!("kdb5_util create -s -r {}", self.name),
            None,
        )?;

        if let Some(l) = self.lifetime {
            let life = config::seconds(l);
            let q = format!(
                "modprinc -maxlife {life} -maxrenewlife {life} krbtgt/{0}@{0}",
                self.name
            );
            kadmin(&paths, &self.name, &q, &q, "modified.")?;
        }
        if self.anonymous {
            let q = "addprinc -randkey WELLKNOWN/ANONYMOUS";
            kadmin(&paths, &self.name, q, q, "created.")?;
        }
        for (user, pw) in &self.users {
            realm.add_user(user, pw)?;
        }
        for service in &self.services {
            realm.add_service(service)?;
        }
        Ok(())
    }

    /// Starts krb5kdc, moving to a fresh port when the chosen one turns out not to be ours.
    fn start_kdc(&self, realm: &mut Realm) -> Result<()> {
        let mut last_pid = 0;
        for attempt in 1..=MAX_PORT_ATTEMPTS {
            realm.attempts = attempt;
            if attempt > 1 {
                realm.port = kdc::free_port()?;
                realm.write_configs()?;
            }
            match Kdc::start(&realm.paths, &realm.name, realm.port, self.start_timeout) {
                Ok(kdc) => {
                    tracing::info!(realm = %realm.name, port = realm.port, pid = kdc.pid(), "KDC up");
                    realm.kdc = Some(kdc);
                    return Ok(());
                }
                Err(StartFailure::PortNotOurs { pid }) => last_pid = pid,
                Err(StartFailure::Fatal(e)) => return Err(e),
            }
        }
        Err(Error::PortNotOurs {
            port: realm.port,
            pid: last_pid,
            attempts: MAX_PORT_ATTEMPTS,
        })
    }
}

/// Creates a caller-chosen realm directory, or cleans one left by an earlier kdc-test run.
fn prepare_user_dir(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io_path("creating", dir, e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::io_path("resolving", dir, e))?;
    let paths = Paths::new(&dir);
    if dir.join(MARKER).exists() {
        kdc::stop_stale(&paths);
        for name in OWNED_ENTRIES {
            let p = dir.join(name);
            let res = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            match res {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io_path("removing", &p, e)),
            }
        }
    } else if let Some(clash) = OWNED_ENTRIES.iter().find(|n| dir.join(n).exists()) {
        return Err(Error::io_path(
            "refusing to use",
            &dir,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "it holds `{clash}` but was not created by kdc-test; pick an empty directory"
                ),
            ),
        ));
    }
    Ok(dir)
}
