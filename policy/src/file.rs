//! Reading and validating the policy file: every problem is collected and reported at once,
//! so `--check-config` gives an operator the whole list.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::time::{Duration, SystemTime};

use burnstand_wire::gss::Principal;
use serde::Deserialize;

use crate::error::PolicyError;
use crate::policy::{Entitlement, Matcher, Policy};

/// Largest policy file read, so a wrong path (a device, a huge log) fails fast.
pub const MAX_POLICY_LEN: u64 = 1024 * 1024;
/// Most `[[image]]` entries; each costs a few hundred bytes plus its principals.
pub const MAX_IMAGES: usize = 4096;
/// Most principals in one list or group.
pub const MAX_LIST_LEN: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    realms: Option<Vec<String>>,
    #[serde(default)]
    allow_anonymous: bool,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
    #[serde(default, rename = "image")]
    images: Vec<RawImage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    sha256: String,
    name: String,
    #[serde(default)]
    allow_users: Vec<String>,
    #[serde(default)]
    allow_groups: Vec<String>,
    copies: Option<u32>,
    period: Option<String>,
    valid_until: Option<String>,
    drives: Option<Vec<String>>,
}

pub(crate) fn load(path: &Path, home_realm: &str) -> Result<Policy, PolicyError> {
    let file = std::fs::File::open(path).map_err(|source| PolicyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut text = String::new();
    file.take(MAX_POLICY_LEN + 1)
        .read_to_string(&mut text)
        .map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
    if text.len() as u64 > MAX_POLICY_LEN {
        return Err(PolicyError::TooLarge {
            path: path.to_owned(),
            max: MAX_POLICY_LEN,
        });
    }
    parse(&text, path, home_realm)
}

pub(crate) fn parse(text: &str, path: &Path, home_realm: &str) -> Result<Policy, PolicyError> {
    let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut problems = Vec::new();

    let realms: Vec<String> = raw.realms.unwrap_or_else(|| vec![home_realm.to_owned()]);
    for realm in &realms {
        if realm.is_empty() || realm.contains('@') || realm.contains('*') {
            problems.push(format!(
                "realms: {realm:?} is not a realm name like \"CAMPUS.EDU\""
            ));
        }
    }

    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, members) in &raw.groups {
        if members.len() > MAX_LIST_LEN {
            problems.push(format!(
                "group {name:?} has more than {MAX_LIST_LEN} members"
            ));
        }
        groups.insert(name.clone(), members.clone());
    }

    if raw.images.len() > MAX_IMAGES {
        problems.push(format!("more than {MAX_IMAGES} [[image]] entries"));
    }
    let mut seen = HashSet::new();
    let mut entitlements = Vec::new();
    for (i, image) in raw.images.iter().enumerate() {
        let at = format!("[[image]] #{} ({:?})", i + 1, image.name);
        match entitlement(image, &groups, &at, &mut problems) {
            Some(e) => {
                if !seen.insert(e.sha256.clone()) {
                    problems.push(format!("{at}: sha256 {} appears twice", e.sha256));
                }
                entitlements.push(e);
            }
            None => continue,
        }
    }

    if problems.is_empty() {
        Ok(Policy {
            realms,
            allow_anonymous: raw.allow_anonymous,
            entitlements,
            digest: crate::digest::digest_of(text.as_bytes()),
        })
    } else {
        Err(PolicyError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

fn entitlement(
    raw: &RawImage,
    groups: &BTreeMap<String, Vec<String>>,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<Entitlement> {
    let before = problems.len();
    let sha256 = raw.sha256.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        problems.push(format!(
            "{at}: sha256 {:?} is not 64 hex digits (sha256sum IMAGE prints it)",
            raw.sha256
        ));
    }
    if raw.name.trim().is_empty() {
        problems.push(format!("{at}: name is empty"));
    }
    let mut who = Matcher::default();
    for user in &raw.allow_users {
        add_principal(&mut who, user, &format!("{at}: allow_users"), problems);
    }
    for group in &raw.allow_groups {
        match groups.get(group) {
            Some(members) => {
                for user in members {
                    add_principal(&mut who, user, &format!("group {group:?}"), problems);
                }
            }
            None => problems.push(format!(
                "{at}: allow_groups names {group:?}, which is not in [groups]"
            )),
        }
    }
    if raw.allow_users.len() > MAX_LIST_LEN {
        problems.push(format!(
            "{at}: allow_users has more than {MAX_LIST_LEN} entries"
        ));
    }
    let period = raw
        .period
        .as_deref()
        .and_then(|p| match humantime::parse_duration(p) {
            Ok(d) if d > Duration::ZERO => Some((p.to_owned(), d)),
            Ok(_) => {
                problems.push(format!("{at}: period must be longer than 0"));
                None
            }
            Err(e) => {
                problems.push(format!(
                    "{at}: period {p:?} is not a duration like \"30d\": {e}"
                ));
                None
            }
        });
    if period.is_some() && raw.copies.is_none() {
        problems.push(format!(
            "{at}: period needs copies (a number of copies per period)"
        ));
    }
    let valid_until: Option<SystemTime> =
        raw.valid_until
            .as_deref()
            .and_then(|t| match humantime::parse_rfc3339(t) {
                Ok(time) => Some(time),
                Err(e) => {
                    problems.push(format!(
                        "{at}: valid_until {t:?} is not an RFC 3339 UTC time like \"2027-02-01T00:00:00Z\": {e}"
                    ));
                    None
                }
            });
    let drives = raw.drives.clone().unwrap_or_default();
    if raw.drives.as_ref().is_some_and(Vec::is_empty) {
        problems.push(format!(
            "{at}: drives is empty; leave it out to allow every drive kind"
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(Entitlement {
        sha256,
        name: raw.name.clone(),
        who,
        copies: raw.copies,
        period,
        valid_until,
        drives,
    })
}

fn add_principal(who: &mut Matcher, entry: &str, at: &str, problems: &mut Vec<String>) {
    if let Some(realm) = entry.strip_prefix("*@") {
        if realm.is_empty() || realm.contains('*') || realm.contains('@') {
            problems.push(format!("{at}: {entry:?} is not \"*@REALM\""));
        } else {
            who.realms.insert(realm.to_owned());
        }
        return;
    }
    if entry.contains('*') || !entry.contains('@') {
        problems.push(format!(
            "{at}: {entry:?} must be a principal with its realm (\"alice@CAMPUS.EDU\") or \"*@REALM\""
        ));
        return;
    }
    match Principal::parse(entry) {
        Ok(p) => {
            who.exported.insert(p.exported().to_vec());
        }
        Err(e) => problems.push(format!("{at}: {entry:?} is not a Kerberos principal: {e}")),
    }
}
