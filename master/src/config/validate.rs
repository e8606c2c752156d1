//! Validation of the master's configuration: the raw TOML, as serde reads it, becomes a
//! [`Config`] only if every check passes; otherwise every problem found is reported at once.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use burnstand_policy::Policy;
use burnstand_wire::gss::Principal;
use serde::Deserialize;

use super::{
    Access, Config, FarmSettings, Limits, Service, StationConfig, MAX_ACCESS_ENTRIES,
    MAX_CONNECTIONS_CEILING, MAX_NAME_LEN, MAX_STATIONS,
};
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    listen: String,
    principal: String,
    keytab: PathBuf,
    audit_log: PathBuf,
    #[serde(default)]
    state_dir: Option<PathBuf>,
    policy: PathBuf,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    #[serde(default, rename = "station")]
    stations: Vec<RawStation>,
    #[serde(default)]
    queue: super::queue::RawQueue,
    #[serde(default)]
    admin: Vec<String>,
    #[serde(default)]
    farm: FarmSettings,
    /// Whether sessions move to the Rust RFC 4121 fast path (default: yes).
    #[serde(default = "fast_path_default")]
    fast_path: bool,
    /// The protocol nucleus (`super::notices`).
    #[serde(default)]
    min_client_version: Option<String>,
    #[serde(default, rename = "notice")]
    notices: Vec<super::notices::RawNotice>,
    #[serde(default)]
    request_delay: super::notices::RawRequestDelay,
    #[serde(default)]
    metrics: super::MetricsSettings,
    /// The HTTPS status page (off without the section).
    #[serde(default)]
    web: Option<super::web::RawWeb>,
    /// `[audit]`: rotation and head export of the audit log.
    #[serde(default)]
    audit: burnstand_audit::AuditSettings,
}

fn fast_path_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStation {
    name: String,
    drive: String,
    address: String,
    principal: String,
    services: Vec<String>,
    allow: Vec<String>,
    #[serde(default)]
    location: String,
}

impl RawConfig {
    /// Checks everything that can be checked without the network, reporting every problem at
    /// once, and builds the [`Config`] the master runs with.
    pub(super) fn validate(self) -> Result<Config> {
        let raw = self;
        let mut problems = Problems::default();
        let listen = raw.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
            problems.push(format!(
                "listen = {:?} is not an address like \"0.0.0.0:4700\"",
                raw.listen
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        problems.principal("principal", &raw.principal);
        check_limits(&raw.limits, &mut problems);
        let groups = check_groups(&raw.groups, &mut problems);
        let queue = raw.queue.validate(&groups, &mut problems);
        if raw.stations.is_empty() {
            problems.push("no [[station]] is configured: there would be nothing to reserve".into());
        }
        if raw.stations.len() > MAX_STATIONS {
            problems.push(format!(
                "{} stations configured, at most {MAX_STATIONS}",
                raw.stations.len()
            ));
        }
        let admin = if raw.admin.is_empty() {
            Access::default()
        } else {
            check_allow(&raw.admin, &groups, "admin", &mut problems)
        };
        let nucleus = super::notices::validate(
            raw.min_client_version.as_deref(),
            &raw.notices,
            &raw.request_delay,
            &mut problems,
        );
        let web = raw
            .web
            .map(|web| web.validate(&raw.principal, &mut problems));
        for problem in raw.farm.problems() {
            problems.push(problem);
        }
        for problem in raw.audit.problems(&raw.audit_log) {
            problems.push(problem);
        }
        let mut names = HashSet::new();
        let mut stations = Vec::with_capacity(raw.stations.len().min(MAX_STATIONS));
        for station in raw.stations.into_iter().take(MAX_STATIONS) {
            if !names.insert(station.name.clone()) {
                problems.push(format!("station name {:?} is used twice", station.name));
            }
            if let Some(station) = check_station(station, &groups, &mut problems) {
                stations.push(station);
            }
        }
        let home_realm = raw
            .principal
            .rsplit_once('@')
            .map_or("", |(_, realm)| realm);
        let policy = match Policy::load(&raw.policy, home_realm) {
            Ok(policy) => Some(policy),
            Err(e) => {
                problems.push(format!("policy: {e}"));
                None
            }
        };
        problems.into_result()?;
        let Some(policy) = policy else {
            return Err(Error::ConfigInvalid("policy: not loaded".into()));
        };
        let state_dir = raw.state_dir.unwrap_or_else(|| {
            raw.audit_log
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        });
        Ok(Config {
            listen,
            principal: raw.principal,
            keytab: raw.keytab,
            audit_log: raw.audit_log,
            state_dir,
            policy_path: raw.policy,
            policy,
            limits: raw.limits,
            stations,
            queue,
            admin,
            farm: raw.farm,
            fast_path: raw.fast_path,
            source: None,
            nucleus,
            metrics: raw.metrics,
            web,
            audit: raw.audit,
        })
    }
}

/// Problems found so far; validation goes on after the first to report them all.
#[derive(Default)]
pub(super) struct Problems(Vec<String>);

impl Problems {
    pub(super) fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    /// Checks a principal written in the config and returns its exported name.
    ///
    /// The realm is required: the default realm comes from krb5.conf, which may differ
    /// between the machine that checks the config and the one that runs it.
    fn principal(&mut self, what: &str, principal: &str) -> Option<Vec<u8>> {
        match principal.rsplit_once('@') {
            Some((name, realm)) if !name.is_empty() && !realm.is_empty() => {}
            _ => {
                self.push(format!(
                    "{what}: {principal:?} needs an explicit realm, like \"alice@LAB.EXAMPLE.EDU\""
                ));
                return None;
            }
        }
        match Principal::parse(principal).map(|p| p.exported().to_vec()) {
            Ok(exported) => Some(exported),
            Err(e) => {
                self.push(format!(
                    "{what}: {principal:?} is not a Kerberos principal name: {e}"
                ));
                None
            }
        }
    }

    pub(super) fn into_result(self) -> Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(Error::ConfigInvalid(self.0.concat())),
            n => Err(Error::ConfigInvalid(format!(
                "{n} problems:\n  - {}",
                self.0.join("\n  - ")
            ))),
        }
    }
}

fn check_limits(limits: &Limits, problems: &mut Problems) {
    if limits.max_connections == 0 || limits.max_connections > MAX_CONNECTIONS_CEILING {
        problems.push(format!(
            "limits.max_connections must be 1 to {MAX_CONNECTIONS_CEILING}"
        ));
    }
    if limits.max_unauthenticated == 0 || limits.max_unauthenticated >= limits.max_connections {
        problems.push(format!(
            "limits.max_unauthenticated ({}) must be at least 1 and smaller than limits.max_connections ({}), \
             so that unauthenticated peers can never take every slot",
            limits.max_unauthenticated, limits.max_connections
        ));
    }
    if let Some(per_address) = limits.max_handshakes_per_address {
        if per_address == 0
            || (per_address >= limits.max_unauthenticated && limits.max_unauthenticated > 1)
        {
            problems.push(format!(
                "limits.max_handshakes_per_address ({per_address}) must be at least 1 and smaller than \
                 limits.max_unauthenticated ({}), so that one address cannot take every handshake slot",
                limits.max_unauthenticated
            ));
        }
    }
    for (name, value) in [
        (
            "login_budget_per_principal",
            limits.login_budget_per_principal,
        ),
        ("login_budget_per_address", limits.login_budget_per_address),
    ] {
        if value == 0 {
            problems.push(format!(
                "limits.{name} must be at least 1: with 0 nobody could log in"
            ));
        }
    }
    if limits.max_connections_per_user < 2 {
        problems.push(
            "limits.max_connections_per_user must be at least 2 (a container and a module)".into(),
        );
    }
    for (name, value) in [
        ("handshake_timeout", limits.handshake_timeout),
        ("idle_timeout", limits.idle_timeout),
        ("reservation_idle_timeout", limits.reservation_idle_timeout),
        ("drain_deadline", limits.drain_deadline),
        ("station_timeout", limits.station_timeout),
        ("station_retry_after", limits.station_retry_after),
    ] {
        if value.is_zero() {
            problems.push(format!("limits.{name} must be longer than zero"));
        }
    }
}

/// An access entry resolved to what [`Access`] compares.
pub(super) enum Entry {
    Principal(String, Vec<u8>),
    Realm(String),
}

/// Parses one access entry: `"name@REALM"` or `"*@REALM"` (groups are expanded by the caller).
fn check_entry(entry: &str, what: &str, problems: &mut Problems) -> Option<Entry> {
    if let Some(realm) = entry.strip_prefix("*@") {
        if realm.is_empty() || realm.contains('@') {
            problems.push(format!("{what}: {entry:?} is not \"*@REALM\""));
            return None;
        }
        return Some(Entry::Realm(realm.to_owned()));
    }
    if entry == "*" {
        problems.push(format!(
            "{what}: \"*\" is not allowed (it would admit every realm the KDC trusts); write \"*@REALM\""
        ));
        return None;
    }
    problems
        .principal(what, entry)
        .map(|exported| Entry::Principal(entry.to_owned(), exported))
}

fn check_groups(
    raw: &BTreeMap<String, Vec<String>>,
    problems: &mut Problems,
) -> BTreeMap<String, Vec<Entry>> {
    let mut groups = BTreeMap::new();
    for (name, members) in raw {
        if !is_name(name) {
            problems.push(format!(
                "group name {name:?} must be 1 to {MAX_NAME_LEN} letters, digits, '.', '-' or '_'"
            ));
        }
        if members.len() > MAX_ACCESS_ENTRIES {
            problems.push(format!(
                "group {name:?} has more than {MAX_ACCESS_ENTRIES} members"
            ));
            continue;
        }
        let what = format!("groups.{name}");
        let mut resolved = Vec::new();
        for member in members {
            if member.starts_with("group:") {
                problems.push(format!("{what}: {member:?}: groups cannot contain groups"));
            } else if let Some(entry) = check_entry(member, &what, problems) {
                resolved.push(entry);
            }
        }
        groups.insert(name.clone(), resolved);
    }
    groups
}

fn check_station(
    raw: RawStation,
    groups: &BTreeMap<String, Vec<Entry>>,
    problems: &mut Problems,
) -> Option<StationConfig> {
    let what = format!("station {:?}", raw.name);
    let before = problems.0.len();
    if !is_name(&raw.name) {
        problems.push(format!(
            "{what}: name must be 1 to {MAX_NAME_LEN} letters, digits, '.', '-' or '_'"
        ));
    }
    if !is_name(&raw.drive) {
        problems.push(format!(
            "{what}: drive {:?} must be a short word like \"CD\", \"DVD\" or \"BD\"",
            raw.drive
        ));
    }
    match raw.address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p != 0) => {}
        _ => problems.push(format!(
            "{what}: address {:?} must be \"host:port\"",
            raw.address
        )),
    }
    let principal_exported = problems.principal(&format!("{what}: principal"), &raw.principal);
    let mut services = Vec::new();
    for name in &raw.services {
        match Service::from_name(name) {
            Some(service) if !services.contains(&service) => services.push(service),
            Some(_) => problems.push(format!("{what}: service {name:?} is listed twice")),
            None => {
                let known: Vec<_> = Service::ALL.iter().map(|s| s.name()).collect();
                problems.push(format!(
                    "{what}: unknown service {name:?} (known: {})",
                    known.join(", ")
                ));
            }
        }
    }
    if raw.services.is_empty() {
        problems.push(format!(
            "{what}: services is empty: the station would offer nothing"
        ));
    }
    services.sort();
    if raw.location.chars().count() > burnstand_wire::limits::MAX_FARM_TEXT_LEN / 4 {
        problems.push(format!("{what}: location is longer than 256 characters"));
    }
    let allow = check_allow(&raw.allow, groups, &format!("{what}: allow"), problems);
    if problems.0.len() > before {
        return None;
    }
    Some(StationConfig {
        name: raw.name,
        drive: raw.drive,
        address: raw.address,
        principal: raw.principal,
        principal_exported: principal_exported.unwrap_or_default(),
        services,
        allow,
        location: raw.location,
    })
}

pub(super) fn check_allow(
    raw: &[String],
    groups: &BTreeMap<String, Vec<Entry>>,
    what: &str,
    problems: &mut Problems,
) -> Access {
    let mut access = Access::default();
    if raw.is_empty() {
        problems.push(format!(
            "{what} is empty: nobody could reserve this station"
        ));
    }
    if raw.len() > MAX_ACCESS_ENTRIES {
        problems.push(format!("{what} has more than {MAX_ACCESS_ENTRIES} entries"));
        return access;
    }
    let add = |access: &mut Access, entry: &Entry| match entry {
        Entry::Principal(display, exported) => {
            access.exported.insert(exported.clone());
            access.entries.push(display.clone());
        }
        Entry::Realm(realm) => {
            access.realms.insert(realm.clone());
            access.entries.push(format!("*@{realm}"));
        }
    };
    for item in raw {
        if let Some(group) = item.strip_prefix("group:") {
            match groups.get(group) {
                Some(members) => members.iter().for_each(|m| add(&mut access, m)),
                None => problems.push(format!(
                    "{what}: group {group:?} is not defined in [groups]"
                )),
            }
        } else if let Some(entry) = check_entry(item, what, problems) {
            add(&mut access, &entry);
        }
    }
    access
}

pub(super) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}
