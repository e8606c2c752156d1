//! (a) Relay throughput client → master → station with 64 KiB messages, against the
//! single-core wrap+unwrap rate of the same kind of GSS context (what the master does per
//! block), against OpenSSH through a jump host moving the same bytes ([`crate::ssh`]), and
//! against a plain `socat` TCP relay of the same bytes; and the master's CPU per relayed GiB.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burnstand_wire::io::Unauthenticated;
use burnstand_wire::protection::Protection;
use kdc_test::Realm;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::lab::{self, TIMEOUT};
use crate::{Error, Figure};

/// The message size the issue names.
pub const MESSAGE: usize = 64 * 1024;

fn mib_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / took.as_secs_f64().max(1e-9)
}

/// Waits until `counter` reaches `total`.
async fn until(counter: &AtomicU64, total: u64) {
    while counter.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub async fn run(realm: &Realm, mib: u64, ssh: bool) -> Result<Vec<Figure>, Error> {
    let messages = mib * (1 << 20) / MESSAGE as u64;
    let total = messages * MESSAGE as u64;
    let payload = vec![0xa5u8; MESSAGE];

    // Baseline 1: wrap on one context and unwrap on its peer, one core, in process.
    let (a, b) = tokio::io::duplex(64 * 1024);
    let station = lab::station_cred(realm)?;
    let principal = realm.principal(lab::STATION);
    // MIT's gss_wrap/gss_unwrap on both sides: this column is MIT's, not the fast path's.
    let accept = tokio::spawn(async move {
        Unauthenticated::new(b)
            .fast_path(false)
            .accept(station, TIMEOUT)
            .await
    });
    let client = Unauthenticated::new(a)
        .fast_path(false)
        .initiate(lab::user_cred(realm)?, &principal, TIMEOUT)
        .await?;
    let server = accept.await??;
    let mut sender = client.into_protection();
    let mut receiver = server.into_protection();
    let started = Instant::now();
    for _ in 0..messages {
        let sealed = sender.seal(&payload)?;
        let opened = receiver.open(&sealed)?;
        debug_assert_eq!(opened.len(), MESSAGE);
    }
    let wrap_unwrap = mib_per_s(total, started.elapsed());

    // The Rust RFC 4121 fast path (wire::fastpath) doing the same on one core: a context
    // pair of the realm's enctype (aes256-cts-hmac-sha1-96) from a fixed test key, as the
    // relay would hold after exporting MIT's context. In-place API, reused buffers.
    let fast = fast_wrap_unwrap(messages, &payload)?;

    // What else the master does per block: the base64 line framing, both ways.
    // As the sessions do it: one line buffer and one block buffer, reused.
    let sealed = sender.seal(&payload)?;
    let (mut line, mut block) = (Vec::new(), Vec::new());
    let mut decoder = burnstand_wire::block::BlockDecoder::new();
    let started = Instant::now();
    for _ in 0..messages {
        line.clear();
        burnstand_wire::block::encode_block_into(&sealed, &mut line);
        let mut input = line.as_slice();
        if !decoder.decode_into(&mut input, &mut block)? {
            return Err("no block decoded".into());
        }
        debug_assert_eq!(block.len(), sealed.len());
    }
    let framing = mib_per_s(total, started.elapsed());

    // The relay: the real master between a client and the sink station.
    let sink = lab::sink(realm).await?;
    let master = lab::master(realm, &lab::sibling("burnstand-master")?, sink.addr)?;
    let cred = lab::user_cred(realm)?;
    let (_container, mut module) = lab::pass_through(realm, &cred, master.addr).await?;
    let before = sink.received.load(Ordering::Relaxed);
    let cpu_before = master.cpu_seconds();
    let started = Instant::now();
    for _ in 0..messages {
        module.send_bytes(&payload).await?;
    }
    until(&sink.received, before + total).await;
    let relay = mib_per_s(total, started.elapsed());
    let master_cpu = (master.cpu_seconds() - cpu_before).max(0.01);
    let per_master_core = total as f64 / (1 << 20) as f64 / master_cpu;
    let cpu_per_gib = master_cpu / (total as f64 / (1u64 << 30) as f64);
    drop(module);

    // Baseline 2: socat relaying the same bytes to a plain TCP sink.
    let socat = socat_relay(total).await?;

    let mut figures = Vec::new();
    // Baseline 3: OpenSSH through a jump host, the same bytes.
    if ssh {
        let ssh_j = tokio::task::spawn_blocking(move || crate::ssh::jump_host_rate(total, MESSAGE))
            .await??;
        figures.push(Figure {
            bench: "a",
            what: format!("relay client -> master -> station, {mib} MiB (same run)"),
            value: relay,
            unit: "MiB/s",
            baseline: "ssh -J through a jump host (own sshd on loopback, aes128-gcm), cat > /dev/null of the same bytes".into(),
            baseline_value: ssh_j,
            ratio: relay / ssh_j,
            target: ">= 1.0 (moonshot 1.5)".into(),
            met: relay / ssh_j >= 1.0,
        });
    }
    figures.push(Figure {
        bench: "a",
        what: "fast path (Rust RFC 4121, aes256-cts-hmac-sha1-96) wrap+unwrap of 64 KiB messages, one core".into(),
        value: fast,
        unit: "MiB/s",
        baseline: "MIT gss_wrap+gss_unwrap, one core (same run)".into(),
        baseline_value: wrap_unwrap,
        ratio: fast / wrap_unwrap,
        target: ">= 4".into(),
        met: fast / wrap_unwrap >= 4.0,
    });
    figures.push(Figure {
        bench: "a",
        what: format!(
            "master CPU (user + system) per relayed GiB ({master_cpu:.2} s for {mib} MiB)"
        ),
        value: cpu_per_gib,
        unit: "s/GiB",
        baseline: "one core's wrap+unwrap of a GiB (MIT, in process)".into(),
        baseline_value: 1024.0 / wrap_unwrap,
        ratio: cpu_per_gib / (1024.0 / wrap_unwrap),
        target: "(reference: before/after in docs/benchmarks.md)".into(),
        met: true,
    });
    figures.extend([
        Figure {
            bench: "a",
            what: format!("relay client -> master -> station, {mib} MiB in 64 KiB messages"),
            value: relay,
            unit: "MiB/s",
            baseline: "wrap+unwrap of one GSS context pair, one core".into(),
            baseline_value: wrap_unwrap,
            ratio: relay / wrap_unwrap,
            target: ">= 0.9".into(),
            met: relay / wrap_unwrap >= 0.9,
        },
        Figure {
            bench: "a",
            what: format!(
                "relay bytes per CPU-second of the master process ({master_cpu:.2} s CPU for {mib} MiB)"
            ),
            value: per_master_core,
            unit: "MiB/s",
            baseline: "wrap+unwrap of one GSS context pair, one core".into(),
            baseline_value: wrap_unwrap,
            ratio: per_master_core / wrap_unwrap,
            target: ">= 0.9".into(),
            met: per_master_core / wrap_unwrap >= 0.9,
        },
        Figure {
            bench: "a",
            what: "base64 block framing alone (encode + decode of the sealed 64 KiB message)".into(),
            value: framing,
            unit: "MiB/s",
            baseline: "wrap+unwrap of one GSS context pair, one core".into(),
            baseline_value: wrap_unwrap,
            ratio: framing / wrap_unwrap,
            target: "(reference: explains the master's overhead)".into(),
            met: true,
        },
        Figure {
            bench: "a",
            what: "relay client -> master -> station (same run)".into(),
            value: relay,
            unit: "MiB/s",
            baseline: "socat TCP relay of the same bytes (no encryption)".into(),
            baseline_value: socat,
            ratio: relay / socat,
            target: "(reference)".into(),
            met: true,
        },
    ]);
    Ok(figures)
}

/// MiB/s of wrap on one fast-path context and unwrap on its peer, `messages` times.
fn fast_wrap_unwrap(messages: u64, payload: &[u8]) -> Result<f64, Error> {
    use burnstand_wire::fastpath::{Enctype, FastContext, LucidParams};
    let end = |initiator| {
        FastContext::new(LucidParams {
            initiator,
            enctype: Enctype::Aes256CtsHmacSha1_96,
            key: zeroize::Zeroizing::new((0..32u8).collect()),
            acceptor_subkey: true,
            send_seq: 0,
            recv_seq: 0,
        })
    };
    let (mut sender, mut receiver) = (end(true)?, end(false)?);
    let (mut sealed, mut opened) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for _ in 0..messages {
        sealed.clear();
        sender.wrap_into(payload, &mut sealed)?;
        opened.clear();
        receiver.unwrap_into(&sealed, &mut opened)?;
        debug_assert_eq!(opened.len(), payload.len());
    }
    Ok(mib_per_s(
        messages * payload.len() as u64,
        started.elapsed(),
    ))
}

/// Sends `total` bytes through `socat TCP-LISTEN -> TCP` to a counting sink.
async fn socat_relay(total: u64) -> Result<f64, Error> {
    let sink = TcpListener::bind("127.0.0.1:0").await?;
    let sink_addr = sink.local_addr()?;
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    tokio::spawn(async move {
        if let Ok((mut tcp, _)) = sink.accept().await {
            let mut buf = vec![0u8; 256 * 1024];
            while let Ok(n) = tcp.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let mut socat = Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"))
        .arg(format!("TCP:{sink_addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("socat: {e} (scripts/install-deps.sh installs it)"))?;
    let mut tcp = None;
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await {
            tcp = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut tcp = tcp.ok_or("socat did not listen")?;
    let chunk = vec![0xa5u8; MESSAGE];
    let started = Instant::now();
    let mut sent = 0;
    while sent < total {
        tcp.write_all(&chunk).await?;
        sent += chunk.len() as u64;
    }
    until(&received, total).await;
    let rate = mib_per_s(total, started.elapsed());
    drop(tcp);
    let _ = socat.kill();
    let _ = socat.wait();
    Ok(rate)
}
