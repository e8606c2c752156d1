//! Errors loading a policy, and the reasons a user is refused.

use std::path::PathBuf;
use std::time::SystemTime;

/// A policy file that cannot be used; the daemon does not start with it.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy file {path} is larger than {max} bytes; is it the right file?")]
    TooLarge { path: PathBuf, max: u64 },
    #[error("policy file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("policy file {path} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("cannot read the audit log to count copies: {0}")]
    Audit(#[from] burnstand_audit::Error),
}

/// Why a principal may not do what it asked. `Display` is the text the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the anonymous principal is not accepted here; log in with your own account (kinit)")]
    Anonymous,
    #[error(
        "principals of realm {realm} are not accepted here; log in with an account of {accepted}"
    )]
    ForeignRealm { realm: String, accepted: String },
    #[error("no entitlement: {user} may not burn image {sha256}")]
    NotEntitled { user: String, sha256: String },
    #[error("the entitlement to burn {image} ended at {}", humantime::format_rfc3339_seconds(*until))]
    Expired { image: String, until: SystemTime },
    #[error("{image} may not be burned on a {drive} station")]
    WrongDrive { image: String, drive: String },
    #[error("quota used up: {used} of {copies} copies of {image}{}", period.as_deref().map(|p| format!(" in the last {p}")).unwrap_or_default())]
    QuotaUsedUp {
        image: String,
        used: u32,
        copies: u32,
        period: Option<String>,
    },
    #[error("{user} is not entitled to burn any image on a {drive} station now")]
    NothingToBurn { user: String, drive: String },
}
