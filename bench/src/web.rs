//! (i) Live status page: N Server-Sent-Events subscribers (`GET /events`, HTTP/2 over TLS,
//! each on its own connection like N browsers, the public wall view) on one master while a
//! real burn runs; the delay from each STATUS change to each subscriber, and the master's CPU
//! and RSS. Baseline: the same burn with one subscriber, in the same run.
//!
//! The delay is what a viewer sees: every event's JSON carries `at_unix_ms`, when the master
//! learnt of the change (a station's STATUS report, a reservation); the subscriber takes the
//! clock when the chunk carrying the event arrives. Both clocks are this machine's. The first
//! event of each stream is the snapshot at subscription, not a change, and is left out.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kdc_test::Realm;
use rustls_pki_types::pem::PemObject;
use tokio::task::JoinSet;

use crate::lab::{self, REALM};
use crate::{burn, Error, Figure};

/// The status page's HTTP service principal (without the realm); [`lab::realm`] creates it.
pub const WEB_SERVICE: &str = "HTTP/localhost";
/// The goal of issue 15: the 99th percentile of STATUS → subscriber delays.
pub const P99_GOAL_MS: f64 = 250.0;
/// After the burn, how long subscribers keep reading for the last events.
const TAIL: Duration = Duration::from_millis(500);
/// The file drive's xorriso speed (about 4 MiB/s): the burn lasts long enough to report
/// progress several times, as a real drive does.
const DRIVE_SPEED: u32 = 4;

/// What one round (one subscriber count) measured.
struct Round {
    delays_ms: Vec<f64>,
    cpu_seconds: f64,
    rss_kb: u64,
}

pub async fn run(realm: &Realm, subscribers: usize, mib: u64) -> Result<Vec<Figure>, Error> {
    let dir = tempfile::tempdir()?;
    let images = dir.path().join("images");
    std::fs::create_dir_all(&images)?;
    let sha = burn::make_image(&images.join("bench.img"), mib)?;
    std::fs::write(
        images.join("bench.img.toml"),
        "name = \"bench\"\nid = \"bench\"\n",
    )?;
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, lab::open_policy(&sha))?;
    let station_dir = dir.path().join("station");
    std::fs::create_dir_all(&station_dir)?;
    let mut station = burn::station_at(
        realm,
        &station_dir,
        &images,
        &policy,
        "bench-web",
        &format!("speed = {DRIVE_SPEED}\n"),
    )?;

    // The master accepts browsers as HTTP/localhost with its own keytab.
    let master_keytab = realm.keytab(lab::MASTER).ok_or("no master keytab")?;
    burnstand_testlab::merged_keytab(realm, master_keytab, &[WEB_SERVICE]);
    let (cert, key, ca_pem) = certificates(dir.path())?;
    let web_addr = free_address()?;
    let web = format!(
        "\n[web]\nlisten = \"{web_addr}\"\ncertificate = \"{}\"\nprivate_key = \"{}\"\n\
         service_principal = \"{}\"\npublic_wall = true\n",
        cert.display(),
        key.display(),
        realm.principal(WEB_SERVICE),
    );
    let master = lab::master_with(
        realm,
        &lab::sibling("burnstand-master")?,
        &[station.addr],
        &lab::open_policy(&sha),
        &web,
    )?;
    let ccache = dir.path().join("user.ccache");
    realm.kinit_into(lab::USER, &ccache)?;

    let result = async {
        let baseline = round(realm, &master, &ccache, &ca_pem, web_addr, 1).await?;
        let many = round(realm, &master, &ccache, &ca_pem, web_addr, subscribers).await?;
        Ok::<_, Error>((baseline, many))
    }
    .await;
    let _ = station.child.kill();
    let _ = station.child.wait();
    let (baseline, many) =
        result.map_err(|e| format!("{e}\nmaster log:\n{}", master.log_tail()))?;
    Ok(figures(&baseline, &many, subscribers, mib))
}

fn figures(baseline: &Round, many: &Round, subscribers: usize, mib: u64) -> Vec<Figure> {
    let during = format!(
        "{subscribers} SSE subscribers (HTTP/2 over TLS, wall view) during a {mib} MiB burn + verify"
    );
    let base = "1 subscriber, the same burn, same run";
    let (p99, p99_base) = (
        percentile(&many.delays_ms, 0.99),
        percentile(&baseline.delays_ms, 0.99),
    );
    let (p50, p50_base) = (
        percentile(&many.delays_ms, 0.50),
        percentile(&baseline.delays_ms, 0.50),
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let mib_of = |kb: u64| kb as f64 / 1024.0;
    vec![
        Figure {
            bench: "i",
            what: format!(
                "STATUS → subscriber delay p99, {during} ({} deliveries)",
                many.delays_ms.len()
            ),
            value: p99,
            unit: "ms",
            baseline: format!("{base} ({} deliveries)", baseline.delays_ms.len()),
            baseline_value: p99_base,
            ratio: ratio(p99, p99_base),
            target: format!("p99 <= {P99_GOAL_MS} ms"),
            met: p99 <= P99_GOAL_MS,
        },
        Figure {
            bench: "i",
            what: format!("STATUS → subscriber delay p50, {during}"),
            value: p50,
            unit: "ms",
            baseline: base.into(),
            baseline_value: p50_base,
            ratio: ratio(p50, p50_base),
            target: "(for the record)".into(),
            met: true,
        },
        Figure {
            bench: "i",
            what: format!("master CPU (user + system) over the burn, {during}"),
            value: many.cpu_seconds,
            unit: "s",
            baseline: base.into(),
            baseline_value: baseline.cpu_seconds,
            ratio: ratio(many.cpu_seconds, baseline.cpu_seconds),
            target: "(for the record)".into(),
            met: true,
        },
        Figure {
            bench: "i",
            what: format!("master RSS at the end of the burn, {during}"),
            value: mib_of(many.rss_kb),
            unit: "MiB",
            baseline: base.into(),
            baseline_value: mib_of(baseline.rss_kb),
            ratio: ratio(mib_of(many.rss_kb), mib_of(baseline.rss_kb)),
            target: "(for the record)".into(),
            met: true,
        },
    ]
}

/// The `q` quantile (nearest rank) of `values`; 0 for none.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// `subscribers` streams open (each has its first event), then one `burnstand burn`.
async fn round(
    realm: &Realm,
    master: &lab::Master,
    ccache: &Path,
    ca_pem: &str,
    web: SocketAddr,
    subscribers: usize,
) -> Result<Round, Error> {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(subscribers.max(1));
    let mut streams = JoinSet::new();
    for _ in 0..subscribers {
        let client = https_client(ca_pem, web)?;
        let url = format!("https://localhost:{}/events", web.port());
        streams.spawn(subscribe(
            client,
            url,
            Arc::clone(&delays),
            ready_tx.clone(),
        ));
    }
    drop(ready_tx);
    for _ in 0..subscribers {
        tokio::select! {
            ready = ready_rx.recv() => if ready.is_none() { break },
            // A subscriber that failed before its first event ends the round with its error.
            Some(ended) = streams.join_next() => {
                ended??;
                return Err("an event stream ended before its first event".into());
            }
        }
    }
    let cpu_before = master.cpu_seconds();
    let mut cmd = lab::client(realm, master, ccache)?;
    cmd.args(["burn", "bench"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
    if !out.status.success() {
        return Err(format!(
            "burnstand burn failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    tokio::time::sleep(TAIL).await;
    let cpu_seconds = master.cpu_seconds() - cpu_before;
    let rss_kb = master.status_kb("VmRSS");
    // A stream that failed during the burn is an error, not a missing sample.
    if let Some(ended) = streams.try_join_next() {
        ended??;
        return Err("an event stream ended during the burn".into());
    }
    streams.shutdown().await;
    let delays_ms = std::mem::take(&mut *delays.lock().map_err(|_| "poisoned")?);
    if delays_ms.is_empty() {
        return Err("no STATUS event reached a subscriber during the burn".into());
    }
    Ok(Round {
        delays_ms,
        cpu_seconds,
        rss_kb,
    })
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Reads one event stream: says `ready` after the first event (the snapshot), then records
/// the delay of every later event until the stream is dropped.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    delays: Arc<Mutex<Vec<f64>>>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<(), Error> {
    let mut response = client.get(&url).send().await?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("GET /events answered {}", response.status()).into());
    }
    if response.version() != reqwest::Version::HTTP_2 {
        return Err(format!("GET /events over {:?}, not HTTP/2", response.version()).into());
    }
    let mut pending = String::new();
    let mut first = true;
    while let Some(chunk) = response.chunk().await? {
        let now = unix_ms();
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            let Some(at) = at_unix_ms(&event) else {
                continue; // a keep-alive comment
            };
            if first {
                first = false;
                let _ = ready.send(()).await;
            } else if let Ok(mut delays) = delays.lock() {
                delays.push(now - at);
            }
        }
    }
    Err("the event stream ended".into())
}

/// The `at_unix_ms` of an event's JSON data, if the event has one.
fn at_unix_ms(event: &str) -> Option<f64> {
    let data: String = event
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim_start)
        .collect();
    let value: serde_json::Value = serde_json::from_str(&data).ok()?;
    value.get("at_unix_ms")?.as_f64()
}

/// An HTTPS client of its own (its own connection: one browser) trusting the bench CA, with
/// `localhost` resolving to the status page.
fn https_client(ca_pem: &str, web: SocketAddr) -> Result<reqwest::Client, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"h2".to_vec()];
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .resolve("localhost", web)
        .build()?)
}

/// A throwaway CA and a `localhost` certificate: (certificate file, key file, CA PEM).
fn certificates(dir: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf, String), Error> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("burnstand bench CA ({REALM})"),
    );
    let ca = ca_params.self_signed(&ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let cert = params.signed_by(&key, &issuer)?;
    let (cert_path, key_path) = (dir.join("web.crt"), dir.join("web.key"));
    std::fs::write(&cert_path, cert.pem())?;
    std::fs::write(&key_path, key.serialize_pem())?;
    Ok((cert_path, key_path, ca.pem()))
}

/// A free loopback port for the status page (the config needs it before the master starts).
fn free_address() -> Result<SocketAddr, Error> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?)
}
