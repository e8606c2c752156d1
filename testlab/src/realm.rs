//! A kdc-test realm with burnstand's services, and the Kerberos environment of a test process.

use std::path::Path;

use kdc_test::{Realm, RealmBuilder};

/// The realm every test lab runs in (`bench` uses a realm of its own name).
pub const REALM: &str = "BURNSTAND.TEST";
/// The master's service principal (without the realm).
pub const MASTER: &str = "burnstand/localhost";
/// The stations' service principal (without the realm).
pub const STATION: &str = "burnstand-station/localhost";

/// The password a lab gives `user`: `{user}-pw`.
pub fn password(user: &str) -> String {
    format!("{user}-pw")
}

/// A realm `name` with the [`MASTER`] and [`STATION`] services and `users` (each with its
/// [`password`]); the caller adds what its lab needs (ticket lifetime, anonymous PKINIT, more
/// users) and starts it.
pub fn realm_builder(name: &str, users: &[&str]) -> RealmBuilder {
    let mut builder = RealmBuilder::new(name).service(MASTER).service(STATION);
    for user in users {
        builder = builder.user(*user, password(user));
    }
    builder
}

/// A keytab path as a Kerberos keytab name: `FILE:path`.
pub fn file_kt(path: &Path) -> String {
    format!("FILE:{}", path.display())
}

/// Sets the realm's environment in this process, then `KRB5_KTNAME` to the `acceptor` keytab
/// (what this process accepts with) and `KRB5_CLIENT_KTNAME` to the `initiator` keytab (what it
/// initiates with), where given; without, they name a keytab that does not exist.
///
/// The environment is process-global: call it before any runtime thread exists, one test per
/// process (nextest).
pub fn apply_env(
    realm: &Realm,
    acceptor: Option<&Path>,
    initiator: Option<&Path>,
) -> kdc_test::Result<()> {
    realm.apply_to_process(None)?;
    if let Some(keytab) = acceptor {
        std::env::set_var("KRB5_KTNAME", file_kt(keytab));
    }
    if let Some(keytab) = initiator {
        std::env::set_var("KRB5_CLIENT_KTNAME", file_kt(keytab));
    }
    Ok(())
}

/// Exports the keys of `principals` (names without the realm) into one new keytab `file`.
pub fn merged_keytab(realm: &Realm, file: &Path, principals: &[&str]) {
    let names: Vec<String> = principals.iter().map(|p| realm.principal(p)).collect();
    let query = format!("ktadd -norandkey -k {} {}", file.display(), names.join(" "));
    let out = realm
        .command("kadmin.local")
        .arg("-r")
        .arg(realm.name())
        .arg("-q")
        .arg(&query)
        .output()
        .expect("run kadmin.local");
    assert!(
        out.status.success(),
        "kadmin.local {query}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
