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

/// The name components and the realm of a principal's display form (`service/host@REALM` has
/// two components), honouring krb5's backslash escapes (`a\/b@R` is one component).
pub fn components(display: &str) -> (Vec<String>, Option<String>) {
    let mut components = Vec::new();
    let mut current = String::new();
    let mut in_realm = false;
    let mut chars = display.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            '/' if !in_realm => components.push(std::mem::take(&mut current)),
            '@' if !in_realm => {
                components.push(std::mem::take(&mut current));
                in_realm = true;
            }
            c => current.push(c),
        }
    }
    if in_realm {
        (components, Some(current))
    } else {
        components.push(current);
        (components, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_realm_honour_escapes() {
        let (names, realm) = components("burnstand/master.lab@CAMPUS.EDU");
        assert_eq!(names, ["burnstand", "master.lab"]);
        assert_eq!(realm.as_deref(), Some("CAMPUS.EDU"));
        let (names, realm) = components("alice@CAMPUS.EDU");
        assert_eq!(names, ["alice"]);
        assert_eq!(realm.as_deref(), Some("CAMPUS.EDU"));
        let (names, _) = components("odd\\/name@R");
        assert_eq!(names, ["odd/name"]);
        let (names, realm) = components("a\\@b/c");
        assert_eq!(names, ["a@b", "c"]);
        assert_eq!(realm, None);
    }

    #[test]
    fn realm_qualified_names_export_without_a_kdc() {
        let a = exported_name("alice@BURNSTAND.TEST").unwrap();
        assert_eq!(a, exported_name("alice@BURNSTAND.TEST").unwrap());
        assert_ne!(a, exported_name("alice@OTHER.TEST").unwrap());
        assert!(a.ends_with(b"alice@BURNSTAND.TEST"));
    }
}
