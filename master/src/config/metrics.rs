//! `[metrics]`: the plaintext Prometheus listener (see `crate::metrics`). Off unless `listen`
//! is set.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[metrics]` as configured.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Where `GET /metrics` is served, plaintext HTTP, e.g. "127.0.0.1:9464". Unset: no
    /// listener. Scrapers need no Kerberos, so bind it to loopback or a monitoring network.
    pub listen: Option<SocketAddr>,
}
