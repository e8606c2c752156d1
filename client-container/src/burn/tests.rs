//! Unit tests of [`super`] (burn.rs), kept apart so the module reads in one sitting.
use super::*;
use burnstand_wire::burner::{ErrorReport, Md5, Percent, Phase, Progress, Sha256, VerifyResult};

fn image(id: &str, name: &str) -> ImageInfo {
    ImageInfo {
        id: id.into(),
        name: name.into(),
        size: 1,
        sha256: Sha256([0; 32]),
        md5: Md5([0; 16]),
        restricted: true,
    }
}

#[test]
fn images_resolve_by_id_then_name() {
    let images = [image("exam", "Exam 2025"), image("tools", "exam")];
    assert_eq!(resolve_image(&images, "exam", "s").unwrap().id, "exam");
    assert_eq!(resolve_image(&images, "Exam 2025", "s").unwrap().id, "exam");
    assert_eq!(resolve_image(&images, "exam 2025", "s").unwrap().id, "exam");
    assert_eq!(resolve_image(&images, "TOOLS", "s").unwrap().id, "tools");
    let unknown = resolve_image(&images, "nope", "Demo station 1").unwrap_err();
    assert_eq!(unknown.exit_code(), 15);
    assert!(unknown.to_string().contains("(it offers: exam, tools)"));
}

#[test]
fn an_ambiguous_name_asks_for_the_id() {
    let images = [image("a", "Disc"), image("b", "disc")];
    let e = resolve_image(&images, "DISC", "s").unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

fn tracker(copies: u32) -> Tracker {
    let mut receipt = Receipt::for_image(&image("sample", "Sample"), copies);
    receipt.station_name = "Station 1".into();
    Tracker::new(receipt)
}

fn status(phase: Phase, copy: u32, copies: u32, percent: u8) -> Event {
    Event::Status(Progress {
        phase,
        copy,
        copies,
        percent: Percent::new(percent).unwrap(),
    })
}

fn verify(copy: u32, copies: u32, passed: bool) -> Event {
    Event::Verify(VerifyResult {
        copy,
        copies,
        image_id: "sample".into(),
        passed,
        bytes: 1,
        image_sha256: Sha256([0; 32]),
        image_md5: Md5([0; 16]),
        readback_md5: Md5([if passed { 0 } else { 1 }; 16]),
    })
}

/// Feeds `events`, returning the last flow and what was shown.
fn feed(t: &mut Tracker, events: Vec<Event>) -> (Flow, Vec<Show>) {
    let mut shown = Vec::new();
    let mut flow = Flow::Running;
    for event in events {
        flow = t.event(event, &mut |s| shown.push(s));
    }
    (flow, shown)
}

#[test]
fn a_verified_burn_ends_with_the_stations_disc_report() {
    let mut t = tracker(1);
    let (flow, _) = feed(
        &mut t,
        vec![
            Event::Avail, // an idle report that crossed the BURN
            status(Phase::Writing, 1, 1, 0),
            status(Phase::Writing, 1, 1, 50),
            status(Phase::Verifying, 1, 1, 100),
            verify(1, 1, true),
        ],
    );
    assert_eq!(flow, Flow::Reported);
    let (flow, shown) = feed(&mut t, vec![Event::TrayOpen, Event::Empty]);
    assert_eq!(flow, Flow::Over);
    assert!(matches!(&shown[0], Show::Line(l) if l.contains("take your disc")));
    let (receipt, result) = t.finish();
    assert!(result.is_ok());
    let receipt = receipt.unwrap();
    assert_eq!(receipt.result, BurnResult::Verified);
    assert_eq!(receipt.copies.len(), 1);
    assert!(!receipt.finished.is_empty());
}

#[test]
fn a_failed_verify_ends_the_request_with_exit_code_21() {
    let mut t = tracker(2);
    let (flow, shown) = feed(
        &mut t,
        vec![status(Phase::Writing, 1, 2, 0), verify(1, 2, false)],
    );
    assert_eq!(flow, Flow::Reported, "no second copy follows a failed one");
    assert!(matches!(&shown[1], Show::CopyDone(l) if l.contains("VERIFY FAILED")));
    assert_eq!(feed(&mut t, vec![Event::Avail]).0, Flow::Over);
    let (receipt, result) = t.finish();
    let e = result.unwrap_err();
    assert_eq!(e.exit_code(), 21);
    let receipt = receipt.unwrap();
    assert_eq!(receipt.result, BurnResult::Failed);
    assert!(receipt
        .problem
        .unwrap()
        .contains("verify FAILED for 1 of 1"));
}

#[test]
fn copies_continue_past_the_tray_between_them() {
    let mut t = tracker(2);
    let (flow, shown) = feed(
        &mut t,
        vec![
            status(Phase::Writing, 1, 2, 0),
            verify(1, 2, true),
            Event::TrayOpen,
            Event::Avail,
            status(Phase::Writing, 2, 2, 0),
        ],
    );
    assert_eq!(flow, Flow::Running);
    assert!(shown
        .iter()
        .any(|s| matches!(s, Show::Line(l) if l.contains("blank one for copy 2"))));
    assert_eq!(feed(&mut t, vec![verify(2, 2, true)]).0, Flow::Reported);
    assert_eq!(feed(&mut t, vec![Event::Avail]).0, Flow::Over);
    let (receipt, result) = t.finish();
    assert!(result.is_ok());
    assert_eq!(receipt.unwrap().copies.len(), 2);
}

#[test]
fn station_errors_end_the_burn_with_their_exit_codes() {
    // Refused before it started: no receipt.
    let mut t = tracker(1);
    let refusal = Event::Error(ErrorReport::new(ErrorCode::Denied, "no"));
    assert_eq!(feed(&mut t, vec![refusal]).0, Flow::Over);
    let (receipt, result) = t.finish();
    assert!(receipt.is_none());
    assert_eq!(result.unwrap_err().exit_code(), 16);

    // Failed half way: a receipt that says so.
    let mut t = tracker(1);
    let failure = Event::Error(ErrorReport::new(ErrorCode::BurnFailed, "xorriso: FAILURE"));
    let (flow, _) = feed(&mut t, vec![status(Phase::Writing, 1, 1, 0), failure]);
    assert_eq!(flow, Flow::Over);
    let (receipt, result) = t.finish();
    assert_eq!(result.unwrap_err().exit_code(), 20);
    let receipt = receipt.unwrap();
    assert_eq!(receipt.result, BurnResult::Failed);
    assert!(receipt.problem.unwrap().contains("xorriso: FAILURE"));
}

#[test]
fn after_the_last_copy_errors_and_lost_connections_are_notes() {
    let mut t = tracker(1);
    feed(
        &mut t,
        vec![status(Phase::Writing, 1, 1, 0), verify(1, 1, true)],
    );
    let tray = Event::Error(ErrorReport::new(ErrorCode::DriveFailed, "tray stuck"));
    let (flow, shown) = feed(&mut t, vec![tray]);
    assert_eq!(flow, Flow::Reported);
    assert!(matches!(&shown[0], Show::Line(l) if l.contains("tray stuck")));
    assert_eq!(t.lost(ClientError::ReservationLost), Flow::Over);
    assert!(t.finish().1.is_ok());

    let mut t = tracker(1);
    feed(&mut t, vec![status(Phase::Writing, 1, 1, 0)]);
    t.lost(ClientError::ReservationLost);
    assert_eq!(t.finish().1.unwrap_err().exit_code(), 13);
}
