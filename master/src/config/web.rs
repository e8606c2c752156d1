//! `[web]`: the HTTPS status page (`docs/master.md`, "Status page"). Off unless the section
//! is present; then `listen`, `certificate` and `private_key` are required.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// Default `session_lifetime`: a browser logs in again (silently, with its ticket) after this.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Longest `session_lifetime` accepted: a stolen cookie must not outlive a working day.
pub const MAX_SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// Shortest `session_lifetime` accepted.
pub const MIN_SESSION_LIFETIME: Duration = Duration::from_secs(30);

/// The `[web]` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeb {
    listen: String,
    certificate: PathBuf,
    private_key: PathBuf,
    #[serde(default)]
    service_principal: Option<String>,
    #[serde(default)]
    public_wall: bool,
    #[serde(default = "default_lifetime", deserialize_with = "duration")]
    session_lifetime: Duration,
}

fn default_lifetime() -> Duration {
    DEFAULT_SESSION_LIFETIME
}

/// The validated `[web]` section.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Address of the HTTPS listener.
    pub listen: SocketAddr,
    /// PEM file with the server certificate chain (leaf first).
    pub certificate: PathBuf,
    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// The principal browsers get tickets for, `HTTP/host@REALM`; its key must be in the
    /// master's keytab.
    pub service_principal: String,
    /// Whether visitors without a login see the wall view (stations, queue length, no names).
    pub public_wall: bool,
    /// How long a login's cookie is valid (never longer than the ticket behind it).
    pub session_lifetime: Duration,
}

impl RawWeb {
    /// Checks the section; `principal` is the master's own, whose realm the default service
    /// principal takes.
    pub(super) fn validate(
        self,
        principal: &str,
        problems: &mut super::validate::Problems,
    ) -> WebSettings {
        let listen = self.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
            problems.push(format!(
                "[web] listen = {:?} is not an address like \"0.0.0.0:443\"",
                self.listen
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        if !(MIN_SESSION_LIFETIME..=MAX_SESSION_LIFETIME).contains(&self.session_lifetime) {
            problems.push(format!(
                "[web] session_lifetime = {:?} must be between {:?} and {:?}",
                self.session_lifetime, MIN_SESSION_LIFETIME, MAX_SESSION_LIFETIME
            ));
        }
        let realm = principal.rsplit_once('@').map_or("", |(_, realm)| realm);
        let service_principal = self
            .service_principal
            .unwrap_or_else(|| default_service_principal(listen, realm));
        if !service_principal.starts_with("HTTP/") || !service_principal.contains('@') {
            problems.push(format!(
                "[web] service_principal = {service_principal:?} must look like \
                 \"HTTP/host.example.org@REALM\": browsers ask for HTTP/<host of the URL>"
            ));
        }
        WebSettings {
            listen,
            certificate: self.certificate,
            private_key: self.private_key,
            service_principal,
            public_wall: self.public_wall,
            session_lifetime: self.session_lifetime,
        }
    }
}

/// `HTTP/<host>@<realm>`: `localhost` for a loopback listener, else this machine's host name
/// (browsers ask for a ticket for the host name in the URL).
fn default_service_principal(listen: SocketAddr, realm: &str) -> String {
    let host = if listen.ip().is_loopback() {
        "localhost".to_owned()
    } else {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    };
    format!("HTTP/{host}@{realm}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (WebSettings, Vec<String>) {
        let raw: RawWeb = toml::from_str(text).expect("TOML");
        let mut problems = super::super::validate::Problems::default();
        let web = raw.validate("burnstand/master.lab@LAB.TEST", &mut problems);
        (
            web,
            problems
                .into_result()
                .err()
                .map(|e| vec![e.to_string()])
                .unwrap_or_default(),
        )
    }

    const MINIMAL: &str =
        "listen = \"127.0.0.1:8443\"\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n";

    #[test]
    fn defaults_are_off_for_the_wall_and_fifteen_minutes_for_sessions() {
        let (web, problems) = parse(MINIMAL);
        assert!(problems.is_empty(), "{problems:?}");
        assert!(!web.public_wall);
        assert_eq!(web.session_lifetime, DEFAULT_SESSION_LIFETIME);
        assert_eq!(web.service_principal, "HTTP/localhost@LAB.TEST");
    }

    #[test]
    fn bad_values_are_named() {
        let text = format!(
            "{}session_lifetime = \"9h\"\nservice_principal = \"web@LAB.TEST\"\n",
            MINIMAL.replace("127.0.0.1:8443", "nowhere")
        );
        let (_, problems) = parse(&text);
        let message = problems.join("\n");
        for needle in ["nowhere", "session_lifetime", "web@LAB.TEST"] {
            assert!(message.contains(needle), "{needle} missing: {message}");
        }
        assert!(toml::from_str::<RawWeb>(&format!("{MINIMAL}publik_wall = true")).is_err());
    }
}
