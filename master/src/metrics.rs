//! Prometheus metrics: what the master counts, and the plaintext `GET /metrics` listener a
//! scraper reads them from (`[metrics] listen`, off by default).
//!
//! Why a separate plaintext listener: a scraper has no Kerberos ticket, and nothing here is
//! secret — counts, station names and states, never users, peer addresses, image digests or
//! payload. Bind it to loopback or a monitoring network (`docs/master.md`, "Metrics").
//!
//! **Cardinality is bounded by construction**: every label value comes from a closed set — an
//! enum here ([`HandshakeResult`], [`BindResult`], [`Direction`], the station conditions) or
//! the configuration (station names, station type names). A peer can move a counter, never
//! add a series.
//!
//! Counters and histograms are moved by one-line calls where things happen; the gauges that
//! describe the farm (stations by state, queue length per type, audit log health) are computed
//! from the registry, the lobby and the audit log at each scrape, so a drive error or an audit
//! log that failed closed shows at the next scrape, not at the next user.
//!
//! The listener is bounded: at most [`MAX_SCRAPE_CONNECTIONS`] at once, requests of at most
//! [`MAX_REQUEST_BYTES`], each connection closed after [`SCRAPE_TIMEOUT`] and after one answer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use burnstand_wire::farm::Condition;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::Shared;

/// Scrape connections served at once; more are closed at accept. A scraper needs one; a few
/// more leave room for a person with curl.
pub const MAX_SCRAPE_CONNECTIONS: usize = 8;
/// Largest request (line and headers) read: hyper's smallest buffer. A scrape request is a
/// few hundred bytes; 8 connections × 8 KiB bound the listener's read buffers to 64 KiB.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// A scrape connection is closed this long after it was accepted, answered or not.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// The content type of the text encoding (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The prefix of every metric name.
pub const PREFIX: &str = "burnstand_master";

/// How a Kerberos handshake on the client port ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum HandshakeResult {
    /// Authenticated, recorded (`auth.ok`) and greeted.
    Ok,
    /// The handshake failed (bad or expired ticket, timeout, garbage).
    Failed,
    /// Authenticated but refused: login budget or connections per principal exhausted.
    Refused,
}

/// How a BIND or RESERVE ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum BindResult {
    /// A reservation was made (at once, or handed over from the queue).
    Reserved,
    /// The user joined the wait queue.
    Queued,
    /// Refused by the policy (no entitlement for any image on that drive).
    Denied,
    /// Refused otherwise (no station, not permitted, queue full, shutting down).
    Refused,
}

/// Which way relayed bytes went.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Direction {
    /// Client (module connection) to station.
    ToStation,
    /// Station to client.
    ToClient,
}

impl HandshakeResult {
    fn as_str(self) -> &'static str {
        match self {
            HandshakeResult::Ok => "ok",
            HandshakeResult::Failed => "failed",
            HandshakeResult::Refused => "refused",
        }
    }
}

impl BindResult {
    fn as_str(self) -> &'static str {
        match self {
            BindResult::Reserved => "reserved",
            BindResult::Queued => "queued",
            BindResult::Denied => "denied",
            BindResult::Refused => "refused",
        }
    }
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ToStation => "to_station",
            Direction::ToClient => "to_client",
        }
    }
}

macro_rules! label_value {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    )*};
}
label_value!(HandshakeResult, BindResult, Direction);

/// The station conditions, as `state` label values.
const STATES: [(Condition, &str); 5] = [
    (Condition::Free, "free"),
    (Condition::Busy, "busy"),
    (Condition::Drained, "drained"),
    (Condition::Quarantined, "quarantined"),
    (Condition::Offline, "offline"),
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabel {
    result: HandshakeResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BindLabel {
    result: BindResult,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: Direction,
}

/// A configured station's name.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StationLabel {
    station: String,
}

/// A station type's name (as LIST shows it, e.g. "DVD burner").
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    station_type: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Every metric of the master, registered once at start-up.
pub struct Metrics {
    registry: Registry,
    sessions: Gauge,
    handshakes: Family<HandshakeLabel, Counter>,
    binds: Family<BindLabel, Counter>,
    queue_length: Family<TypeLabel, Gauge>,
    queue_wait: Histogram,
    burns: Family<StationLabel, Counter>,
    verify_failures: Family<StationLabel, Counter>,
    relay_bytes: Family<DirectionLabel, Counter>,
    audit_write: Histogram,
    stations: Family<StateLabel, Gauge>,
    audit_healthy: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers every metric; the labelled series of the configured stations and types start
    /// at zero, so a scraper sees them before anything happened.
    pub fn new(config: &Config) -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let metrics = Metrics {
            sessions: Gauge::default(),
            handshakes: Family::default(),
            binds: Family::default(),
            queue_length: Family::default(),
            // 1 s … about 9 h.
            queue_wait: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            burns: Family::default(),
            verify_failures: Family::default(),
            relay_bytes: Family::default(),
            // 0.25 ms … about 4 s: an fsync on a healthy disk takes milliseconds.
            audit_write: Histogram::new(exponential_buckets(0.000_25, 2.0, 15)),
            stations: Family::default(),
            audit_healthy: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "sessions",
            "Authenticated client connections open now",
            metrics.sessions.clone(),
        );
        registry.register(
            "handshakes",
            "Kerberos handshakes on the client port, by result (ok, failed, refused)",
            metrics.handshakes.clone(),
        );
        registry.register(
            "binds",
            "BIND and RESERVE requests, by result (reserved, queued, denied, refused)",
            metrics.binds.clone(),
        );
        registry.register(
            "queue_length",
            "Users waiting in the queue, per station type",
            metrics.queue_length.clone(),
        );
        registry.register(
            "queue_wait_seconds",
            "Time from joining the queue to getting a station",
            metrics.queue_wait.clone(),
        );
        registry.register(
            "burns",
            "Copies with a receipt, per station (any result)",
            metrics.burns.clone(),
        );
        registry.register(
            "verify_failures",
            "Copies whose verify failed, per station",
            metrics.verify_failures.clone(),
        );
        registry.register(
            "relay_bytes",
            "Plaintext bytes relayed between clients and stations, by direction",
            metrics.relay_bytes.clone(),
        );
        registry.register(
            "audit_write_seconds",
            "Time of one audit log append, fsync included",
            metrics.audit_write.clone(),
        );
        registry.register(
            "stations",
            "Stations by state (free, busy, drained, quarantined, offline), at scrape time",
            metrics.stations.clone(),
        );
        registry.register(
            "audit_log_healthy",
            "1 while the audit log takes records; 0 once it failed closed (no new connection is accepted)",
            metrics.audit_healthy.clone(),
        );
        for station in &config.stations {
            let label = StationLabel {
                station: station.name.clone(),
            };
            let _ = metrics.burns.get_or_create(&label);
            let _ = metrics.verify_failures.get_or_create(&label);
        }
        for entry in crate::registry::station_types(config) {
            let _ = metrics.queue_length.get_or_create(&TypeLabel {
                station_type: entry.record.name,
            });
        }
        for direction in [Direction::ToStation, Direction::ToClient] {
            let _ = metrics
                .relay_bytes
                .get_or_create(&DirectionLabel { direction });
        }
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Counts an authenticated connection for as long as the guard lives.
    pub fn session(&self) -> SessionGuard {
        self.sessions.inc();
        SessionGuard(self.sessions.clone())
    }

    pub fn handshake(&self, result: HandshakeResult) {
        self.handshakes
            .get_or_create(&HandshakeLabel { result })
            .inc();
    }

    pub fn bind(&self, result: BindResult) {
        self.binds.get_or_create(&BindLabel { result }).inc();
    }

    pub fn queue_wait(&self, waited: Duration) {
        self.queue_wait.observe(waited.as_secs_f64());
    }

    /// Counts a copy's receipt at the station `station` (a configured name) with its result.
    pub fn copy(&self, station: &str, result: &str) {
        let label = StationLabel {
            station: station.to_owned(),
        };
        self.burns.get_or_create(&label).inc();
        if result == "verify_failed" {
            self.verify_failures.get_or_create(&label).inc();
        }
    }

    /// The counter of bytes relayed in `direction` (a handle: cheap to clone and increment).
    pub fn relay_bytes(&self, direction: Direction) -> Counter {
        self.relay_bytes
            .get_or_create(&DirectionLabel { direction })
            .clone()
    }

    pub fn audit_write(&self, took: Duration) {
        self.audit_write.observe(took.as_secs_f64());
    }

    /// The metrics in the text format, with the farm's gauges computed now.
    pub(crate) fn scrape(&self, shared: &Shared) -> String {
        let mut counts = [0i64; STATES.len()];
        let reports = shared.registry.station_reports();
        for report in &reports {
            if let Some(i) = STATES.iter().position(|(c, _)| *c == report.condition) {
                counts[i] += 1;
            }
        }
        for ((_, state), count) in STATES.iter().zip(counts) {
            self.stations
                .get_or_create(&StateLabel { state })
                .set(count);
        }
        let queued = crate::waiting::queued_per_type(shared);
        for entry in shared.registry.types() {
            let waiting = queued.get(&entry.record.id).copied().unwrap_or(0);
            self.queue_length
                .get_or_create(&TypeLabel {
                    station_type: entry.record.name.clone(),
                })
                .set(i64::from(waiting));
        }
        self.audit_healthy.set(i64::from(shared.audit.is_healthy()));
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            // Writing to a String cannot fail; if the encoder ever does, say so.
            warn!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

/// Decrements the sessions gauge when the connection it counts ends.
#[derive(Debug)]
pub struct SessionGuard(Gauge);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The running listener; [`Listener::stop`] ends it.
#[derive(Debug)]
pub(crate) struct Listener {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Listener {
    /// Binds `[metrics] listen` if it is set and serves `/metrics` until stopped.
    pub(crate) async fn start(shared: &Arc<Shared>) -> Result<Listener> {
        let stop = CancellationToken::new();
        let Some(address) = shared.config.metrics.listen else {
            return Ok(Listener { stop, task: None });
        };
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| Error::MetricsListen {
                address: address.to_string(),
                reason: e.to_string(),
            })?;
        info!(address = ?listener.local_addr().ok(), "metrics listening (plaintext HTTP, GET /metrics)");
        let task = tokio::spawn(serve(listener, Arc::clone(shared), stop.clone()));
        Ok(Listener {
            stop,
            task: Some(task),
        })
    }

    pub(crate) async fn stop(self) {
        self.stop.cancel();
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_SCRAPE_CONNECTIONS));
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, most likely: back off instead of spinning.
                warn!(error = %e, "metrics listener cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(%peer, "too many scrape connections: closing one");
            continue;
        };
        let shared = Arc::clone(&shared);
        tasks.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request| {
                let response = answer(&shared, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .max_buf_size(MAX_REQUEST_BYTES)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(SCRAPE_TIMEOUT, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(%peer, error = %e, "scrape connection failed"),
                Err(_) => debug!(%peer, "scrape connection timed out"),
            }
        });
    }
    tasks.shutdown().await;
}

/// The answer to one request: the metrics for `GET /metrics`, 404 or 405 otherwise.
fn answer<B>(shared: &Shared, request: &Request<B>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "only /metrics is served here\n".into(),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n".into());
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = reply(StatusCode::OK, shared.metrics.scrape(shared));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
    response
}
