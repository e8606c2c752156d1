//! Burns through real xorriso onto a file pseudo-drive: verify pass and fail, cancel, the
//! drive's exclusive hold, and the states only the test drive can show.

use std::sync::Arc;

use burnstand_station::faulty::{Fault, TestOnlyFaultyDrive};
use burnstand_wire::burner::{DriveKind, ErrorCode, Event, MediumState, Phase, Request};
use md5::Digest;

use crate::harness::*;

fn md5_hex(bytes: &[u8]) -> String {
    hex_of(&md5::Md5::digest(bytes))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_end(e: &Event) -> bool {
    matches!(e, Event::Verify(_) | Event::Error(_) | Event::Cancelled)
}

fn faulty(lab: &Lab, speed: Option<u32>, fault: Fault) -> Arc<TestOnlyFaultyDrive> {
    Arc::new(TestOnlyFaultyDrive::over_file(
        &lab.disc,
        DriveKind::Dvd,
        speed,
        fault,
    ))
}

#[tokio::test]
async fn a_burn_verifies_and_is_audited() {
    let lab = Lab::new();
    let iso = lab.make_iso("exam.iso", 3 << 20, b"", true);
    let image = std::fs::read(&iso).unwrap();
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();

    let Event::Cap(cap) = m.ask(&Request::Capab).await else {
        panic!("CAP expected")
    };
    assert_eq!(cap.station_id, "test-station");
    assert_eq!(cap.friendly_name, "Test station");
    assert_eq!(cap.drive, DriveKind::Dvd);
    assert_eq!(cap.images.len(), 1);
    let info = &cap.images[0];
    assert_eq!(info.id, "exam.iso");
    assert_eq!(info.size, image.len() as u64);
    assert_eq!(info.md5.to_hex(), md5_hex(&image));
    assert!(info.restricted);

    m.send(&Request::Burn {
        image_id: "exam.iso".into(),
        copies: 1,
    })
    .await;
    let events = m.until(is_end).await;
    // Acknowledged with WRITING 0 %, percentages only go up, then verifying, then the result.
    let Event::Status(first) = &events[0] else {
        panic!("STATUS first, got {:?}", events[0])
    };
    assert_eq!((first.phase, first.percent.get()), (Phase::Writing, 0));
    let statuses: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Status(p) = e {
                Some(*p)
            } else {
                None
            }
        })
        .collect();
    assert!(statuses.iter().any(|p| p.phase == Phase::Verifying));
    assert!(statuses
        .windows(2)
        .all(|w| w[0].phase != w[1].phase || w[0].percent <= w[1].percent));
    let Some(Event::Verify(result)) = events.last() else {
        panic!("VERIFY last: {events:?}")
    };
    assert!(result.passed, "{result:?}");
    assert_eq!(result.readback_md5.to_hex(), md5_hex(&image));
    assert_eq!(result.bytes, image.len() as u64);
    // The drive file is longer than the image; its first image-length bytes are the image.
    let disc = std::fs::read(&lab.disc).unwrap();
    assert!(disc.len() >= image.len());
    assert_eq!(&disc[..image.len()], &image[..]);
    // After the burn: tray opened, then the medium state.
    assert_eq!(m.recv().await, Event::TrayOpen);
    assert_eq!(m.recv().await, Event::Avail);

    let Event::Info(info) = m.ask(&Request::WhatIs).await else {
        panic!("INFO expected")
    };
    assert_eq!(info.state, MediumState::Written);
    assert!(info.rewritable);
    drop(m);
    running.stop().await;

    let verify = lab.records_named("burn.verify");
    assert_eq!(verify.len(), 1);
    assert_eq!(
        verify[0].get_str("user"),
        Some(lab.principal("alice").as_str())
    );
    assert_eq!(
        verify[0].get("passed"),
        Some(&serde_json::Value::Bool(true))
    );
    assert_eq!(
        verify[0].get_str("readback_md5"),
        Some(md5_hex(&image).as_str())
    );
    assert_eq!(verify[0].get_u64("bytes"), Some(image.len() as u64));
    assert!(verify[0]
        .get_str("image_sha256")
        .is_some_and(|s| s.len() == 64));
    let order: Vec<String> = lab.records().into_iter().map(|r| r.event).collect();
    let pos = |name: &str| {
        order
            .iter()
            .position(|e| e == name)
            .unwrap_or_else(|| panic!("no {name} in {order:?}"))
    };
    assert!(pos("session.start") < pos("burn.start"));
    assert!(pos("burn.start") < pos("burn.end"));
    assert!(pos("burn.end") < pos("burn.verify"));
    assert!(pos("burn.verify") < pos("tray.open"));
    assert!(pos("tray.open") < pos("session.end"));
    assert!(burnstand_audit::verify(&lab.audit_log).unwrap().is_ok());
}

#[tokio::test]
async fn a_write_corrupted_before_read_back_fails_verify() {
    let lab = Lab::new();
    let iso = lab.make_iso("exam.iso", 1 << 20, b"", false);
    let image = std::fs::read(&iso).unwrap();
    let drive = faulty(&lab, None, Fault::CorruptAfterWrite);
    let running = lab.start(lab.config("", ""), Some(drive.clone())).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();

    m.send(&Request::Burn {
        image_id: "exam.iso".into(),
        copies: 1,
    })
    .await;
    let events = m.until(is_end).await;
    let Some(Event::Verify(result)) = events.last() else {
        panic!("VERIFY last: {events:?}")
    };
    assert!(!result.passed);
    assert_eq!(result.image_md5.to_hex(), md5_hex(&image));
    assert_ne!(result.readback_md5, result.image_md5);

    // The same drive, no longer faulty, burns and verifies: nothing is stuck.
    drive.set_fault(Fault::None);
    m.until(|e| matches!(e, Event::Avail | Event::Empty)).await;
    m.send(&Request::Burn {
        image_id: "exam.iso".into(),
        copies: 1,
    })
    .await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(r)) if r.passed),
        "{events:?}"
    );
    drop(m);
    running.stop().await;

    let verify = lab.records_named("burn.verify");
    assert_eq!(verify.len(), 2);
    assert_eq!(
        verify[0].get("passed"),
        Some(&serde_json::Value::Bool(false))
    );
    assert_eq!(
        verify[1].get("passed"),
        Some(&serde_json::Value::Bool(true))
    );
    // One receipt per copy, with its outcome.
    assert_eq!(receipt_results(&lab), ["verify_failed", "verified"]);
}

/// The `result` of every `burn.receipt`, in order.
fn receipt_results(lab: &Lab) -> Vec<String> {
    lab.records_named("burn.receipt")
        .iter()
        .filter_map(|r| r.get_str("result").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn cancel_mid_burn_reaps_xorriso_and_the_station_burns_again() {
    let lab = Lab::new();
    lab.make_iso("big.iso", 24 << 20, b"", false);
    lab.make_iso("small.iso", 256 << 10, b"", false);
    // speed=1 throttles the file drive to about 1 MB/s: the big burn takes ~20 s uncancelled.
    let running = lab.start(lab.config("", "speed = 1"), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();

    m.send(&Request::Burn {
        image_id: "big.iso".into(),
        copies: 1,
    })
    .await;
    // Wait for real progress from xorriso, so it is certainly running.
    m.until(|e| matches!(e, Event::Status(p) if p.phase == Phase::Writing && p.percent.get() > 0))
        .await;
    assert!(!xorriso_children().is_empty(), "xorriso should be running");

    m.send(&Request::Cancel).await;
    let events = m
        .until(|e| matches!(e, Event::Cancelled | Event::Error(_) | Event::Verify(_)))
        .await;
    assert_eq!(events.last(), Some(&Event::Cancelled), "{events:?}");
    // CANCELLED is only sent after xorriso was reaped: no child, not even a zombie.
    assert_eq!(xorriso_children(), Vec::<u32>::new());

    m.send(&Request::Burn {
        image_id: "small.iso".into(),
        copies: 1,
    })
    .await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(r)) if r.passed),
        "{events:?}"
    );
    drop(m);
    running.stop().await;
    assert_eq!(xorriso_children(), Vec::<u32>::new());

    let cancels = lab.records_named("burn.cancel");
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].get_str("phase"), Some("writing"));
    assert_eq!(cancels[0].get_str("reason"), Some("CANCEL request"));
    // The cancelled copy has its receipt too (it may hold part of the image), then the small.
    assert_eq!(receipt_results(&lab), ["cancelled", "verified"]);
}

#[tokio::test]
async fn two_sessions_racing_for_the_drive_one_gets_busy() {
    let lab = Lab::new();
    lab.make_iso("big.iso", 16 << 20, b"", false);
    let running = lab.start(lab.config("", "speed = 1"), None).await;
    let mut a = connect_as_master(&lab, running.addr).await.module();
    let mut b = connect_as_master(&lab, running.addr).await.module();

    let burn = Request::Burn {
        image_id: "big.iso".into(),
        copies: 1,
    };
    let (ea, eb) = tokio::join!(a.ask(&burn), b.ask(&burn));
    let busy = |e: &Event| matches!(e, Event::Error(r) if r.code == ErrorCode::Busy);
    let started = |e: &Event| matches!(e, Event::Status(p) if p.phase == Phase::Writing);
    let (mut winner, loser_event) = match (started(&ea), started(&eb)) {
        (true, false) => (a, eb),
        (false, true) => (b, ea),
        _ => panic!("exactly one burn must start: {ea:?} / {eb:?}"),
    };
    assert!(busy(&loser_event), "{loser_event:?}");
    let Event::Error(report) = &loser_event else {
        unreachable!()
    };
    assert!(report.text.contains("busy"), "{report}");
    // Only one xorriso ever ran.
    assert!(xorriso_children().len() <= 1);

    winner.send(&Request::Cancel).await;
    winner.until(|e| matches!(e, Event::Cancelled)).await;
    drop(winner);
    running.stop().await;
    let denied = lab.records_named("burn.deny");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].get_str("reason"), Some("drive busy"));
}

#[tokio::test]
async fn tray_open_no_disc_and_a_failed_write_are_reported() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 256 << 10, b"", false);
    let drive = faulty(&lab, None, Fault::TrayOpen);
    let running = lab
        .start(
            lab.config("eject_after_burn = false", ""),
            Some(drive.clone()),
        )
        .await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let burn = Request::Burn {
        image_id: "exam.iso".into(),
        copies: 1,
    };

    let Event::Info(info) = m.ask(&Request::WhatIs).await else {
        panic!("INFO")
    };
    assert_eq!(info.state, MediumState::TrayOpen);
    let e = m.ask(&burn).await;
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::NoMedium && r.text.contains("blank disc")),
        "{e:?}"
    );

    drive.set_fault(Fault::NoMedium);
    let Event::Cap(cap) = m.ask(&Request::Capab).await else {
        panic!("CAP")
    };
    assert_eq!(cap.medium, MediumState::Absent);
    let e = m.ask(&burn).await;
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::NoMedium),
        "{e:?}"
    );

    drive.set_fault(Fault::WriteFailsHalfway);
    m.send(&burn).await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Error(r)) if r.code == ErrorCode::BurnFailed && r.text.contains("50 %")),
        "{events:?}"
    );

    drive.set_fault(Fault::None);
    m.send(&burn).await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(r)) if r.passed),
        "{events:?}"
    );
    m.until(|e| matches!(e, Event::Avail)).await;

    // OPEN opens the tray (a no-op on a file, but audited like a real one).
    assert_eq!(m.ask(&Request::Open).await, Event::TrayOpen);
    drop(m);
    running.stop().await;
    let deny: Vec<_> = lab
        .records_named("burn.deny")
        .iter()
        .filter_map(|r| r.get_str("reason").map(str::to_owned))
        .collect();
    assert_eq!(deny, ["no burnable disc", "no burnable disc"]);
    let end = lab.records_named("burn.end");
    assert_eq!(end[0].get("ok"), Some(&serde_json::Value::Bool(false)));
    assert_eq!(lab.records_named("tray.open").len(), 1);
    // Refused burns never started: receipts only for the failed and the good copy.
    assert_eq!(receipt_results(&lab), ["failed", "verified"]);
}

#[tokio::test]
async fn copies_are_burned_one_after_the_other() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 256 << 10, b"", false);
    let running = lab
        .start(lab.config("eject_after_burn = false", ""), None)
        .await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.send(&Request::Burn {
        image_id: "exam.iso".into(),
        copies: 2,
    })
    .await;
    let mut results = Vec::new();
    while results.len() < 2 {
        match m.recv().await {
            Event::Verify(r) => results.push(r),
            Event::Error(r) => panic!("{r}"),
            _ => {}
        }
    }
    assert_eq!(
        results
            .iter()
            .map(|r| (r.copy, r.copies, r.passed))
            .collect::<Vec<_>>(),
        [(1, 2, true), (2, 2, true)]
    );
    drop(m);
    running.stop().await;
    // Between copies the tray is opened even with eject_after_burn = false.
    assert_eq!(lab.records_named("tray.open").len(), 1);
    assert_eq!(lab.records_named("burn.verify").len(), 2);
}

#[tokio::test]
async fn shutdown_mid_burn_cancels_reaps_and_audits() {
    let lab = Lab::new();
    lab.make_iso("big.iso", 16 << 20, b"", false);
    let running = lab.start(lab.config("", "speed = 1"), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.send(&Request::Burn {
        image_id: "big.iso".into(),
        copies: 1,
    })
    .await;
    m.until(|e| matches!(e, Event::Status(p) if p.percent.get() > 0))
        .await;
    running.stop().await;
    assert_eq!(xorriso_children(), Vec::<u32>::new());
    let cancels = lab.records_named("burn.cancel");
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].get_str("reason"), Some("station shutting down"));
    assert_eq!(
        lab.records().last().map(|r| r.event.clone()),
        Some("station.stop".into())
    );
    drop(m);
}

#[tokio::test]
async fn an_idle_session_hears_avail_or_empty() {
    let lab = Lab::new();
    let running = lab
        .start(lab.config("idle_report_secs = 1", ""), None)
        .await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    // The file drive's disc file does not exist yet: xorriso reports it blank.
    assert_eq!(m.recv().await, Event::Avail);
    drop(m);
    running.stop().await;
}

#[tokio::test]
async fn losing_the_session_mid_burn_cancels_and_reaps() {
    let lab = Lab::new();
    lab.make_iso("big.iso", 16 << 20, b"", false);
    lab.make_iso("small.iso", 64 << 10, b"", false);
    let running = lab.start(lab.config("", "speed = 1"), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.send(&Request::Burn {
        image_id: "big.iso".into(),
        copies: 1,
    })
    .await;
    m.until(|e| matches!(e, Event::Status(p) if p.percent.get() > 0))
        .await;
    drop(m); // the master's connection is gone

    eventually("the burn is cancelled and audited", || {
        lab.records_named("burn.cancel")
            .iter()
            .any(|r| r.get_str("reason") == Some("session ended"))
    })
    .await;
    eventually("xorriso is reaped", || xorriso_children().is_empty()).await;
    eventually("the session end is audited", || {
        !lab.records_named("session.end").is_empty()
    })
    .await;

    // The drive is free again for the next session.
    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.send(&Request::Burn {
        image_id: "small.iso".into(),
        copies: 1,
    })
    .await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(r)) if r.passed),
        "{events:?}"
    );
    drop(m);
    running.stop().await;
}
