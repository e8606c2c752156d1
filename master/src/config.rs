//! The master's configuration: one TOML file, parsed and validated once at start-up.
//!
//! Everything that can be checked without the network is checked here, and every problem is
//! reported at once, so `burnstand-master --check-config` gives an operator the whole list.
//! `docs/master.md` is the reference; `docs/master.example.toml` a commented example.
//!
//! Principals in access lists are compared by their GSSAPI **exported name**, never by display
//! string: [`Access`] holds the exported names of the configured principals, built with the
//! same Kerberos library that authenticates the users.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use burnstand_policy::Policy;
use burnstand_wire::gss::Principal;
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

mod farm;
mod metrics;
pub mod notices;
pub mod queue;
mod validate;
pub mod web;

pub use farm::FarmSettings;
pub use metrics::MetricsSettings;
use validate::RawConfig;

/// Largest config file read, so a wrong path (a device, a huge log) fails fast.
pub const MAX_CONFIG_LEN: u64 = 1024 * 1024;
/// Most stations one master manages; keeps the LIST reply far below one message.
pub const MAX_STATIONS: usize = 1024;
/// Longest station name, drive kind or group name.
pub const MAX_NAME_LEN: usize = 64;
/// Most entries in one access list or group.
pub const MAX_ACCESS_ENTRIES: usize = 4096;
/// Highest `max_connections` accepted: beyond this the process runs out of descriptors first.
pub const MAX_CONNECTIONS_CEILING: usize = 65_536;

/// Default of `limits.max_handshakes_per_address`: connections one peer address may have in
/// the Kerberos handshake at once (a Kerberos 5 handshake is one round trip, so a real client,
/// even a lab behind one NAT address, rarely has more than a few in flight).
pub const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: usize = 8;

/// A service a station can offer, from the catalogue this master knows.
///
/// The remote-laboratory design builds station descriptions "from station service type flags as known to the
/// master server": this enum is that knowledge. Adding a service means adding a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// The burner protocol (the burner-farm design), [`burnstand_wire::command::ServiceType::BURNER`].
    Burner,
}

impl Service {
    /// Every known service, for messages.
    pub const ALL: [Service; 1] = [Service::Burner];

    /// The id in SERV and in LIST's service records.
    pub fn id(self) -> u32 {
        match self {
            Service::Burner => burnstand_wire::command::ServiceType::BURNER,
        }
    }

    /// The name used in the config file and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Service::Burner => "burner",
        }
    }

    fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Connection budgets and timeouts (`[limits]`); every field has a default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// All client connections at once, authenticated or not.
    pub max_connections: usize,
    /// Connections still in the Kerberos handshake: a smaller, separate budget so that
    /// unauthenticated peers can never take every slot.
    pub max_unauthenticated: usize,
    /// Of those, connections from one peer address: one host cannot take every handshake
    /// slot. Unset: [`DEFAULT_MAX_HANDSHAKES_PER_ADDRESS`], but always less than
    /// `max_unauthenticated` (see [`Limits::handshakes_per_address`]).
    pub max_handshakes_per_address: Option<usize>,
    /// Authenticated connections of one principal at once.
    pub max_connections_per_user: usize,
    /// Time a new connection gets to complete the handshake.
    #[serde(deserialize_with = "duration")]
    pub handshake_timeout: Duration,
    /// Command mode without a reservation: silence this long closes the connection.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// A reservation with no module connection open and no command this long is torn down.
    #[serde(deserialize_with = "duration")]
    pub reservation_idle_timeout: Duration,
    /// After SIGTERM, how long open sessions may finish before they are closed.
    #[serde(deserialize_with = "duration")]
    pub drain_deadline: Duration,
    /// Connecting to a station: TCP connect, handshake and its OK, each.
    #[serde(deserialize_with = "duration")]
    pub station_timeout: Duration,
    /// A station that failed is left out of LIST and BIND for this long, then tried again.
    #[serde(deserialize_with = "duration")]
    pub station_retry_after: Duration,
    /// Logins (greetings, each with its `auth.ok` record) of one principal: this many at once,
    /// this many more each minute; beyond, the connection is closed without a greeting.
    pub login_budget_per_principal: u32,
    /// The same for one peer address, over all its principals.
    pub login_budget_per_address: u32,
    /// Below this many bytes free on the audit log's filesystem, new connections are refused;
    /// open ones go on. 0 turns the check off.
    pub min_free_bytes: u64,
}

/// Default of `limits.login_budget_per_principal`: a person (a container and a module per
/// burn) never comes near it; a reconnect loop gets about one login a second.
pub const DEFAULT_LOGIN_BUDGET_PER_PRINCIPAL: u32 = 60;
/// Default of `limits.login_budget_per_address`: a lab behind one NAT address.
pub const DEFAULT_LOGIN_BUDGET_PER_ADDRESS: u32 = 600;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            max_unauthenticated: 32,
            max_handshakes_per_address: None,
            max_connections_per_user: 16,
            handshake_timeout: burnstand_wire::limits::HANDSHAKE_TIMEOUT,
            idle_timeout: Duration::from_secs(5 * 60),
            reservation_idle_timeout: Duration::from_secs(30 * 60),
            drain_deadline: Duration::from_secs(30),
            station_timeout: Duration::from_secs(10),
            station_retry_after: Duration::from_secs(30),
            login_budget_per_principal: DEFAULT_LOGIN_BUDGET_PER_PRINCIPAL,
            login_budget_per_address: DEFAULT_LOGIN_BUDGET_PER_ADDRESS,
            min_free_bytes: burnstand_audit::space::DEFAULT_MIN_FREE_BYTES,
        }
    }
}

impl Limits {
    /// Handshakes one peer address may have at once: the configured value, or the default
    /// kept below `max_unauthenticated` so that one address never takes every slot.
    pub fn handshakes_per_address(&self) -> usize {
        self.max_handshakes_per_address.unwrap_or_else(|| {
            DEFAULT_MAX_HANDSHAKES_PER_ADDRESS
                .min(self.max_unauthenticated.saturating_sub(1).max(1))
        })
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "{text:?} is not a duration like \"10s\" or \"5m\": {e}"
        ))
    })
}

/// Who may BIND a station: principals (by exported name) and whole realms.
#[derive(Debug, Clone, Default)]
pub struct Access {
    exported: HashSet<Vec<u8>>,
    realms: HashSet<String>,
    /// The entries as written (groups expanded), for `--check-config` and logs.
    pub entries: Vec<String>,
}

impl Access {
    /// Whether `principal` is on the list.
    pub fn permits(&self, principal: &Principal) -> bool {
        self.exported.contains(principal.exported())
            || principal
                .realm()
                .is_some_and(|realm| self.realms.contains(realm))
    }
}

/// One station (`[[station]]`): a drive guarded by a station daemon.
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// Friendly, unique name, used in logs, audit records and LIST descriptions.
    pub name: String,
    /// The kind of drive ("CD", "DVD", "BD", …): part of what makes stations identical.
    pub drive: String,
    /// `host:port` of the station daemon.
    pub address: String,
    /// The principal the station daemon accepts as, e.g. `burnstand-station/dvd1.lab@REALM`.
    pub principal: String,
    /// Exported name of `principal`: the station must authenticate as exactly this.
    pub principal_exported: Vec<u8>,
    /// The services the daemon at `address` offers (sorted, no duplicates).
    pub services: Vec<Service>,
    /// Who may reserve this station.
    pub allow: Access,
    /// Where it is, for people ("room 2.14, left"); shown with its name. May be empty.
    pub location: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to accept client connections on.
    pub listen: SocketAddr,
    /// The master's own service principal (acceptor for users, initiator towards stations).
    pub principal: String,
    /// Keytab holding `principal`'s key; exported to GSSAPI as KRB5_KTNAME and
    /// KRB5_CLIENT_KTNAME by `main` before any thread starts.
    pub keytab: PathBuf,
    /// The audit log file (hash-chained JSON Lines, see `burnstand-audit`).
    pub audit_log: PathBuf,
    /// Where the master keeps state that must outlive its logs: the copy ledger
    /// (`ledger.sqlite`). Default: the audit log's directory.
    pub state_dir: PathBuf,
    /// The policy file (`docs/policy.md`), shared with the stations.
    pub policy_path: PathBuf,
    /// Its content: who may burn which image, how many copies; BIND asks it first.
    pub policy: Policy,
    /// Budgets and timeouts.
    pub limits: Limits,
    /// The stations, in file order (which is also BIND's preference order).
    pub stations: Vec<StationConfig>,
    /// The wait queue (`[queue]`): timeouts, aging and priority classes.
    pub queue: queue::QueueSettings,
    /// Who may use the admin commands (station and queue reports, drain, release…).
    /// Empty: nobody.
    pub admin: Access,
    /// How stations are watched.
    pub farm: FarmSettings,
    /// Whether Kerberos sessions (users' and stations') move from MIT's wrap/unwrap to the
    /// Rust RFC 4121 fast path after the handshake, where the context allows it (`fast_path`,
    /// default true). Off, or when the fast path's start-up self-test fails, every session
    /// stays on MIT.
    pub fast_path: bool,
    /// The file this was read from, which a reload (SIGHUP) reads again; `None` for text
    /// parsed in memory (tests), which cannot be reloaded.
    pub source: Option<PathBuf>,
    /// The protocol nucleus: the oldest client accepted, the admin's notices, the request
    /// delays of refusals that ask to retry.
    pub nucleus: notices::NucleusSettings,
    /// The Prometheus listener (`[metrics]`), off by default.
    pub metrics: MetricsSettings,
    /// The HTTPS status page (`[web]`); `None`: off.
    pub web: Option<web::WebSettings>,
    /// The audit log's lifecycle (`[audit]`): rotation and head export.
    pub audit: burnstand_audit::AuditSettings,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = burnstand_daemon::read_config_text(path, MAX_CONFIG_LEN)?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| Error::ConfigSyntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut config = raw.validate()?;
        config.source = Some(path.to_owned());
        Ok(config)
    }

    /// Parses and validates TOML text (for tests and tools).
    pub fn from_toml(text: &str) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::ConfigSyntax {
            path: PathBuf::from("<text>"),
            message: e.to_string(),
        })?;
        raw.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        listen = "127.0.0.1:4700"
        principal = "burnstand/localhost@LAB.TEST"
        keytab = "/etc/burnstand/master.keytab"
        audit_log = "/var/log/burnstand/master.jsonl"
        policy = "../docs/policy.example.toml"

        [limits]
        idle_timeout = "90s"

        [groups]
        staff = ["alice@LAB.TEST", "bob@LAB.TEST"]

        [[station]]
        name = "dvd-1"
        drive = "DVD"
        address = "dvd1.lab:4710"
        principal = "burnstand-station/dvd1@LAB.TEST"
        services = ["burner"]
        allow = ["group:staff", "*@OTHER.TEST"]
    "#;

    #[test]
    fn a_good_config_parses_with_defaults() {
        let config = Config::from_toml(GOOD).expect("valid");
        assert!(config.fast_path, "the fast path is on by default");
        assert!(
            !Config::from_toml(&format!("fast_path = false\n{GOOD}"))
                .expect("valid")
                .fast_path
        );
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(90));
        assert_eq!(config.limits.max_connections, 256);
        assert_eq!(config.stations[0].services, vec![Service::Burner]);
        assert_eq!(
            config.stations[0].allow.entries,
            ["alice@LAB.TEST", "bob@LAB.TEST", "*@OTHER.TEST"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = GOOD
            .replace("\"127.0.0.1:4700\"", "\"nowhere\"")
            .replace("group:staff", "group:nobody")
            .replace("[\"burner\"]", "[\"toaster\"]")
            .replace("\"90s\"", "\"soon\"");
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        assert!(message.contains("soon"), "{message}");
        let bad = GOOD
            .replace("\"127.0.0.1:4700\"", "\"nowhere\"")
            .replace("group:staff", "group:nobody")
            .replace("[\"burner\"]", "[\"toaster\"]");
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        for needle in [
            "3 problems",
            "nowhere",
            "\"nobody\" is not defined",
            "unknown service \"toaster\"",
        ] {
            assert!(
                message.contains(needle),
                "{needle:?} missing from {message}"
            );
        }
    }

    #[test]
    fn principals_need_a_realm_and_star_needs_one_too() {
        let bad = GOOD
            .replace("\"alice@LAB.TEST\"", "\"alice\"")
            .replace("*@OTHER.TEST", "*");
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        assert!(message.contains("explicit realm"), "{message}");
        assert!(message.contains("\"*\" is not allowed"), "{message}");
    }

    #[test]
    fn the_unauthenticated_budget_must_be_smaller() {
        let bad = GOOD.replace(
            "idle_timeout = \"90s\"",
            "max_connections = 8\nmax_unauthenticated = 8",
        );
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        assert!(message.contains("max_unauthenticated"), "{message}");
    }

    #[test]
    fn one_address_never_gets_every_handshake_slot() {
        let config = Config::from_toml(GOOD).expect("good");
        assert_eq!(
            config.limits.handshakes_per_address(),
            DEFAULT_MAX_HANDSHAKES_PER_ADDRESS
        );
        // Unset, the default stays below a small unauthenticated budget.
        let small = GOOD.replace("idle_timeout = \"90s\"", "max_unauthenticated = 4");
        let config = Config::from_toml(&small).expect("good");
        assert_eq!(config.limits.handshakes_per_address(), 3);
        // Set, it must be smaller than the unauthenticated budget.
        let bad = GOOD.replace(
            "idle_timeout = \"90s\"",
            "max_unauthenticated = 4\nmax_handshakes_per_address = 4",
        );
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        assert!(message.contains("max_handshakes_per_address"), "{message}");
    }

    #[test]
    fn login_budgets_and_the_watermark_have_defaults_and_are_checked() {
        let config = Config::from_toml(GOOD).expect("good");
        assert_eq!(
            config.limits.login_budget_per_principal,
            DEFAULT_LOGIN_BUDGET_PER_PRINCIPAL
        );
        assert_eq!(
            config.limits.login_budget_per_address,
            DEFAULT_LOGIN_BUDGET_PER_ADDRESS
        );
        assert_eq!(config.limits.min_free_bytes, 64 << 20);
        let bad = GOOD.replace(
            "idle_timeout = \"90s\"",
            "login_budget_per_principal = 0\nlogin_budget_per_address = 0",
        );
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        assert!(message.contains("login_budget_per_principal"), "{message}");
        assert!(message.contains("login_budget_per_address"), "{message}");
    }

    #[test]
    fn metrics_are_off_by_default_and_need_an_address() {
        assert_eq!(Config::from_toml(GOOD).expect("good").metrics.listen, None);
        let on = format!("{GOOD}\n[metrics]\nlisten = \"127.0.0.1:9464\"\n");
        let listen = Config::from_toml(&on).expect("good").metrics.listen;
        assert_eq!(listen, Some(SocketAddr::from(([127, 0, 0, 1], 9464))));
        let bad = format!("{GOOD}\n[metrics]\nlisten = \"anywhere\"\n");
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        assert!(message.contains("anywhere"), "{message}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let bad = GOOD.replace("[limits]", "[limits]\nmax_conections = 3");
        let message = Config::from_toml(&bad).expect_err("invalid").to_string();
        assert!(message.contains("max_conections"), "{message}");
    }
}
