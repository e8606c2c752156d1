//! `/metrics`: scraped over HTTP like Prometheus does and parsed with a Prometheus text-format
//! parser, before and after real logins, a BIND and a relayed block; a station that is down
//! and an audit log that failed closed show at the next scrape.

use std::net::SocketAddr;
use std::time::Duration;

use burnstand_audit::TestOnlyFailure;
use burnstand_wire::command::{Command, Reply};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prometheus_parse::{Scrape, Value};
use tokio::net::TcpStream;

use crate::client::{command, handshake, raw};
use crate::common::{guard, lab_test, LabSpec, StationSpec};
use crate::station::{echoed, StationMode};

/// A free port for the metrics listener: the lab's config needs the address up front.
fn free_address() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe");
    probe.local_addr().expect("probe address")
}

fn with_metrics(spec: LabSpec, address: SocketAddr) -> LabSpec {
    spec.extra(&format!("[metrics]\nlisten = \"{address}\"\n"))
}

/// `GET path` over HTTP/1.1: the status and the body.
async fn get(address: SocketAddr, path: &str) -> (u16, String) {
    guard("a scrape", async {
        // The master in this process binds its listeners once its task runs.
        let stream = loop {
            match TcpStream::connect(address).await {
                Ok(stream) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("connect to /metrics: {e}"),
            }
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", address.to_string())
            .body(Empty::<Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8(body.to_vec()).expect("UTF-8"))
    })
    .await
}

/// Scrapes and parses `/metrics`.
async fn scrape(address: SocketAddr) -> Scrape {
    let (status, body) = get(address, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("parse the exposition")
}

/// The value of the sample `name` whose labels include `labels`; `None` if there is none.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .and_then(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

fn must(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in {scrape:?}"))
}

/// Scrapes until `ready` holds (things the master learns in the background: a station link
/// failing, a failed handshake being counted).
async fn scrape_until(address: SocketAddr, what: &str, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    guard(what, async {
        loop {
            let scrape = scrape(address).await;
            if ready(&scrape) {
                return scrape;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

const HANDSHAKES: &str = "burnstand_master_handshakes_total";
const BINDS: &str = "burnstand_master_binds_total";
const SESSIONS: &str = "burnstand_master_sessions";
const STATIONS: &str = "burnstand_master_stations";
const RELAY: &str = "burnstand_master_relay_bytes_total";
const HEALTHY: &str = "burnstand_master_audit_log_healthy";
const AUDIT_WRITES: &str = "burnstand_master_audit_write_seconds_count";

#[test]
fn a_login_bind_and_relay_move_the_metrics_and_a_dead_station_shows_offline() {
    let address = free_address();
    let spec = LabSpec::default().stations(vec![
        StationSpec::new("dvd-1", "DVD"),
        StationSpec::new("dvd-2", "DVD").mode(StationMode::Unreachable),
    ]);
    lab_test(with_metrics(spec, address), |mut lab| async move {
        // The link to dvd-2 fails within a second of the start: offline at a scrape.
        let before = scrape_until(address, "dvd-2 offline", |s| {
            value(s, STATIONS, &[("state", "offline")]) == Some(1.0)
        })
        .await;
        assert_eq!(must(&before, STATIONS, &[("state", "free")]), 1.0);
        assert_eq!(must(&before, SESSIONS, &[]), 0.0);
        assert_eq!(value(&before, HANDSHAKES, &[("result", "ok")]), None);
        assert_eq!(must(&before, HEALTHY, &[]), 1.0);
        assert_eq!(must(&before, RELAY, &[("direction", "to_station")]), 0.0);
        for station in ["dvd-1", "dvd-2"] {
            let labels = [("station", station)];
            assert_eq!(must(&before, "burnstand_master_burns_total", &labels), 0.0);
            let failures = "burnstand_master_verify_failures_total";
            assert_eq!(must(&before, failures, &labels), 0.0);
        }
        let types = [("station_type", "DVD burner")];
        assert_eq!(must(&before, "burnstand_master_queue_length", &types), 0.0);

        let (mut container, mut module) = crate::hostile::established(&mut lab, "alice", 0).await;
        let block = vec![7u8; 1000];
        module.send_bytes(&block).await.expect("send a block");
        let answer = guard("the echo", module.recv_bytes()).await.expect("echo");
        assert_eq!(echoed(&answer), block);
        // A peer that fails the handshake.
        let mut stranger = raw(lab.master_addr).await;
        tokio::io::AsyncWriteExt::write_all(&mut stranger, b"not a token\n")
            .await
            .expect("send garbage");
        tokio::io::AsyncWriteExt::shutdown(&mut stranger)
            .await
            .expect("half-close");

        let during = scrape_until(address, "the failed handshake counted", |s| {
            value(s, HANDSHAKES, &[("result", "failed")]).is_some_and(|n| n >= 1.0)
        })
        .await;
        assert_eq!(must(&during, HANDSHAKES, &[("result", "ok")]), 2.0);
        assert_eq!(must(&during, BINDS, &[("result", "reserved")]), 1.0);
        assert_eq!(must(&during, SESSIONS, &[]), 2.0);
        assert_eq!(must(&during, STATIONS, &[("state", "busy")]), 1.0);
        assert_eq!(must(&during, STATIONS, &[("state", "free")]), 0.0);
        assert_eq!(must(&during, STATIONS, &[("state", "offline")]), 1.0);
        assert!(must(&during, RELAY, &[("direction", "to_station")]) >= block.len() as f64);
        assert!(must(&during, RELAY, &[("direction", "to_client")]) >= answer.len() as f64);
        // auth.ok twice, bind, serv: each append timed.
        assert!(must(&during, AUDIT_WRITES, &[]) >= 4.0);
        assert_eq!(must(&during, HEALTHY, &[]), 1.0);

        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
        drop((module, container, stranger));
        let after = scrape_until(address, "the sessions closed", |s| {
            value(s, SESSIONS, &[]) == Some(0.0)
        })
        .await;
        assert_eq!(must(&after, STATIONS, &[("state", "free")]), 1.0);

        let (status, _) = get(address, "/other").await;
        assert_eq!(status, 404);
    });
}

#[test]
fn an_audit_log_that_failed_closed_shows_at_the_next_scrape() {
    let address = free_address();
    // The first append (alice's auth.ok) fails its fsync: the master fails closed.
    let spec = LabSpec {
        audit_failure: Some(TestOnlyFailure::Sync { on_append: 1 }),
        ..LabSpec::default()
    };
    lab_test(with_metrics(spec, address), |lab| async move {
        assert_eq!(must(&scrape(address).await, HEALTHY, &[]), 1.0);
        let stream = raw(lab.master_addr).await;
        let refused = guard("alice's login", handshake(&lab, "alice", stream)).await;
        assert!(refused.is_err(), "no greeting without its record");
        let scrape = scrape(address).await;
        assert_eq!(must(&scrape, HEALTHY, &[]), 0.0);
        assert_eq!(value(&scrape, HANDSHAKES, &[("result", "ok")]), None);
        assert!(must(&scrape, AUDIT_WRITES, &[]) >= 1.0);
    });
}
