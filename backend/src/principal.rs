//! Kerberos principal names as the station compares them.
//!
//! Policy compares **exported names** (RFC 2743 §3.2, the GSSAPI canonical form), never display
//! strings: the master's principal comes from the GSSAPI context (`Principal::exported()`), the
//! user's from the identity block (`user_exported_name`), and configured names are parsed into
//! the same form with `Principal::parse` at start-up (or when a sidecar is read). A configured
//! name without a realm takes krb5.conf's default realm; one that cannot be parsed is an error.

use burnstand_wire::gss::Principal;

use crate::error::Result;

/// The exported name of `principal` (e.g. `alice@CAMPUS.EDU`).
pub fn exported_name(principal: &str) -> Result<Vec<u8>> {
    Ok(Principal::parse(principal)?.exported().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_qualified_names_export_without_a_kdc() {
        let a = exported_name("alice@BURNSTAND.TEST").unwrap();
        assert_eq!(a, exported_name("alice@BURNSTAND.TEST").unwrap());
        assert_ne!(a, exported_name("alice@OTHER.TEST").unwrap());
        assert!(a.ends_with(b"alice@BURNSTAND.TEST"));
    }
}
