//! [`Realm`]: a running throwaway realm, its files, environment and principals.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::admin::{self, kadmin, random_secret};
use crate::config::{self, Paths, RealmEntry, FOREIGN_VARS};
use crate::error::{Error, Result};
use crate::kdc::Kdc;

/// Where a realm lives: a temporary directory removed on drop, or a directory the caller chose
/// (or [`Realm::keep_dir`] turned into one) that stays.
#[derive(Debug)]
pub(crate) enum RealmDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl RealmDir {
    pub(crate) fn path(&self) -> &Path {
        match self {
            RealmDir::Temp(t) => t.path(),
            RealmDir::Kept(p) => p,
        }
    }
}

/// A running MIT Kerberos realm on 127.0.0.1 with its own directory and `krb5kdc` child.
///
/// Dropping it stops the KDC (SIGTERM, then SIGKILL), reaps it, and removes the directory
/// unless it was caller-chosen or kept with [`Realm::keep_dir`]. If the process dies without
/// dropping it (SIGKILL, a test runner's timeout, a `static` that is never dropped) the KDC still
/// gets SIGTERM from its parent-death signal, but the temporary directory stays behind.
///
/// `Realm` is `Send + Sync`; mutating methods (adding principals, rotating keys) take `&mut self`.
pub struct Realm {
    pub(crate) name: String,
    pub(crate) paths: Paths,
    pub(crate) port: u16,
    pub(crate) kdc: Option<Kdc>,
    /// user name (without realm) → password
    pub(crate) users: BTreeMap<String, String>,
    /// service principal (without realm) → current keytab
    pub(crate) services: BTreeMap<String, PathBuf>,
    /// service principal → how many times its key was rotated (names the keytab files)
    pub(crate) generations: BTreeMap<String, u32>,
    pub(crate) lifetime: Option<Duration>,
    pub(crate) clock_skew: Option<Duration>,
    pub(crate) anonymous: bool,
    /// krb5 enctype names this realm is limited to (empty: MIT's defaults).
    pub(crate) enctypes: Vec<String>,
    pub(crate) attempts: u32,
    /// Declared last so that it is dropped after `Drop::drop` has stopped the KDC.
    pub(crate) dir: RealmDir,
}

impl std::fmt::Debug for Realm {
    /// Without passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Realm")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("dir", &self.paths.dir)
            .field("kdc_pid", &self.kdc_pid())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("services", &self.services)
            .finish()
    }
}

impl Realm {
    /// The realm name, e.g. `BURNSTAND.TEST`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The KDC's TCP port on 127.0.0.1 (verified to be held by our KDC at start-up).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The realm's directory (configs, database, keytabs, ccache, replay cache, logs).
    pub fn dir(&self) -> &Path {
        &self.paths.dir
    }

    /// The client configuration of this realm (`KRB5_CONFIG`).
    pub fn krb5_conf(&self) -> &Path {
        &self.paths.krb5_conf
    }

    /// The KDC configuration of this realm (`KRB5_KDC_PROFILE`).
    pub fn kdc_conf(&self) -> &Path {
        &self.paths.kdc_conf
    }

    /// The default credential cache (`KRB5CCNAME` is `FILE:` + this path).
    pub fn ccache_path(&self) -> &Path {
        &self.paths.ccache
    }

    /// The KDC's log file (handy when a test fails on a KDC error).
    pub fn kdc_log(&self) -> &Path {
        &self.paths.kdc_log
    }

    /// `name@REALM`.
    pub fn principal(&self, name: &str) -> String {
        format!("{name}@{}", self.name)
    }

    /// The password stored for `user`.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// The current keytab of `service` (the newest one after [`Realm::rotate_service_key`]).
    pub fn keytab(&self, service: &str) -> Option<&Path> {
        self.services.get(service).map(PathBuf::as_path)
    }

    /// The KDC's process id (for tests that check it is gone after drop).
    pub fn kdc_pid(&self) -> Option<u32> {
        self.kdc.as_ref().map(Kdc::pid)
    }

    /// How many ports were tried before a KDC held its port (1 unless someone raced us).
    pub fn start_attempts(&self) -> u32 {
        self.attempts
    }

    /// Whether the KDC child is still running (false once it has exited or been stopped).
    pub fn kdc_running(&self) -> bool {
        self.kdc.as_ref().is_some_and(Kdc::running)
    }

    /// Environment that points krb5 (and OpenSSL) at this realm's files only:
    /// `KRB5_CONFIG`, `KRB5_KDC_PROFILE`, `KRB5CCNAME` (the default ccache file),
    /// `KRB5RCACHEDIR` (replay cache on, in the realm dir), `OPENSSL_CONF` (libcrypto, loaded by
    /// the PKINIT plugin, would otherwise read /etc/ssl), and `KRB5_KTNAME` /
    /// `KRB5_CLIENT_KTNAME` set to a keytab that does not exist, so that a process with no
    /// service chosen never falls back to /etc/krb5.keytab. Use [`Realm::service_env`] for an
    /// acceptor.
    pub fn env(&self) -> Vec<(String, OsString)> {
        self.paths.env()
    }

    /// [`Realm::env`] with `KRB5_KTNAME` and `KRB5_CLIENT_KTNAME` pointing at `service`'s keytab.
    pub fn service_env(&self, service: &str) -> Result<Vec<(String, OsString)>> {
        let keytab = self
            .keytab(service)
            .ok_or_else(|| Error::UnknownService(service.to_string()))?;
        let kt = admin::file_ccache(keytab);
        Ok(self
            .env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "KRB5_KTNAME" | "KRB5_CLIENT_KTNAME" => (k, kt.clone()),
                _ => (k, v),
            })
            .collect())
    }

    /// A command for `program` with [`Realm::env`] applied and krb5 variables that could
    /// change behaviour (`KRB5RCACHETYPE`, …) removed. Bare names are also looked up in the sbin
    /// directories, so `realm.command("kadmin.local")` works for non-root users.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        admin::command(&self.paths, program.as_ref())
    }

    /// Sets [`Realm::env`] (or [`Realm::service_env`] for `Some(service)`) in the current
    /// process, for code that reads the environment itself (libgssapi).
    ///
    /// The environment is process-global: tests that call this must run one test per process,
    /// as `cargo nextest` does; under plain `cargo test` threads would see each other's realm.
    pub fn apply_to_process(&self, service: Option<&str>) -> Result<()> {
        let env = match service {
            Some(s) => self.service_env(s)?,
            None => self.env(),
        };
        for var in FOREIGN_VARS {
            std::env::remove_var(var);
        }
        for (k, v) in env {
            std::env::set_var(k, v);
        }
        Ok(())
    }

    /// `kinit user` into the default ccache with the password given at creation.
    pub fn kinit(&self, user: &str) -> Result<()> {
        self.kinit_into(user, &self.paths.ccache)
    }

    /// `kinit user` into the ccache file `ccache`.
    pub fn kinit_into(&self, user: &str, ccache: &Path) -> Result<()> {
        let pw = self
            .password(user)
            .ok_or_else(|| Error::UnknownUser(user.to_string()))?;
        admin::kinit(&self.paths, &self.principal(user), pw, ccache)
    }

    /// `kinit user` with an explicit password (for wrong-password tests).
    pub fn kinit_with_password(&self, user: &str, password: &str, ccache: &Path) -> Result<()> {
        admin::kinit(&self.paths, &self.principal(user), password, ccache)
    }

    /// Anonymous PKINIT (`kinit -n @REALM`) into `ccache`: the client becomes
    /// `WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS`. Only for realms built with `.anonymous(true)`.
    pub fn kinit_anonymous(&self, ccache: &Path) -> Result<()> {
        if !self.anonymous {
            return Err(Error::Unsupported(format!(
                "realm {} was built without .anonymous(true)",
                self.name
            )));
        }
        let mut cmd = admin::tool(&self.paths, "kinit")?;
        cmd.arg("-n")
            .arg("-c")
            .arg(admin::file_ccache(ccache))
            .arg(format!("@{}", self.name));
        let display = format!("kinit -n -c {} @{}", ccache.display(), self.name);
        admin::run(cmd, &display, None).map(drop)
    }

    /// Adds a user principal (works while the KDC runs).
    pub fn add_user(&mut self, name: &str, password: &str) -> Result<()> {
        config::check_principal(name)?;
        config::check_password(password)?;
        let life = self.life_args();
        let query = format!("addprinc {life}-pw {password} {name}");
        let display = format!("addprinc {life}-pw *** {name}");
        kadmin(&self.paths, &self.name, &query, &display, "created.")?;
        self.users.insert(name.to_string(), password.to_string());
        Ok(())
    }

    /// Adds a service principal with a random key and exports it to its own keytab; returns the
    /// keytab path.
    pub fn add_service(&mut self, principal: &str) -> Result<PathBuf> {
        config::check_principal(principal)?;
        let life = self.life_args();
        let query = format!("addprinc {life}-randkey {principal}");
        kadmin(&self.paths, &self.name, &query, &query, "created.")?;
        self.generations.insert(principal.to_string(), 0);
        self.export_keytab(principal, 0)
    }

    /// Gives `service` a new random key in the database (its kvno goes up) and exports it to a
    /// NEW keytab file, which becomes [`Realm::keytab`]. The previous keytab stays on disk and is
    /// now stale: tickets issued from now on cannot be decrypted with it ("wrong keytab" tests).
    pub fn rotate_service_key(&mut self, service: &str) -> Result<PathBuf> {
        let generation = self
            .generations
            .get(service)
            .copied()
            .ok_or_else(|| Error::UnknownService(service.to_string()))?
            + 1;
        let query = format!("cpw -randkey {service}");
        kadmin(&self.paths, &self.name, &query, &query, "randomized.")?;
        self.generations.insert(service.to_string(), generation);
        self.export_keytab(service, generation)
    }

    fn export_keytab(&mut self, principal: &str, generation: u32) -> Result<PathBuf> {
        let file = config::keytab_file(&self.paths, principal, generation);
        // -norandkey: a plain ktadd would re-randomise the key and stale earlier keytabs.
        let query = format!("ktadd -norandkey -k {} {principal}", file.display());
        kadmin(&self.paths, &self.name, &query, &query, "added to keytab")?;
        self.services.insert(principal.to_string(), file.clone());
        Ok(file)
    }

    fn life_args(&self) -> String {
        self.lifetime
            .map(|l| {
                let s = config::seconds(l);
                format!("-maxlife {s} -maxrenewlife {s} ")
            })
            .unwrap_or_default()
    }

    /// Lets users of `other` obtain tickets for services of this realm: creates
    /// `krbtgt/THIS@OTHER` with the same random password (so the same keys and kvno) in both
    /// databases. Clients need a krb5.conf listing both realms: see [`crate::combined_krb5_conf`].
    /// Call it the other way round too for two-way trust.
    pub fn trust_from(&self, other: &Realm) -> Result<()> {
        if other.name == self.name {
            return Err(Error::InvalidName {
                what: "realm",
                value: other.name.clone(),
                why: "a realm cannot trust itself",
            });
        }
        let secret = random_secret()?;
        let princ = format!("krbtgt/{}@{}", self.name, other.name);
        let life = self.life_args();
        let query = format!("addprinc {life}-pw {secret} {princ}");
        let display = format!("addprinc {life}-pw *** {princ}");
        kadmin(&other.paths, &other.name, &query, &display, "created.")?;
        kadmin(&self.paths, &self.name, &query, &display, "created.")?;
        Ok(())
    }

    /// Keeps the directory on disk after drop (for debugging a failing test); returns its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        if let RealmDir::Temp(t) = &mut self.dir {
            t.disable_cleanup(true);
        }
        self.paths.dir.clone()
    }

    /// Stops the KDC now (also done on drop). The directory stays until drop.
    pub fn stop_kdc(&mut self) {
        if let Some(mut kdc) = self.kdc.take() {
            kdc.stop();
            let _ = std::fs::remove_file(&self.paths.kdc_pid);
        }
    }

    pub(crate) fn entry(&self) -> RealmEntry {
        RealmEntry {
            name: self.name.clone(),
            port: self.port,
            pkinit_anchor: self.anonymous.then(|| self.paths.ca_cert()),
        }
    }

    /// (Re)writes krb5.conf and kdc.conf for the current port.
    pub(crate) fn write_configs(&self) -> Result<()> {
        let krb5 = config::krb5_conf(
            &[self.entry()],
            self.lifetime,
            self.clock_skew,
            &self.enctypes,
        );
        config::write(&self.paths.krb5_conf, &krb5)?;
        let kdc = config::kdc_conf(
            &self.name,
            self.port,
            &self.paths,
            self.lifetime,
            self.anonymous,
            &self.enctypes,
        );
        config::write(&self.paths.kdc_conf, &kdc)
    }
}

impl Drop for Realm {
    fn drop(&mut self) {
        self.stop_kdc();
    }
}

/// Writes to `path` a client krb5.conf that lists all `realms` with direct `[capaths]` between
/// them, for cross-realm tests: point `KRB5_CONFIG` at it after [`Realm::trust_from`].
///
/// The first realm is the default realm and owns `localhost`/`127.0.0.1` in `[domain_realm]`,
/// so put the realm of the service first: `host@localhost` then maps to that realm's service,
/// while users of the other realms name their realm explicitly (`bob@FOREIGN.TEST`).
///
/// ```no_run
/// # fn main() -> Result<(), kdc_test::Error> {
/// use kdc_test::{combined_krb5_conf, RealmBuilder};
/// let home = RealmBuilder::new("HOME.TEST").service("burnstand/localhost").start()?;
/// let foreign = RealmBuilder::new("FOREIGN.TEST").user("bob", "bob-pw").start()?;
/// home.trust_from(&foreign)?;
/// let conf = foreign.dir().join("combined.conf");
/// combined_krb5_conf(&[&home, &foreign], &conf)?;
/// foreign.kinit("bob")?;
/// let status = foreign
///     .command("kvno")
///     .env("KRB5_CONFIG", &conf)
///     .arg("burnstand/localhost@HOME.TEST")
///     .status();
/// # let _ = status;
/// # Ok(()) }
/// ```
pub fn combined_krb5_conf(realms: &[&Realm], path: &Path) -> Result<()> {
    let entries: Vec<RealmEntry> = realms.iter().map(|r| r.entry()).collect();
    let first = realms.first();
    let lifetime = first.and_then(|r| r.lifetime);
    let skew = first.and_then(|r| r.clock_skew);
    let enctypes = first.map(|r| r.enctypes.clone()).unwrap_or_default();
    config::write(
        path,
        &config::krb5_conf(&entries, lifetime, skew, &enctypes),
    )
}
