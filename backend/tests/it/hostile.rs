//! Hostile peers at the station: each case checks the behaviour and that an established
//! session of the master is undisturbed.

use std::net::SocketAddr;
use std::time::Duration;

use burnstand_wire::burner::{Event, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::*;

/// A TCP connection to `addr` from the loopback address `source` (127.0.0.0/8 is all ours):
/// a different peer address than the master's 127.0.0.1.
async fn connect_from(source: [u8; 4], addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind the source address");
    socket.connect(addr).await.expect("connect")
}

/// Reads until the peer closes (or a generous hang guard passes).
async fn closed_by_peer(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    read.is_ok()
}

async fn still_serves(m: &mut Module) {
    assert!(matches!(m.ask(&Request::Capab).await, Event::Cap(_)));
}

#[tokio::test]
async fn a_preauth_flood_neither_disturbs_sessions_nor_locks_the_master_out() {
    let lab = Lab::new();
    let running = lab
        .start(lab.config("handshake_timeout_secs = 30", ""), None)
        .await;
    let mut established = connect_as_master(&lab, running.addr).await.module();
    still_serves(&mut established).await;

    // Far more silent connections than both budgets (32 handshakes, 16 sessions), from a few
    // other addresses, held open.
    let mut flood = Vec::new();
    for n in 0..60u8 {
        flood.push(connect_from([127, 0, 0, 2 + n % 4], running.addr).await);
    }
    // The established session goes on, and the master still gets new sessions.
    still_serves(&mut established).await;
    let mut fresh = connect_as_master(&lab, running.addr).await.module();
    still_serves(&mut fresh).await;
    // Each flooding address got at most its handshake share; the rest were closed at once.
    let mut open = 0;
    for stream in &mut flood {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte)).await {
            Err(_) => open += 1,         // still waiting in the handshake
            Ok(Ok(0)) | Ok(Err(_)) => {} // closed
            Ok(Ok(_)) => panic!("the station sent something before authentication"),
        }
    }
    assert!(open <= 4 * 4, "{open} silent connections still open");
    drop((established, fresh, flood));
    running.stop().await;
}

#[tokio::test]
async fn silent_and_trickling_peers_are_closed_at_the_handshake_deadline() {
    let lab = Lab::new();
    let running = lab
        .start(lab.config("handshake_timeout_secs = 1", ""), None)
        .await;
    let mut established = connect_as_master(&lab, running.addr).await.module();

    let mut silent = TcpStream::connect(running.addr).await.unwrap();
    assert!(
        closed_by_peer(&mut silent).await,
        "a silent peer was never closed"
    );

    // One byte of a plausible base64 line every 300 ms: each read makes progress, but the
    // deadline is for the whole handshake.
    let mut trickle = TcpStream::connect(running.addr).await.unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..200 {
            if trickle.write_all(b"Y").await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        false
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(60), writer)
            .await
            .expect("hang guard")
            .unwrap(),
        "a trickling peer was never closed"
    );
    still_serves(&mut established).await;
    drop(established);
    running.stop().await;
}

#[tokio::test]
async fn sigterm_with_a_live_session_drains_and_exits() {
    let lab = Lab::new();
    let mut station = lab.start_binary(&lab.config_text("", ""));
    let mut m = connect_as_master(&lab, station.addr).await.module();
    still_serves(&mut m).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(station.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // The session is ended by the station, and the process exits on its own.
    assert!(
        tokio::time::timeout(Duration::from_secs(60), m.session.recv_bytes())
            .await
            .expect("hang guard")
            .is_err()
    );
    let status = tokio::task::spawn_blocking(move || station.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    let events: Vec<String> = lab.records().into_iter().map(|r| r.event).collect();
    assert_eq!(
        events.last().map(String::as_str),
        Some("station.stop"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e == "session.end"), "{events:?}");
}

use burnstand_testlab::SmallDisk;

#[tokio::test]
async fn a_full_disk_refuses_the_action_and_acknowledges_nothing_unrecorded() {
    let lab = Lab::new();
    let disk = SmallDisk::mount(&lab.dir.path().join("small"), 256);
    let log = disk.path.join("station.audit");
    // No watermark: this test is about the disk really filling up.
    let text = lab.config_text("min_free_bytes = 0", "").replace(
        &format!("audit_log = \"{}\"", lab.audit_log.display()),
        &format!("audit_log = \"{}\"", log.display()),
    );
    let station = lab.start_binary(&text);
    let mut m = connect_as_master(&lab, station.addr).await.module();
    still_serves(&mut m).await;
    // Room for a few records at most.
    disk.fill(600);
    let mut acknowledged = Vec::new();
    let mut refused = false;
    for n in 0..50 {
        let id = format!("nope-{n}");
        m.send(&Request::Burn {
            image_id: id.clone(),
            copies: 1,
        })
        .await;
        match m.recv().await {
            Event::Error(r) if r.code == burnstand_wire::burner::ErrorCode::UnknownImage => {
                acknowledged.push(id)
            }
            Event::Error(r) if r.code == burnstand_wire::burner::ErrorCode::Unavailable => {
                refused = true;
                break;
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(refused, "the full disk never refused an action");
    // New sessions are refused while the log cannot be written.
    assert!(matches!(
        connect_as_master(&lab, station.addr).await,
        Connected::NotAvailable
    ));
    // Every acknowledged refusal is on disk; at most a torn, unacknowledged tail follows.
    burnstand_testlab::assert_intact_or_torn(&log);
    let mut logged = std::collections::HashSet::new();
    let _ = burnstand_audit::scan_records(&log, |r| {
        if let Some(image) = r.get_str("image") {
            logged.insert(image.to_owned());
        }
    });
    for id in &acknowledged {
        assert!(
            logged.contains(id),
            "{id} was acknowledged without its record"
        );
    }
    drop(m);
    drop(station);
}
