//! The TLS side of the status page: rustls (TLS 1.2 and 1.3 only, ring's cipher suites) with
//! the certificate chain and key from `[web]`'s PEM files, offering HTTP/2 and HTTP/1.1 by ALPN.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::web::WebSettings;

/// Largest PEM file read: a chain of a few certificates is a few KiB.
pub const MAX_PEM_LEN: u64 = 1024 * 1024;

/// Why the TLS configuration cannot be built; the text names the file and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| TlsError(format!("cannot read the {what} {}: {e}", path.display())))?;
    if meta.len() > MAX_PEM_LEN {
        return Err(TlsError(format!(
            "the {what} {} is larger than {MAX_PEM_LEN} bytes: not a PEM file",
            path.display()
        )));
    }
    std::fs::read(path)
        .map_err(|e| TlsError(format!("cannot read the {what} {}: {e}", path.display())))
}

/// Loads and checks `[web]`'s certificate and key: the rustls server configuration.
/// `--check-config` calls it too, so a wrong file is found before the start.
pub fn server_config(web: &WebSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let pem = read_pem(&web.certificate, "certificate")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TlsError(format!(
                "certificate {} is not PEM: {e}",
                web.certificate.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(TlsError(format!(
            "certificate {} holds no CERTIFICATE block",
            web.certificate.display()
        )));
    }
    let pem = read_pem(&web.private_key, "private key")?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        TlsError(format!(
            "private key {} holds no PEM private key: {e}",
            web.private_key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            TlsError(format!(
                "certificate {} and private key {} do not form a usable pair: {e}",
                web.certificate.display(),
                web.private_key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
