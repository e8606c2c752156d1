//! Certificates for anonymous PKINIT: a throwaway CA and a KDC certificate signed by it.
//!
//! MIT's anonymous principal (`kinit -n`) needs PKINIT (package krb5-pkinit): the client checks
//! the KDC's certificate against `pkinit_anchors`, so the realm makes its own CA. Keys are EC
//! P-256 because generating them is instant (RSA-2048 costs up to a second per key).

use crate::admin::{run, tool};
use crate::config::Paths;
use crate::error::{Error, Result};

/// Where Debian installs the PKINIT plugin; without it `kinit -n` cannot work.
const PLUGIN: &str = "/usr/lib/x86_64-linux-gnu/krb5/plugins/preauth/pkinit.so";

/// Checks that the PKINIT plugin is installed (multiarch paths other than x86_64 are accepted too).
pub(crate) fn check_plugin() -> Result<()> {
    let found = std::path::Path::new(PLUGIN).exists()
        || std::fs::read_dir("/usr/lib")
            .map(|dirs| {
                dirs.filter_map(|d| d.ok())
                    .any(|d| d.path().join("krb5/plugins/preauth/pkinit.so").exists())
            })
            .unwrap_or(false);
    if found {
        Ok(())
    } else {
        Err(Error::Unsupported(
            "anonymous PKINIT needs the krb5-pkinit package (pkinit.so); \
             run scripts/install-deps.sh"
                .into(),
        ))
    }
}

/// Creates `pkinit/cacert.pem`, `pkinit/kdc.pem` and `pkinit/kdckey.pem` for `realm`, using the
/// sections of the realm's openssl.cnf.
pub(crate) fn make_certificates(paths: &Paths) -> Result<()> {
    check_plugin()?;
    let dir = &paths.pkinit_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io_path("creating", dir, e))?;
    let ca_key = dir.join("cakey.pem");
    let csr = dir.join("kdc.csr");
    let conf = paths.openssl_conf.as_os_str();

    let mut ca = tool(paths, "openssl")?;
    ca.args(["req", "-x509", "-new", "-nodes", "-days", "7"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .arg("-config")
        .arg(conf)
        .args(["-extensions", "ca_cert", "-subj", "/CN=kdc-test CA"])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(paths.ca_cert());
    run(ca, "openssl req -x509 (kdc-test CA)", None)?;

    let mut req = tool(paths, "openssl")?;
    req.args(["req", "-new", "-nodes"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        .arg("-config")
        .arg(conf)
        .args(["-subj", "/CN=kdc-test KDC"])
        .arg("-keyout")
        .arg(paths.kdc_key())
        .arg("-out")
        .arg(&csr);
    run(req, "openssl req -new (KDC key)", None)?;

    let mut sign = tool(paths, "openssl")?;
    sign.args(["x509", "-req", "-days", "7", "-set_serial", "2"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(paths.ca_cert())
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(conf)
        .args(["-extensions", "kdc_cert"])
        .arg("-out")
        .arg(paths.kdc_cert());
    run(sign, "openssl x509 -req (KDC certificate)", None)?;
    Ok(())
}
