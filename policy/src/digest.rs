//! The policy's digest: how the master and its stations tell whether they run the same policy.
//!
//! It is the SHA-256 of the policy file's **bytes as read** (not of a parsed, canonical form),
//! so it is exactly what `sha256sum policy.toml` prints on each host. Distributing one file
//! to every host (the intended practice, `docs/operations.md`) gives one digest everywhere;
//! a file that differs in any byte, even a comment, is reported as different, which is what
//! an admin checking a copy wants to know. A parsed form would hide edits that change nothing
//! today but would change meaning with another home realm, and would tie the digest to this
//! build's parser.

use burnstand_wire::burner::Sha256;
use sha2::Digest;

/// The digest of policy text `bytes` (see the module docs).
pub fn digest_of(bytes: &[u8]) -> Sha256 {
    Sha256(sha2::Sha256::digest(bytes).into())
}
