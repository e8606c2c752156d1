//! The files of a realm directory and the text of krb5.conf, kdc.conf and openssl.cnf.
//!
//! Every path the krb5 tools use is spelled out here, so that nothing falls back to the
//! compiled-in defaults under /etc/krb5*, /var/lib/krb5kdc or /var/tmp.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};

/// Names of the entries that a realm creates in its directory (used to clean a reused dir).
pub(crate) const OWNED_ENTRIES: &[&str] = &[
    "krb5.conf",
    "kdc.conf",
    "openssl.cnf",
    "kadm5.acl",
    "principal",
    "principal.kadm5",
    "principal.kadm5.lock",
    "principal.ok",
    "stash",
    "ccache",
    "rcache",
    "keytabs",
    "pkinit",
    "kdc.log",
    "kdc.out",
    "kadmin.log",
    "krb5lib.log",
    "kdc.pid",
    MARKER,
];

/// Marks a directory as created by kdc-test, so a later run may clean it up.
pub(crate) const MARKER: &str = ".kdc-test-realm";

/// All paths of one realm, derived from its directory.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub dir: PathBuf,
    pub krb5_conf: PathBuf,
    pub kdc_conf: PathBuf,
    pub openssl_conf: PathBuf,
    pub acl: PathBuf,
    pub database: PathBuf,
    pub stash: PathBuf,
    pub ccache: PathBuf,
    pub rcache_dir: PathBuf,
    pub keytab_dir: PathBuf,
    /// Where KRB5_KTNAME / KRB5_CLIENT_KTNAME point when no service is chosen: a file that never
    /// exists, so nobody silently falls back to /etc/krb5.keytab.
    pub no_keytab: PathBuf,
    pub pkinit_dir: PathBuf,
    pub kdc_log: PathBuf,
    pub kdc_out: PathBuf,
    pub kadmin_log: PathBuf,
    pub lib_log: PathBuf,
    pub kdc_pid: PathBuf,
}

impl Paths {
    pub fn new(dir: &Path) -> Self {
        let p = |name: &str| dir.join(name);
        let keytab_dir = p("keytabs");
        Paths {
            dir: dir.to_path_buf(),
            krb5_conf: p("krb5.conf"),
            kdc_conf: p("kdc.conf"),
            openssl_conf: p("openssl.cnf"),
            acl: p("kadm5.acl"),
            database: p("principal"),
            stash: p("stash"),
            ccache: p("ccache"),
            rcache_dir: p("rcache"),
            no_keytab: keytab_dir.join("none.keytab"),
            keytab_dir,
            pkinit_dir: p("pkinit"),
            kdc_log: p("kdc.log"),
            kdc_out: p("kdc.out"),
            kadmin_log: p("kadmin.log"),
            lib_log: p("krb5lib.log"),
            kdc_pid: p("kdc.pid"),
        }
    }

    /// PKINIT files (only present for realms built with `.anonymous(true)`).
    pub fn ca_cert(&self) -> PathBuf {
        self.pkinit_dir.join("cacert.pem")
    }
    pub fn kdc_cert(&self) -> PathBuf {
        self.pkinit_dir.join("kdc.pem")
    }
    pub fn kdc_key(&self) -> PathBuf {
        self.pkinit_dir.join("kdckey.pem")
    }

    /// The environment that selects this realm's files, in a fixed order.
    pub fn env(&self) -> Vec<(String, OsString)> {
        let file = |p: &Path| {
            let mut s = OsString::from("FILE:");
            s.push(p.as_os_str());
            s
        };
        vec![
            ("KRB5_CONFIG".into(), self.krb5_conf.clone().into()),
            ("KRB5_KDC_PROFILE".into(), self.kdc_conf.clone().into()),
            ("KRB5CCNAME".into(), file(&self.ccache)),
            ("KRB5RCACHEDIR".into(), self.rcache_dir.clone().into()),
            ("KRB5_KTNAME".into(), file(&self.no_keytab)),
            ("KRB5_CLIENT_KTNAME".into(), file(&self.no_keytab)),
            ("OPENSSL_CONF".into(), self.openssl_conf.clone().into()),
        ]
    }
}

/// Environment variables that select krb5 behaviour but that `Paths::env` does not set; they are
/// removed from every child so that the parent's environment cannot leak in (e.g. a developer's
/// `KRB5RCACHETYPE=none` would silently disable replay detection).
pub(crate) const FOREIGN_VARS: &[&str] = &["KRB5RCACHETYPE", "KRB5RCACHENAME"];

/// What krb5.conf needs to know about one realm.
#[derive(Debug, Clone)]
pub(crate) struct RealmEntry {
    pub name: String,
    pub port: u16,
    /// Trust anchor for anonymous PKINIT, if the realm has one.
    pub pkinit_anchor: Option<PathBuf>,
}

/// A krb5 relative time: whole seconds, at least 1.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// Text of a client/library krb5.conf listing `realms`; the first one is the default realm and
/// owns `localhost` / `127.0.0.1`. Direct [capaths] between all listed realms let a client use
/// a cross-realm TGT without guessing a hierarchical path through `.TEST`.
pub(crate) fn krb5_conf(
    realms: &[RealmEntry],
    lifetime: Option<Duration>,
    clock_skew: Option<Duration>,
    enctypes: &[String],
) -> String {
    let mut s = String::new();
    let default = realms.first().map(|r| r.name.as_str()).unwrap_or("");
    s.push_str("# Written by kdc-test: a throwaway realm for tests. Do not edit.\n");
    s.push_str("[libdefaults]\n");
    let _ = writeln!(s, "    default_realm = {default}");
    s.push_str("    dns_lookup_kdc = false\n");
    s.push_str("    dns_lookup_realm = false\n");
    s.push_str("    dns_canonicalize_hostname = false\n");
    s.push_str("    rdns = false\n");
    s.push_str("    udp_preference_limit = 1\n");
    if let Some(l) = lifetime {
        let _ = writeln!(s, "    ticket_lifetime = {}", seconds(l));
        let _ = writeln!(s, "    renew_lifetime = {}", seconds(l));
    }
    if let Some(skew) = clock_skew {
        // MIT reads clockskew as a plain number of seconds: "5s" would be ignored silently
        // (falling back to 300 s, which acceptors add to a context's lifetime).
        let _ = writeln!(s, "    clockskew = {}", skew.as_secs().max(1));
    }
    if !enctypes.is_empty() {
        // Session keys, subkeys and tickets of this realm's clients and services: only these.
        let _ = writeln!(s, "    permitted_enctypes = {}", enctypes.join(" "));
    }
    s.push_str("\n[realms]\n");
    for r in realms {
        let _ = writeln!(s, "    {} = {{", r.name);
        let _ = writeln!(s, "        kdc = 127.0.0.1:{}", r.port);
        if let Some(a) = &r.pkinit_anchor {
            let _ = writeln!(s, "        pkinit_anchors = FILE:{}", a.display());
        }
        s.push_str("    }\n");
    }
    s.push_str("\n[domain_realm]\n");
    let _ = writeln!(s, "    localhost = {default}");
    let _ = writeln!(s, "    127.0.0.1 = {default}");
    if realms.len() > 1 {
        s.push_str("\n[capaths]\n");
        for client in realms {
            let _ = writeln!(s, "    {} = {{", client.name);
            for server in realms.iter().filter(|r| r.name != client.name) {
                let _ = writeln!(s, "        {} = .", server.name);
            }
            s.push_str("    }\n");
        }
    }
    s
}

/// Text of kdc.conf: TCP only on 127.0.0.1:`port` (UDP listeners disabled, so only one port has
/// to be found free and verified), database, stash, ACL and logs in the realm directory.
pub(crate) fn kdc_conf(
    realm: &str,
    port: u16,
    paths: &Paths,
    lifetime: Option<Duration>,
    pkinit: bool,
    enctypes: &[String],
) -> String {
    let mut s = String::new();
    s.push_str("# Written by kdc-test: a throwaway realm for tests. Do not edit.\n");
    s.push_str("[kdcdefaults]\n");
    s.push_str("    kdc_listen = \"\"\n");
    s.push_str("    kdc_ports = \"\"\n");
    let _ = writeln!(s, "    kdc_tcp_listen = 127.0.0.1:{port}");
    s.push_str("    kdc_tcp_ports = \"\"\n");
    s.push_str("\n[realms]\n");
    let _ = writeln!(s, "    {realm} = {{");
    let _ = writeln!(s, "        database_name = {}", paths.database.display());
    let _ = writeln!(s, "        key_stash_file = {}", paths.stash.display());
    let _ = writeln!(s, "        acl_file = {}", paths.acl.display());
    if let Some(l) = lifetime {
        let _ = writeln!(s, "        max_life = {}", seconds(l));
        let _ = writeln!(s, "        max_renewable_life = {}", seconds(l));
    }
    if !enctypes.is_empty() {
        // The long-term keys kdb5_util and addprinc create (krbtgt, users, services).
        let keys: Vec<String> = enctypes.iter().map(|e| format!("{e}:normal")).collect();
        let _ = writeln!(s, "        supported_enctypes = {}", keys.join(" "));
    }
    if pkinit {
        let _ = writeln!(
            s,
            "        pkinit_identity = FILE:{},{}",
            paths.kdc_cert().display(),
            paths.kdc_key().display()
        );
        let _ = writeln!(
            s,
            "        pkinit_anchors = FILE:{}",
            paths.ca_cert().display()
        );
    }
    s.push_str("    }\n");
    s.push_str("\n[logging]\n");
    let _ = writeln!(s, "    kdc = FILE:{}", paths.kdc_log.display());
    let _ = writeln!(s, "    admin_server = FILE:{}", paths.kadmin_log.display());
    let _ = writeln!(s, "    default = FILE:{}", paths.lib_log.display());
    s
}

/// Text of openssl.cnf. It is OPENSSL_CONF for every child: once krb5-pkinit is installed every
/// krb5 program loads libcrypto, which otherwise reads /usr/lib/ssl/openssl.cnf (a link into /etc).
/// The `kdc_cert` section gives a KDC certificate the PKINIT EKU and the
/// `krbtgt/REALM@REALM` KRB5PrincipalName SAN that MIT clients check (RFC 4556, 3.2.4).
pub(crate) fn openssl_conf(realm: &str) -> String {
    format!(
        r#"# Written by kdc-test: keeps OpenSSL away from /etc/ssl and makes PKINIT certificates.
[req]
distinguished_name = dn
prompt = no

[dn]
CN = kdc-test

[ca_cert]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[kdc_cert]
basicConstraints = CA:FALSE
keyUsage = nonRepudiation,digitalSignature,keyEncipherment,keyAgreement
extendedKeyUsage = 1.3.6.1.5.2.3.5
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
subjectAltName = otherName:1.3.6.1.5.2.2;SEQUENCE:kdc_princ_name

[kdc_princ_name]
realm = EXP:0,GeneralString:{realm}
principal_name = EXP:1,SEQUENCE:kdc_principal_seq

[kdc_principal_seq]
name_type = EXP:0,INTEGER:2
name_string = EXP:1,SEQUENCE:kdc_principals

[kdc_principals]
princ1 = GeneralString:krbtgt
princ2 = GeneralString:{realm}
"#
    )
}

/// Checks a realm name: upper-case letters, digits, dots and dashes, so that it is safe in
/// config files, kadmin queries and the openssl config.
pub(crate) fn check_realm(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && !name.starts_with('.')
        && !name.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "realm",
            value: name.to_string(),
            why: "use upper-case ASCII letters, digits, '.' and '-' (e.g. BURNSTAND.TEST)",
        })
    }
}

/// Checks a principal name without realm (`alice`, `burnstand/localhost`).
pub(crate) fn check_principal(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && !name.starts_with('/')
        && !name.ends_with('/');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "principal",
            value: name.to_string(),
            why: "use ASCII letters, digits, '.', '_', '-' and '/' and no realm part",
        })
    }
}

/// Checks a krb5 enctype name (`aes256-cts-hmac-sha1-96`): it goes into krb5.conf and kdc.conf.
pub(crate) fn check_enctype(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "enctype",
            value: name.to_string(),
            why: "use a krb5 enctype name such as aes256-cts-hmac-sha1-96",
        })
    }
}

/// Checks a password: it travels inside a kadmin.local query, which splits on white space and
/// interprets quotes.
pub(crate) fn check_password(pw: &str) -> Result<()> {
    let ok = !pw.is_empty()
        && pw.len() <= 256
        && pw
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\'' && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "password",
            value: "(hidden)".into(),
            why: "use printable ASCII without spaces, quotes or backslashes",
        })
    }
}

/// File name of a keytab for `principal`, `/` replaced; `generation` > 0 after key rotations.
pub(crate) fn keytab_file(paths: &Paths, principal: &str, generation: u32) -> PathBuf {
    let base = principal.replace('/', "_");
    if generation == 0 {
        paths.keytab_dir.join(format!("{base}.keytab"))
    } else {
        paths.keytab_dir.join(format!("{base}.{generation}.keytab"))
    }
}

/// Writes a file, with the path in the error.
pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io_path("writing", path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn realm_names() {
        assert!(check_realm("BURNSTAND.TEST").is_ok());
        assert!(check_realm("burnstand.test").is_err());
        assert!(check_realm("A B").is_err());
        assert!(check_realm("").is_err());
    }

    #[test]
    fn principal_names_and_passwords() {
        assert!(check_principal("burnstand/localhost").is_ok());
        assert!(check_principal("alice@X").is_err());
        assert!(check_principal("a b").is_err());
        assert!(check_password("alice-pw").is_ok());
        assert!(check_password("a b").is_err());
        assert!(check_password("a\"b").is_err());
    }

    #[test]
    fn krb5_conf_forces_tcp_and_lists_realms() {
        let a = RealmEntry {
            name: "A.TEST".into(),
            port: 1000,
            pkinit_anchor: None,
        };
        let b = RealmEntry {
            name: "B.TEST".into(),
            port: 2000,
            pkinit_anchor: None,
        };
        let text = krb5_conf(&[a, b], Some(Duration::from_secs(30)), None, &[]);
        assert!(text.contains("udp_preference_limit = 1"));
        assert!(text.contains("kdc = 127.0.0.1:1000"));
        assert!(text.contains("kdc = 127.0.0.1:2000"));
        assert!(text.contains("default_realm = A.TEST"));
        assert!(text.contains("ticket_lifetime = 30s"));
        assert!(text.contains("[capaths]"));
        assert!(!text.contains("ignore_acceptor_hostname"));
    }
}
