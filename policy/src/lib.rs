//! burnstand's policy: who may burn which restricted image, how many copies, until when.
//!
//! One TOML file (`docs/policy.md`) is read by the master and by every station. Images are
//! named by **SHA-256**, not by file name, so replacing an image file can never carry an
//! entitlement over to other bytes. Principals are compared as GSSAPI **exported names**.
//! The master uses the policy to refuse early a BIND that could not lead to any permitted
//! burn ([`Policy::may_bind`]); the station has the final say on each BURN
//! ([`Policy::may_burn`]). Copies are counted from `burn.receipt` audit records by a
//! [`UsageIndex`]. This crate does no I/O beyond reading the policy file and scanning a log.

#![forbid(unsafe_code)]

mod digest;
mod error;
mod file;
mod policy;
mod usage;

pub use crate::digest::digest_of;
pub use crate::error::{PolicyError, Refusal};
pub use crate::file::MAX_POLICY_LEN;
pub use crate::policy::{Entitlement, Policy, Remaining, Subject, ANONYMOUS_REALM};
pub use crate::usage::{Burn, Usage, UsageIndex, MAX_USAGE_ENTRIES, RECEIPT_EVENT};

#[cfg(test)]
mod tests;
