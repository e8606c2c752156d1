//! Who may talk to the station and what they may burn or see.

use burnstand_wire::burner::{ErrorCode, Event, Request};
use burnstand_wire::datastream::to_bytes;

use crate::harness::*;

#[tokio::test]
async fn a_principal_that_is_not_the_master_is_refused_and_audited() {
    let lab = Lab::new();
    let running = lab.start(lab.config("", ""), None).await;

    // mallory has a valid ticket for the station, but is not a trusted master.
    let cred = user_credentials(&lab, "mallory");
    match connect_with(&lab, running.addr, cred, "mallory").await {
        Connected::Closed(e) => assert!(matches!(e, burnstand_wire::IoError::Closed), "{e}"),
        Connected::Ok(_) => panic!("mallory was served"),
        Connected::NotAvailable => panic!("mallory got ERRNOTAVL instead of a closed connection"),
    }
    // The master still is served.
    let mut m = connect_as_master(&lab, running.addr).await.module();
    assert!(matches!(m.ask(&Request::Capab).await, Event::Cap(_)));
    drop(m);
    running.stop().await;

    let denied = lab.records_named("session.deny");
    assert_eq!(denied.len(), 1);
    assert_eq!(
        denied[0].get_str("principal"),
        Some(lab.principal("mallory").as_str())
    );
    assert_eq!(denied[0].get_str("reason"), Some("not a trusted master"));
    assert_eq!(lab.records_named("session.start").len(), 1);
}

#[tokio::test]
async fn an_unusable_drive_is_answered_with_errnotavl() {
    let lab = Lab::new();
    let text = lab.config_text("", "").replace(
        &format!("file = \"{}\"", lab.disc.display()),
        "file = \"/nonexistent-burnstand-dir/disc.img\"",
    );
    let config = burnstand_station::Config::parse(&text, std::path::Path::new("t")).unwrap();
    let running = lab.start(config, None).await;
    assert!(matches!(
        connect_as_master(&lab, running.addr).await,
        Connected::NotAvailable
    ));
    running.stop().await;
    let refused = lab.records_named("session.refuse");
    assert_eq!(refused.len(), 1);
    assert!(refused[0]
        .get_str("reason")
        .is_some_and(|r| r.contains("missing")));
}

#[tokio::test]
async fn users_see_and_burn_only_what_they_are_allowed() {
    let lab = Lab::new();
    lab.make_iso("alice.iso", 64 << 10, b"", false);
    lab.make_iso("staff.iso", 96 << 10, b"", true);
    lab.policy_header(&format!(
        "realms = [\"{REALM}\"]\n[groups]\nstaff = [\"{}\"]\n",
        lab.principal("mallory")
    ));
    lab.entitle("staff.iso", "allow_groups = [\"staff\"]");
    let config = lab.config("", "");
    let running = lab.start(config, None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();

    let Event::Cap(cap) = m.ask(&Request::Capab).await else {
        panic!("CAP")
    };
    let ids: Vec<&str> = cap.images.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["alice.iso"]);

    let e = m
        .ask(&Request::Burn {
            image_id: "staff.iso".into(),
            copies: 1,
        })
        .await;
    // Not offered to alice: answered like an image that does not exist.
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::UnknownImage),
        "{e:?}"
    );
    let e = m
        .ask(&Request::Burn {
            image_id: "../../etc/passwd".into(),
            copies: 1,
        })
        .await;
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::UnknownImage),
        "{e:?}"
    );
    drop(m);
    running.stop().await;
    let reasons: Vec<String> = lab
        .records_named("burn.deny")
        .iter()
        .filter_map(|r| r.get_str("reason").map(str::to_owned))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with(&format!(
            "no entitlement: {} may not burn image",
            lab.principal("alice")
        )),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], "unknown image");
}

#[tokio::test]
async fn bad_requests_get_an_error_and_the_session_goes_on() {
    let lab = Lab::new();
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    for garbage in [
        to_bytes("DOWNLOAD"),
        to_bytes("capab"),
        vec![0, 0, 0],
        to_bytes(&Request::Capab)[..5].to_vec(),
    ] {
        m.session.send_bytes(&garbage).await.unwrap();
        let e = m.recv().await;
        assert!(
            matches!(&e, Event::Error(r) if r.code == ErrorCode::BadRequest && r.text.contains("not a burner request")),
            "{e:?}"
        );
    }
    let e = m.ask(&Request::Cancel).await;
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::NotBurning),
        "{e:?}"
    );
    assert!(matches!(m.ask(&Request::Capab).await, Event::Cap(_)));
    drop(m);
    running.stop().await;
}

/// No message returns restricted image bytes: every plaintext the station sends during a
/// full session (capabilities, medium info, a burn with verify, tray, errors) is searched for
/// a marker that starts the image's payload, in both byte and UTF-16 form.
#[tokio::test]
async fn no_message_carries_restricted_image_bytes() {
    let lab = Lab::new();
    let marker = b"RESTRICTED-PAYLOAD-7f3a9c1e-do-not-leak";
    let iso = lab.make_iso("secret.iso", 512 << 10, marker, true);
    let image = std::fs::read(&iso).unwrap();
    assert!(
        image.windows(marker.len()).any(|w| w == marker),
        "marker is in the image"
    );
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();

    let mut seen: Vec<Vec<u8>> = Vec::new();
    for request in [Request::Capab, Request::WhatIs] {
        m.send(&request).await;
        seen.push(m.recv_raw().await);
    }
    m.send(&Request::Burn {
        image_id: "secret.iso".into(),
        copies: 1,
    })
    .await;
    loop {
        let raw = m.recv_raw().await;
        let event: Event = burnstand_wire::datastream::from_bytes(&raw).unwrap();
        seen.push(raw);
        if matches!(event, Event::Avail | Event::Empty) {
            break;
        }
    }
    for request in [Request::WhatIs, Request::Open, Request::Cancel] {
        m.send(&request).await;
        seen.push(m.recv_raw().await);
    }
    drop(m);
    running.stop().await;

    let utf16: Vec<u8> = marker.iter().flat_map(|&b| [0, b]).collect();
    for raw in &seen {
        assert!(
            !raw.windows(marker.len()).any(|w| w == marker),
            "a message carried image bytes"
        );
        assert!(
            !raw.windows(utf16.len()).any(|w| w == utf16),
            "a message carried image text"
        );
        assert!(
            raw.len() < 4096,
            "no message is anywhere near image-sized ({} bytes)",
            raw.len()
        );
    }
    assert!(seen.len() >= 8);
}

/// The station fails closed: when an audit record cannot be made durable, the action it would
/// have recorded does not happen, the user is told, and new sessions get ERRNOTAVL.
#[tokio::test]
async fn an_audit_failure_stops_the_burn_before_xorriso_and_refuses_new_sessions() {
    use burnstand_audit::{OpenOptions, TestOnlyFailure};
    use burnstand_station::config::DriveTarget;
    use burnstand_station::drive::XorrisoDrive;
    use burnstand_wire::burner::DriveKind;

    let lab = Lab::new();
    lab.make_iso("exam.iso", 64 << 10, b"", false);
    std::fs::create_dir_all(lab.audit_log.parent().unwrap()).unwrap();
    // Appends: 1 station.start, 2 session.start, 3 burn.start (its fsync fails).
    let audit = OpenOptions::new()
        .test_only_failure(TestOnlyFailure::Sync { on_append: 3 })
        .open(&lab.audit_log)
        .unwrap();
    let drive = XorrisoDrive::new(
        DriveKind::Dvd,
        DriveTarget::File(lab.disc.clone()),
        None,
        "xorriso".into(),
    );
    let station = burnstand_station::Station::with_parts(
        lab.config("", ""),
        std::sync::Arc::new(drive),
        audit,
    )
    .unwrap();
    let running = lab.serve(station).await;

    let mut m = connect_as_master(&lab, running.addr).await.module();
    let e = m
        .ask(&Request::Burn {
            image_id: "exam.iso".into(),
            copies: 1,
        })
        .await;
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::Unavailable && r.text.contains("audit")),
        "{e:?}"
    );
    assert!(!lab.disc.exists(), "nothing was burned");
    assert!(xorriso_children().is_empty());

    assert!(matches!(
        connect_as_master(&lab, running.addr).await,
        Connected::NotAvailable
    ));
    drop(m);
    running.shutdown.cancel();
}

/// A block that does not open (here: not a sealed wrap token) means the connection lost sync:
/// the station closes it, and audits the session's end.
#[tokio::test]
async fn a_block_that_does_not_open_ends_the_session() {
    let lab = Lab::new();
    let running = lab.start(lab.config("", ""), None).await;
    let m = connect_as_master(&lab, running.addr).await.module();
    let (mut blocks, _ctx) = m.session.into_raw_parts();
    blocks
        .write_block(b"this is not a Kerberos wrap token")
        .await
        .unwrap();
    assert!(matches!(
        blocks.read_block().await,
        Err(burnstand_wire::IoError::Closed)
    ));
    eventually("the session end is audited", || {
        lab.records_named("session.end").iter().any(|r| {
            r.get_str("reason")
                .is_some_and(|s| s.starts_with("connection lost"))
        })
    })
    .await;
    running.stop().await;
}

/// An image the user is not offered (no entitlement, or one for another drive kind) must be
/// indistinguishable from an image that does not exist: the same ERROR UNKNOWNIMAGE, byte for
/// byte, and nothing of the hidden image (digests, name) in anything the user receives.
/// DENIED, with its reason, is only for images CAP shows this user (here: an expired one).
#[tokio::test]
async fn a_hidden_image_is_answered_exactly_like_one_that_does_not_exist() {
    use sha2::Digest as _;
    let lab = Lab::new();
    lab.make_iso("mine.iso", 64 << 10, b"", false);
    let hidden = lab.make_iso("staff.iso", 96 << 10, b"", true);
    lab.make_iso("old.iso", 80 << 10, b"", false);
    lab.policy_header(&format!(
        "realms = [\"{REALM}\"]\n[groups]\nstaff = [\"{}\"]\n",
        lab.principal("mallory")
    ));
    lab.entitle("staff.iso", "allow_groups = [\"staff\"]");
    lab.entitle(
        "old.iso",
        &format!(
            "allow_users = [\"{}\"]\nvalid_until = \"2021-06-30T12:00:00Z\"",
            lab.principal("alice")
        ),
    );
    let bytes = std::fs::read(&hidden).unwrap();
    let secrets: Vec<String> = vec![
        hex::encode(sha2::Sha256::digest(&bytes)),
        hex::encode(md5::Md5::digest(&bytes)),
        "Image staff.iso".into(),
    ];
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let mut seen: Vec<Vec<u8>> = Vec::new();

    m.send(&Request::Capab).await;
    let raw = m.recv_raw().await;
    let Event::Cap(cap) = burnstand_wire::datastream::from_bytes(&raw).unwrap() else {
        panic!("CAP")
    };
    seen.push(raw);
    let ids: Vec<&str> = cap.images.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        ["mine.iso", "old.iso"],
        "the expired one is shown, the hidden one not"
    );

    let burn = |id: &str| Request::Burn {
        image_id: id.into(),
        copies: 1,
    };
    // The hidden image, while it exists…
    m.send(&burn("staff.iso")).await;
    let hidden_answer = m.recv_raw().await;
    seen.push(hidden_answer.clone());
    // …and the same id once the image is gone from the catalog.
    std::fs::remove_file(&hidden).unwrap();
    std::fs::remove_file(lab.images.join("staff.iso.toml")).unwrap();
    m.send(&burn("staff.iso")).await;
    let missing_answer = m.recv_raw().await;
    seen.push(missing_answer.clone());
    assert_eq!(
        hidden_answer, missing_answer,
        "a hidden image must be answered byte for byte like a missing one"
    );
    let e: Event = burnstand_wire::datastream::from_bytes(&hidden_answer).unwrap();
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::UnknownImage),
        "{e:?}"
    );

    // An image the user can see is refused with DENIED and the reason.
    m.send(&burn("old.iso")).await;
    let raw = m.recv_raw().await;
    let e: Event = burnstand_wire::datastream::from_bytes(&raw).unwrap();
    seen.push(raw);
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::Denied && r.text.contains("ended at")),
        "{e:?}"
    );
    drop(m);
    running.stop().await;

    for secret in &secrets {
        let utf16: Vec<u8> = secret.bytes().flat_map(|b| [0, b]).collect();
        for raw in &seen {
            assert!(
                !raw.windows(utf16.len()).any(|w| w == utf16)
                    && !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the user received {secret:?} of a hidden image"
            );
        }
    }
    // The audit log keeps the real reason for the lab staff.
    let reasons: Vec<String> = lab
        .records_named("burn.deny")
        .iter()
        .filter_map(|r| r.get_str("reason").map(str::to_owned))
        .collect();
    assert!(reasons[0].starts_with("no entitlement"), "{reasons:?}");
    assert_eq!(reasons[1], "unknown image");
}
