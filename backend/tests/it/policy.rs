//! The station's final say: entitlements by SHA-256, copy quotas counted from its own
//! receipts, the master's copy grants for limited images, expiry, and who may use it at all.

use burnstand_wire::burner::{ErrorCode, Event, Request};
use burnstand_wire::gss::initiator_credentials;
use burnstand_wire::link::{GrantRequest, MasterMessage, StationMessage};

use crate::harness::*;

fn is_end(e: &Event) -> bool {
    matches!(e, Event::Verify(_) | Event::Error(_) | Event::Cancelled)
}

fn burn(image: &str) -> Request {
    Request::Burn {
        image_id: image.into(),
        copies: 1,
    }
}

fn denial(e: &Event) -> &str {
    match e {
        Event::Error(r) if r.code == ErrorCode::Denied => &r.text,
        other => panic!("expected ERROR DENIED, got {other:?}"),
    }
}

async fn as_master(
    lab: &Lab,
    addr: std::net::SocketAddr,
    identity: burnstand_wire::command::Identity,
) -> Module {
    let cred = initiator_credentials(Some(&lab.principal(MASTER))).expect("master credentials");
    connect_with_identity(lab, addr, cred, identity)
        .await
        .module()
}

#[tokio::test]
async fn a_quota_counts_this_stations_receipts_also_after_a_restart() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 256 << 10, b"", true);
    lab.entitle(
        "exam.iso",
        &format!("allow_users = [\"{}\"]\ncopies = 1", lab.principal("alice")),
    );
    let running = lab.start(lab.config("", ""), None).await;
    let (link, _) = control_link(&lab, running.addr).await;
    let (granting, _) = answer_grants(link, None);
    eventually("the control link is up", || {
        !lab.records_named("control.link").is_empty()
    })
    .await;
    let mut m = connect_as_master(&lab, running.addr).await.module();

    m.send(&burn("exam.iso")).await;
    let events = m.until(is_end).await;
    // The receipt comes before the VERIFY that ends the copy, and it is the logged line.
    let receipt = events
        .iter()
        .find_map(|e| match e {
            Event::Receipt(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no RECEIPT: {events:?}"));
    assert!(
        matches!(events.last(), Some(Event::Verify(v)) if v.passed),
        "{events:?}"
    );
    let logged = lab.records_named("burn.receipt");
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].seq, receipt.seq);
    assert_eq!(
        burnstand_audit::line_hash(receipt.line.as_bytes()),
        receipt.hash.to_hex()
    );
    assert!(
        receipt.line.contains("\"result\":\"verified\""),
        "{}",
        receipt.line
    );
    assert!(receipt
        .line
        .contains("\"session_id\":\"test-session-alice\""));

    // The job ends with the tray and the drive's state.
    m.until(|e| matches!(e, Event::Avail | Event::Empty)).await;
    // The second copy is over the quota: refused with the reason, and audited.
    let e = m.ask(&burn("exam.iso")).await;
    assert_eq!(denial(&e), "quota used up: 1 of 1 copies of exam.iso");
    // CAPAB still lists it (the user is entitled; BURN says why not now).
    let Event::Cap(cap) = m.ask(&Request::Capab).await else {
        panic!("CAP")
    };
    assert_eq!(cap.images.len(), 1, "{:?}", cap.images);
    drop(m);
    granting.abort();
    running.stop().await;

    // A restarted station counts from its log (before it would ask any master).
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let e = m.ask(&burn("exam.iso")).await;
    assert_eq!(denial(&e), "quota used up: 1 of 1 copies of exam.iso");
    drop(m);
    running.stop().await;
    let denies = lab.records_named("burn.deny");
    assert_eq!(denies.len(), 2, "{denies:?}");
    assert!(denies
        .iter()
        .all(|r| r.get_str("reason") == Some("quota used up: 1 of 1 copies of exam.iso")));
}

type Asked = std::sync::Arc<std::sync::Mutex<Vec<GrantRequest>>>;

/// Plays the master's control link: answers every grant request with `answer` and records
/// the requests.
fn answer_grants(
    link: burnstand_wire::io::Session<tokio::net::TcpStream>,
    refuse: Option<&'static str>,
) -> (tokio::task::JoinHandle<()>, Asked) {
    answer_grants_with(link, move |request, _| match refuse {
        None => MasterMessage::Grant {
            copy_id: request.copy_id.clone(),
        },
        Some(reason) => MasterMessage::NoGrant {
            copy_id: request.copy_id.clone(),
            reason: reason.into(),
        },
    })
}

/// Plays the master's control link: answers the `n`th grant request (from 0) with
/// `answer(request, n)` and records the requests.
fn answer_grants_with(
    mut link: burnstand_wire::io::Session<tokio::net::TcpStream>,
    answer: impl Fn(&GrantRequest, usize) -> MasterMessage + Send + 'static,
) -> (tokio::task::JoinHandle<()>, Asked) {
    let asked: Asked = Default::default();
    let seen = std::sync::Arc::clone(&asked);
    let task = tokio::spawn(async move {
        while let Ok(message) = link.recv::<StationMessage>().await {
            if let StationMessage::GrantRequest(request) = message {
                let answer = {
                    let mut seen = seen.lock().unwrap();
                    let answer = answer(&request, seen.len());
                    seen.push(request);
                    answer
                };
                if link.send(&answer).await.is_err() {
                    return;
                }
            }
        }
    });
    (task, asked)
}

/// Two images for alice: `exam.iso`, limited to 5 copies (each needs the master's grant), and
/// `free.iso`, unlimited (needs none).
fn limited_and_free(lab: &Lab) {
    lab.make_iso("exam.iso", 64 << 10, b"", true);
    lab.make_iso("free.iso", 64 << 10, b"not the exam", false);
    lab.entitle(
        "exam.iso",
        &format!("allow_users = [\"{}\"]\ncopies = 5", lab.principal("alice")),
    );
    lab.entitle(
        "free.iso",
        &format!("allow_users = [\"{}\"]", lab.principal("alice")),
    );
}

#[tokio::test]
async fn a_limited_image_burns_only_with_the_masters_grant() {
    let lab = Lab::new();
    limited_and_free(&lab);
    let running = lab.start(lab.config("", ""), None).await;

    // No control link: the limited image is refused with a reason a user can act on, before
    // anything is written; the unlimited one burns.
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let e = m.ask(&burn("exam.iso")).await;
    assert!(denial(&e).contains("cannot be reached"), "{e:?}");
    assert!(lab.records_named("burn.start").is_empty());
    m.send(&burn("free.iso")).await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(v)) if v.passed),
        "{events:?}"
    );
    m.until(|e| matches!(e, Event::Avail | Event::Empty)).await;

    // The master refuses: the user gets its reason, nothing is written.
    let (link, _) = control_link(&lab, running.addr).await;
    let (task, asked) = answer_grants(link, Some("quota used up on another station"));
    eventually("the control link is up", || {
        lab.records_named("control.link")
            .iter()
            .any(|r| r.get_str("state") == Some("up"))
    })
    .await;
    let e = m.ask(&burn("exam.iso")).await;
    assert!(
        denial(&e).contains("quota used up on another station"),
        "{e:?}"
    );
    assert_eq!(asked.lock().unwrap().len(), 1);
    assert_eq!(
        lab.records_named("burn.start").len(),
        1,
        "only free.iso started"
    );
    task.abort();

    // The master grants: the copy burns, and grant, burn.start and receipt carry one copy id.
    let (link, station_id) = control_link(&lab, running.addr).await;
    let (task, asked) = answer_grants(link, None);
    eventually("the new control link is up", || {
        lab.records_named("control.link")
            .iter()
            .filter(|r| r.get_str("state") == Some("up"))
            .count()
            == 2
    })
    .await;
    m.send(&burn("exam.iso")).await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(v)) if v.passed),
        "{events:?}"
    );
    let request = asked
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a grant request");
    assert_eq!(request.user, lab.principal("alice"));
    assert_eq!(request.image_id, "exam.iso");
    assert_eq!((request.copy, request.copies), (1, 1));
    let start = lab.records_named("burn.start").pop().expect("burn.start");
    assert_eq!(start.get_str("copy_id"), Some(request.copy_id.as_str()));
    let receipt = lab.records_named("burn.receipt").pop().expect("receipt");
    assert_eq!(receipt.get_str("copy_id"), Some(request.copy_id.as_str()));
    assert_eq!(receipt.get_str("station"), Some(station_id.as_str()));
    task.abort();
    drop(m);
    running.stop().await;
}

#[tokio::test]
async fn an_expired_entitlement_is_refused() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 64 << 10, b"", true);
    lab.entitle(
        "exam.iso",
        &format!(
            "allow_users = [\"{}\"]\nvalid_until = \"2021-06-30T12:00:00Z\"",
            lab.principal("alice")
        ),
    );
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let e = m.ask(&burn("exam.iso")).await;
    assert_eq!(
        denial(&e),
        "the entitlement to burn exam.iso ended at 2021-06-30T12:00:00Z"
    );
    drop(m);
    running.stop().await;
    assert!(lab.records_named("burn.start").is_empty());
}

/// The master vouches for a user the policy does not admit: the station refuses the session.
async fn refused_identity(lab: &Lab, user: &str) -> String {
    let running = lab.start(lab.config("", ""), None).await;
    let mut identity = identity_of(lab, "alice");
    identity.user = user.to_owned();
    identity.user_exported_name =
        burnstand_station::principal::exported_name(user).expect("exported name");
    let mut m = as_master(lab, running.addr, identity).await;
    let text = denial(&m.recv().await).to_owned();
    // Then the station closes the session.
    assert!(m.session.recv_bytes().await.is_err());
    drop(m);
    // Other users are served as before.
    let mut alice = connect_as_master(lab, running.addr).await.module();
    assert!(matches!(alice.ask(&Request::Capab).await, Event::Cap(_)));
    drop(alice);
    running.stop().await;
    let refused = lab.records_named("session.refuse");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].get_str("principal"), Some(user));
    assert!(lab
        .records_named("session.start")
        .iter()
        .all(|r| r.get_str("user") != Some(user)));
    text
}

#[tokio::test]
async fn foreign_realm_and_anonymous_users_are_refused_unless_the_policy_admits_them() {
    let lab = Lab::new();
    let text = refused_identity(&lab, "eve@OTHER.TEST").await;
    assert_eq!(
        text,
        "principals of realm OTHER.TEST are not accepted here; log in with an account of BURNSTAND.TEST"
    );
    let lab = Lab::new();
    let text = refused_identity(&lab, "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS").await;
    assert!(
        text.starts_with("the anonymous principal is not accepted"),
        "{text}"
    );

    // Admitted when the policy says so (and then entitled like anyone else).
    let lab = Lab::new();
    lab.policy_header(&format!(
        "realms = [\"{REALM}\", \"OTHER.TEST\"]\nallow_anonymous = true\n"
    ));
    lab.make_iso("open.iso", 64 << 10, b"", false);
    lab.entitle(
        "open.iso",
        "allow_users = [\"*@OTHER.TEST\", \"*@WELLKNOWN:ANONYMOUS\"]",
    );
    let running = lab.start(lab.config("", ""), None).await;
    for user in ["eve@OTHER.TEST", "WELLKNOWN/ANONYMOUS@WELLKNOWN:ANONYMOUS"] {
        let mut identity = identity_of(&lab, "alice");
        identity.user = user.to_owned();
        identity.user_exported_name =
            burnstand_station::principal::exported_name(user).expect("exported name");
        let mut m = as_master(&lab, running.addr, identity).await;
        let Event::Cap(cap) = m.ask(&Request::Capab).await else {
            panic!("CAP for {user}")
        };
        assert_eq!(cap.images.len(), 1, "{user}");
    }
    running.stop().await;
}

#[tokio::test]
async fn look_alike_principals_are_not_the_entitled_user() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 64 << 10, b"", true);
    let running = lab.start(lab.config("", ""), None).await;
    for user in ["alice/admin", "Alice", "alice.BURNSTAND.TEST"] {
        let principal = format!("{user}@{REALM}");
        let mut identity = identity_of(&lab, "alice");
        identity.user = principal.clone();
        identity.user_exported_name =
            burnstand_station::principal::exported_name(&principal).expect("exported name");
        let mut m = as_master(&lab, running.addr, identity).await;
        let e = m.ask(&burn("exam.iso")).await;
        // Not theirs: the image is hidden from them, as if it did not exist.
        assert!(
            matches!(&e, Event::Error(r) if r.code == ErrorCode::UnknownImage),
            "{user}: {e:?}"
        );
    }
    running.stop().await;
    let reasons: Vec<String> = lab
        .records_named("burn.deny")
        .iter()
        .filter_map(|r| r.get_str("reason").map(str::to_owned))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.starts_with("no entitlement")),
        "{reasons:?}"
    );
}

/// The review's finding: an entitlement's `valid_until` was checked once, at BURN, so a
/// `BURN id 2` started before the end burned its second copy after it. Now every copy is
/// granted on its own: the master (played here) grants copy 1 and refuses copy 2 because the
/// entitlement ended meanwhile; copy 2 is never written and the user is told why, after copy
/// 1's VERIFY.
#[tokio::test]
async fn an_entitlement_that_ends_between_copies_refuses_the_later_copies() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 64 << 10, b"", true);
    // Dated (so every copy needs a grant), and still valid by the station's clock: only the
    // master's per-copy decision can refuse copy 2.
    lab.entitle(
        "exam.iso",
        &format!(
            "allow_users = [\"{}\"]\nvalid_until = \"2099-01-01T00:00:00Z\"",
            lab.principal("alice")
        ),
    );
    let running = lab.start(lab.config("", ""), None).await;
    let (link, _) = control_link(&lab, running.addr).await;
    const ENDED: &str = "the entitlement to burn exam.iso ended at 2026-01-01T00:00:00Z";
    let (task, asked) = answer_grants_with(link, |request, n| {
        let copy_id = request.copy_id.clone();
        if n == 0 {
            MasterMessage::Grant { copy_id }
        } else {
            MasterMessage::NoGrant {
                copy_id,
                reason: ENDED.into(),
            }
        }
    });
    eventually("the control link is up", || {
        lab.records_named("control.link")
            .iter()
            .any(|r| r.get_str("state") == Some("up"))
    })
    .await;

    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.send(&Request::Burn {
        image_id: "exam.iso".into(),
        copies: 2,
    })
    .await;
    let first = m.until(is_end).await;
    match first.last() {
        Some(Event::Verify(v)) => assert_eq!((v.copy, v.copies, v.passed), (1, 2, true)),
        other => panic!("copy 1 should verify first, got {other:?} in {first:?}"),
    }
    let second = m.until(is_end).await;
    let refusal = denial(second.last().expect("an end event")).to_owned();
    assert_eq!(refusal, format!("the master refused the copy: {ENDED}"));
    assert!(
        !second.iter().any(|e| matches!(e, Event::Receipt(_))),
        "copy 2 has no receipt: it was never started: {second:?}"
    );
    drop(m);
    task.abort();
    running.stop().await;

    // Each copy was asked for on its own, with its own copy id.
    let asked = asked.lock().unwrap().clone();
    assert_eq!(
        asked.iter().map(|r| (r.copy, r.copies)).collect::<Vec<_>>(),
        [(1, 2), (2, 2)]
    );
    assert_ne!(asked[0].copy_id, asked[1].copy_id);
    // Only copy 1 was written: one burn.start, one receipt, both of the granted copy id.
    let starts = lab.records_named("burn.start");
    assert_eq!(starts.len(), 1, "{starts:?}");
    assert_eq!(
        starts[0].get_str("copy_id"),
        Some(asked[0].copy_id.as_str())
    );
    let receipts = lab.records_named("burn.receipt");
    assert_eq!(receipts.len(), 1, "{receipts:?}");
    assert_eq!(
        receipts[0].get_str("copy_id"),
        Some(asked[0].copy_id.as_str())
    );
    // The refusal is audited with the reason the user saw.
    let denies = lab.records_named("burn.deny");
    assert_eq!(denies.len(), 1, "{denies:?}");
    assert_eq!(denies[0].get_str("reason"), Some(refusal.as_str()));
}

/// The master goes away while its control link is idle: the station must notice and fail
/// closed for limited images (DENIED, telling the user what to do) instead of burning an
/// uncounted copy, while images without a limit need no master and still burn.
#[tokio::test]
async fn a_control_link_that_went_away_refuses_limited_images_and_not_unlimited_ones() {
    let lab = Lab::new();
    limited_and_free(&lab);
    let running = lab.start(lab.config("", ""), None).await;
    let (link, _) = control_link(&lab, running.addr).await;
    let (task, asked) = answer_grants(link, None);
    eventually("the control link is up", || {
        lab.records_named("control.link")
            .iter()
            .any(|r| r.get_str("state") == Some("up"))
    })
    .await;

    // While the link is up the limited image burns, granted.
    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.send(&burn("exam.iso")).await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(v)) if v.passed),
        "{events:?}"
    );
    m.until(|e| matches!(e, Event::Avail | Event::Empty)).await;
    assert_eq!(asked.lock().unwrap().len(), 1);

    // The master goes away: its end of the link is closed, as a killed process's would be.
    task.abort();
    let _ = task.await;
    eventually("the station saw the control link go down", || {
        lab.records_named("control.link")
            .iter()
            .any(|r| r.get_str("state") != Some("up"))
    })
    .await;

    let e = m.ask(&burn("exam.iso")).await;
    assert_eq!(
        denial(&e),
        "this image is limited and the master that counts its copies cannot be reached from \
         the station right now; try again in a minute, or tell the lab staff"
    );
    assert_eq!(lab.records_named("burn.start").len(), 1, "nothing written");
    let denies = lab.records_named("burn.deny");
    assert_eq!(denies.len(), 1, "{denies:?}");

    // An image without a limit needs no grant: it burns with no master at all.
    m.send(&burn("free.iso")).await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(v)) if v.passed && v.image_id == "free.iso"),
        "{events:?}"
    );
    drop(m);
    running.stop().await;
    assert_eq!(lab.records_named("burn.start").len(), 2);
    assert_eq!(
        asked.lock().unwrap().len(),
        1,
        "no grant was asked without a link"
    );
}

/// Rotation does not reset a quota: the receipt in a rotated segment still counts after a
/// restart (the station indexes every segment, see `lifecycle`).
#[tokio::test]
async fn a_quota_is_counted_across_a_rotation_and_a_restart() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 256 << 10, b"", true);
    lab.entitle(
        "exam.iso",
        &format!("allow_users = [\"{}\"]\ncopies = 1", lab.principal("alice")),
    );
    let rotating = "[audit]\nrotate_bytes = 4096\n";
    let running = lab.start(lab.config(rotating, ""), None).await;
    let (link, _) = control_link(&lab, running.addr).await;
    let (granting, _) = answer_grants(link, None);
    eventually("the control link is up", || {
        crate::lifecycle::all_records(&lab)
            .iter()
            .any(|r| r.event == "control.link")
    })
    .await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    m.send(&burn("exam.iso")).await;
    let events = m.until(is_end).await;
    assert!(
        matches!(events.last(), Some(Event::Verify(v)) if v.passed),
        "{events:?}"
    );
    m.until(|e| matches!(e, Event::Avail | Event::Empty)).await;
    drop(m);
    // More sessions until the receipt is in a rotated segment, not in the live file.
    for _ in 0..200 {
        if burnstand_audit::segments_of(&lab.audit_log).unwrap().len() >= 2
            && lab.records_named("burn.receipt").is_empty()
        {
            break;
        }
        crate::lifecycle::serves(&lab, running.addr).await;
    }
    assert!(
        lab.records_named("burn.receipt").is_empty(),
        "the receipt was rotated out of the live file"
    );
    granting.abort();
    running.stop().await;

    // Restarted, the station still counts the copy from the rotated segment.
    let running = lab.start(lab.config(rotating, ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let e = m.ask(&burn("exam.iso")).await;
    assert_eq!(denial(&e), "quota used up: 1 of 1 copies of exam.iso");
    drop(m);
    running.stop().await;
    let receipts: Vec<_> = crate::lifecycle::all_records(&lab)
        .into_iter()
        .filter(|r| r.event == "burn.receipt")
        .collect();
    assert_eq!(receipts.len(), 1);
    assert!(burnstand_audit::verify_log(&lab.audit_log, None)
        .unwrap()
        .is_ok());
}
