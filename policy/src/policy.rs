//! The loaded policy and its two questions: may this principal burn this image here and now
//! ([`Policy::may_burn`]), and could a reservation of this drive kind lead to any permitted
//! burn at all ([`Policy::may_bind`]).

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use crate::error::{PolicyError, Refusal};
use crate::usage::Usage;

/// The realm of the fully anonymous principal `WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS`
/// (RFC 8062); a realm-exposed anonymous ticket keeps the `WELLKNOWN/ANONYMOUS` name.
pub const ANONYMOUS_REALM: &str = "WELLKNOWN:ANONYMOUS";
const ANONYMOUS_NAME: &str = "WELLKNOWN/ANONYMOUS";

/// An authenticated user as the policy sees them: the exported name (what is compared) and
/// the display name (for the realm and for messages). Both come from the same GSSAPI name.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub exported: &'a [u8],
    pub display: &'a str,
}

impl<'a> Subject<'a> {
    /// The realm part of the display name (after the last `@`).
    pub fn realm(&self) -> &'a str {
        self.display.rsplit_once('@').map_or("", |(_, realm)| realm)
    }

    fn is_anonymous(&self) -> bool {
        self.realm() == ANONYMOUS_REALM
            || self
                .display
                .rsplit_once('@')
                .is_some_and(|(name, _)| name == ANONYMOUS_NAME)
    }
}

/// Who an entitlement names: exported principal names and whole realms (`*@REALM`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Matcher {
    pub(crate) exported: HashSet<Vec<u8>>,
    pub(crate) realms: HashSet<String>,
}

impl Matcher {
    fn matches(&self, who: &Subject<'_>) -> bool {
        (!who.exported.is_empty() && self.exported.contains(who.exported))
            || self.realms.contains(who.realm())
    }
}

/// One `[[image]]` entry: who may burn the image with this SHA-256, how often, until when.
#[derive(Debug, Clone)]
pub struct Entitlement {
    /// Lower-case hex SHA-256 of the image bytes.
    pub sha256: String,
    /// For people: messages and `burnstand audit show`.
    pub name: String,
    pub(crate) who: Matcher,
    /// Copies per principal (per `period` if set); `None` is unlimited.
    pub copies: Option<u32>,
    /// The quota window as written ("30d") and as a duration.
    pub period: Option<(String, std::time::Duration)>,
    /// No burns after this instant.
    pub valid_until: Option<SystemTime>,
    /// Drive kinds it may be burned on; empty means any.
    pub drives: Vec<String>,
}

impl Entitlement {
    fn drive_ok(&self, drive: &str) -> bool {
        self.drives.is_empty() || self.drives.iter().any(|d| d.eq_ignore_ascii_case(drive))
    }

    /// Copies left for `who` now: `None` when unlimited.
    fn remaining(
        &self,
        who: &Subject<'_>,
        now: SystemTime,
        usage: &(impl Usage + ?Sized),
    ) -> Result<Option<u32>, Refusal> {
        let Some(copies) = self.copies else {
            return Ok(None);
        };
        let since = self
            .period
            .as_ref()
            .map(|(_, d)| now.checked_sub(*d).unwrap_or(SystemTime::UNIX_EPOCH));
        let used = usage.used(who.exported, &self.sha256, since);
        if used >= copies {
            return Err(Refusal::QuotaUsedUp {
                image: self.name.clone(),
                used,
                copies,
                period: self.period.as_ref().map(|(text, _)| text.clone()),
            });
        }
        Ok(Some(copies - used))
    }
}

/// Copies a principal may still burn of one image: `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining(pub Option<u32>);

impl Remaining {
    /// Whether `copies` more copies are within the quota.
    pub fn allows(self, copies: u32) -> bool {
        match self.0 {
            None => true,
            Some(left) => copies <= left,
        }
    }
}

/// A loaded, validated policy (see `docs/policy.md`).
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) realms: Vec<String>,
    pub(crate) allow_anonymous: bool,
    pub(crate) entitlements: Vec<Entitlement>,
    /// SHA-256 of the file's bytes ([`crate::digest_of`]).
    pub(crate) digest: burnstand_wire::burner::Sha256,
}

impl Policy {
    /// Reads and validates `path`. `home_realm` (the daemon's own realm) is the only realm
    /// accepted when the file does not list `realms`.
    pub fn load(path: &Path, home_realm: &str) -> Result<Policy, PolicyError> {
        crate::file::load(path, home_realm)
    }

    /// Parses policy text (tests, `--check-config` of inline examples).
    pub fn parse(text: &str, origin: &Path, home_realm: &str) -> Result<Policy, PolicyError> {
        crate::file::parse(text, origin, home_realm)
    }

    /// The realms whose principals are accepted (the daemon's own when the file lists none).
    pub fn realms(&self) -> &[String] {
        &self.realms
    }

    /// The SHA-256 of the policy file's bytes: equal on two hosts exactly when they read
    /// byte-identical files (see [`crate::digest_of`]).
    pub fn digest(&self) -> burnstand_wire::burner::Sha256 {
        self.digest
    }

    /// The entitlements, in file order.
    pub fn entitlements(&self) -> &[Entitlement] {
        &self.entitlements
    }

    /// Whether this principal may use burnstand at all: the anonymous principal and foreign
    /// realms are refused unless the policy names them.
    pub fn admits(&self, who: &Subject<'_>) -> Result<(), Refusal> {
        if who.is_anonymous() {
            return if self.allow_anonymous {
                Ok(())
            } else {
                Err(Refusal::Anonymous)
            };
        }
        if self.realms.iter().any(|r| r == who.realm()) {
            Ok(())
        } else {
            Err(Refusal::ForeignRealm {
                realm: who.realm().to_owned(),
                accepted: self.realms.join(", "),
            })
        }
    }

    /// Whether a copy of the image with `sha256` burned by `who` needs the master's copy grant
    /// (`docs/protocol.md` §5.9): it does when the entitlement that lets `who` burn it limits
    /// copies or ends at a date. An image without an entitlement for `who` needs none because
    /// [`Policy::may_burn`] refuses it anyway.
    pub fn needs_grant(&self, who: &Subject<'_>, sha256: &str) -> bool {
        self.entitlements
            .iter()
            .find(|e| e.sha256.eq_ignore_ascii_case(sha256) && e.who.matches(who))
            .is_some_and(|e| e.copies.is_some() || e.valid_until.is_some())
    }

    /// May `who` burn the image with `sha256` on a `drive` station now? On success, how many
    /// copies are left.
    pub fn may_burn(
        &self,
        who: &Subject<'_>,
        sha256: &str,
        drive: &str,
        now: SystemTime,
        usage: &(impl Usage + ?Sized),
    ) -> Result<Remaining, Refusal> {
        self.admits(who)?;
        let Some(entitlement) = self
            .entitlements
            .iter()
            .find(|e| e.sha256.eq_ignore_ascii_case(sha256) && e.who.matches(who))
        else {
            return Err(Refusal::NotEntitled {
                user: who.display.to_owned(),
                sha256: sha256.to_owned(),
            });
        };
        if let Some(until) = entitlement.valid_until {
            if now >= until {
                return Err(Refusal::Expired {
                    image: entitlement.name.clone(),
                    until,
                });
            }
        }
        if !entitlement.drive_ok(drive) {
            return Err(Refusal::WrongDrive {
                image: entitlement.name.clone(),
                drive: drive.to_owned(),
            });
        }
        entitlement.remaining(who, now, usage).map(Remaining)
    }

    /// Could a reservation of a `drive` station lead to any permitted burn for `who` now?
    pub fn may_bind(
        &self,
        who: &Subject<'_>,
        drive: &str,
        now: SystemTime,
        usage: &(impl Usage + ?Sized),
    ) -> Result<(), Refusal> {
        self.admits(who)?;
        // The most telling refusal: a used-up quota or an expiry says more than "nothing".
        let mut telling = None;
        for e in self.entitlements.iter().filter(|e| e.who.matches(who)) {
            if !e.drive_ok(drive) {
                continue;
            }
            if let Some(until) = e.valid_until.filter(|until| now >= *until) {
                telling = telling.or(Some(Refusal::Expired {
                    image: e.name.clone(),
                    until,
                }));
                continue;
            }
            match e.remaining(who, now, usage) {
                Ok(_) => return Ok(()),
                Err(refusal) => telling = Some(refusal),
            }
        }
        Err(telling.unwrap_or_else(|| Refusal::NothingToBurn {
            user: who.display.to_owned(),
            drive: drive.to_owned(),
        }))
    }
}
