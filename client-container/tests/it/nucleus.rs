//! The protocol nucleus from the client's side (issue 16, point 6): notices at login in
//! priority order, a too-old client's refusal, and the master's request_delay — printed where
//! the client gives up, honoured where it retries. Against the real master where it can be
//! made to do it on cue, else against the scripted master of [`crate::scripted_master`].

use std::time::Duration;

use burnstand::queue::WaitChoice;
use burnstand::reserve::{first_rejoin_pause, reserve_station, Rejoin, REJOIN_FIRST_PAUSE};
use burnstand::signals::Stop;
use burnstand::ticket::Ticket;
use burnstand_wire::command::{Command, Reply};
use burnstand_wire::farm::{flags, ReserveReply, LISTX_VERSION};
use burnstand_wire::nucleus::{ClientVersion, HelloReply, Notice, Priority, RequestDelay};
use nix::sys::signal::Signal;

use crate::lab::{text, wait_for, Lab, Policy};
use crate::scripted_master::{
    burnstand_at, connect, expect, listx, queued, realm, reserved, scripted_masters, settings,
    want, Recorder, Script,
};

/// The admin's notices, deliberately not in priority order.
const NOTICES: &str = r#"
[[notice]]
priority = "low"
text = "new DVD blanks in the cupboard"

[[notice]]
priority = "high"
text = "maintenance tonight from 18:00"

[[notice]]
text = "message of the day"

[[notice]]
priority = "high"
text = "burnstand 2.0 is in the software centre"
"#;

/// What the person reads at login, in this order.
const SHOWN: [&str; 4] = [
    "master notice [high]: maintenance tonight from 18:00",
    "master notice [high]: burnstand 2.0 is in the software centre",
    "master notice [normal]: message of the day",
    "master notice [low]: new DVD blanks in the cupboard",
];

/// The lines of `stderr` that are notices, in order.
fn notice_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("master notice ["))
        .collect()
}

#[test]
fn the_real_master_s_notices_are_shown_at_login_high_first_and_once() {
    let lab = Lab::start_with_policy(&Policy {
        stations: 1,
        master_extra: NOTICES.into(),
        ..Policy::default()
    });
    let out = lab.run("alice", &["list"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(notice_lines(&stderr), SHOWN, "{stderr}");
    // A burn opens two connections (container and module): the notices are shown once.
    let out = lab.run("alice", &["burn", "sample"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", lab.logs());
    assert_eq!(notice_lines(&stderr), SHOWN, "{stderr}");
    // `reserve` logs in from its background holder: the holder hands the notices over.
    let out = lab.run("alice", &["reserve"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(notice_lines(&stderr), SHOWN, "{stderr}");
    let out = lab.run("alice", &["release"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // --json prints no notes, notices included; stdout stays one JSON document.
    let out = lab.run("alice", &["--json", "list"]);
    assert!(out.status.success());
    assert!(notice_lines(&text(&out.stderr)).is_empty());
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("one JSON document");
}

#[test]
fn a_waiting_burn_honours_the_draining_master_s_request_delay() {
    let mut lab = Lab::start_with_policy(&Policy {
        stations: 1,
        master_limits: "drain_deadline = \"2s\"".into(),
        master_extra: "[request_delay]\ndraining = \"300s\"".into(),
        ..Policy::default()
    });
    let out = lab.run("alice", &["reserve"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bob = lab.spawn("bob", &["burn", "sample", "--wait"]);
    let stderr_path = lab.dir.path().join("bob-burn-sample---wait.err");
    let read = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    wait_for("bob waiting in the queue", || {
        Some(()).filter(|()| read().contains("position 1 of 1"))
    });
    lab.stop_master();
    wait_for("bob told to come back later", || {
        Some(()).filter(|()| read().contains("come back in 300 s"))
    });
    // bob waits out the delay instead of reconnecting at once: Ctrl-C finds him in that pause.
    bob.signal(Signal::SIGINT);
    let (status, _, stderr) = bob.wait();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted (Ctrl-C) while reconnecting"),
        "{stderr}"
    );
}

fn hello_welcome(notices: Vec<Notice>) -> HelloReply {
    HelloReply::Welcome {
        version: 1,
        notices,
    }
}

fn notice(priority: Priority, text: &str) -> Notice {
    Notice {
        priority,
        text: text.into(),
    }
}

fn script(
    f: impl FnOnce(
            burnstand_wire::io::Session<tokio::net::TcpStream>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send
        + 'static,
) -> Script {
    Box::new(f)
}

#[tokio::test]
async fn welcome_notices_are_kept_high_first_in_the_master_s_order() {
    let realm = realm();
    let notices = vec![
        notice(Priority::Low, "a"),
        notice(Priority::High, "b"),
        notice(Priority::Normal, "c"),
        notice(Priority::High, "d"),
    ];
    let (addr, master) = scripted_masters(
        &realm,
        hello_welcome(notices),
        vec![script(|_s| Box::pin(async {}))],
    )
    .await;
    let connection = connect(&realm, addr).await;
    master.await.unwrap();
    assert_eq!(connection.nucleus(), Some(1));
    let texts: Vec<&str> = connection
        .notices()
        .iter()
        .map(|n| n.text.as_str())
        .collect();
    assert_eq!(texts, ["b", "d", "c", "a"]);
}

#[tokio::test]
async fn a_too_old_burnstand_exits_27_with_the_version_needed_then_the_notices() {
    let realm = realm();
    let too_old = HelloReply::TooOld {
        needed: ClientVersion::new(99, 0, 0),
        notices: vec![
            notice(Priority::Normal, "message of the day"),
            notice(Priority::High, "get burnstand 99 from the software centre"),
        ],
    };
    let (addr, master) =
        scripted_masters(&realm, too_old, vec![script(|_s| Box::pin(async {}))]).await;
    let dir = tempfile::tempdir().unwrap();
    let out = burnstand_at(&realm, addr, dir.path(), &["list"]).await;
    master.await.unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(27), "{stderr}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        stderr.starts_with(&format!(
            "burnstand: this burnstand ({version}) is too old for the master: it needs version 99.0.0 or newer"
        )),
        "{stderr}"
    );
    assert_eq!(
        notice_lines(&stderr),
        [
            "master notice [high]: get burnstand 99 from the software centre",
            "master notice [normal]: message of the day"
        ],
        "{stderr}"
    );
}

#[tokio::test]
async fn errunaval_after_a_delay_says_when_to_try_again() {
    let realm = realm();
    let (addr, master) = scripted_masters(
        &realm,
        hello_welcome(Vec::new()),
        vec![script(|mut s| {
            Box::pin(async move {
                assert_eq!(expect(&mut s).await, Command::ListX(LISTX_VERSION));
                s.send(&listx(0, 2, 1)).await.unwrap();
                let Command::Reserve(r) = expect(&mut s).await else {
                    panic!("not RESERVE")
                };
                assert_eq!(r.flags, flags::HOLD);
                s.send(&RequestDelay { seconds: 30 }).await.unwrap();
                s.send(&ReserveReply::Refused(Reply::ErrUnaval))
                    .await
                    .unwrap();
                expect(&mut s).await;
                s.send(&listx(0, 2, 1)).await.unwrap();
            })
        })],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = burnstand_at(&realm, addr, dir.path(), &["reserve", "--no-wait"]).await;
    master.await.unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(10), "{stderr}");
    assert!(
        stderr.contains("the master asks you to try again in 30 s, not sooner"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_delay_before_a_lost_wait_comes_first_then_the_client_rejoins() {
    let realm = realm();
    let first = script(|mut s| {
        Box::pin(async move {
            expect(&mut s).await;
            s.send(&listx(0, 1, 0)).await.unwrap();
            let Command::Reserve(r) = expect(&mut s).await else {
                panic!("not RESERVE")
            };
            assert_eq!(r.flags, flags::WAIT);
            s.send(&queued(1, 60, 1)).await.unwrap();
            // Shutting down: come back in 2 s; then the connection closes.
            s.send(&RequestDelay { seconds: 2 }).await.unwrap();
        })
    });
    let second = script(|mut s| {
        Box::pin(async move {
            // The rejoin lists first, then asks again, waiting.
            assert_eq!(expect(&mut s).await, Command::ListX(LISTX_VERSION));
            s.send(&listx(0, 1, 1)).await.unwrap();
            let Command::Reserve(r) = expect(&mut s).await else {
                panic!("not RESERVE")
            };
            assert_eq!(r.flags, flags::WAIT);
            s.send(&reserved()).await.unwrap();
        })
    });
    let (addr, master) =
        scripted_masters(&realm, hello_welcome(Vec::new()), vec![first, second]).await;
    let settings = settings(&realm, addr);
    let ticket = Ticket::current().unwrap();
    let mut connection = connect(&realm, addr).await;
    let mut ui = Recorder::default();
    let got = reserve_station(
        &mut connection,
        &want(WaitChoice::Wait),
        false,
        &mut ui,
        &mut Stop::none(),
        Some(Rejoin {
            settings: &settings,
            ticket: &ticket,
        }),
    )
    .await
    .unwrap();
    master.await.unwrap();
    assert!(got.reserved.is_some());
    assert_eq!(ui.notes.len(), 1, "{:?}", ui.notes);
    assert!(ui.notes[0].contains("come back in 2 s"), "{:?}", ui.notes);
}

#[test]
fn the_first_rejoin_pause_is_the_master_s_delay_within_bounds() {
    assert_eq!(first_rejoin_pause(None), REJOIN_FIRST_PAUSE);
    assert_eq!(first_rejoin_pause(Some(40)), Duration::from_secs(40));
    assert_eq!(first_rejoin_pause(Some(0)), REJOIN_FIRST_PAUSE);
    assert_eq!(
        first_rejoin_pause(Some(u32::MAX)),
        Duration::from_secs(u64::from(burnstand_wire::limits::MAX_REQUEST_DELAY_SECS))
    );
}
