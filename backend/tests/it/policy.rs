//! The station's final say: entitlements by SHA-256, copy quotas counted from its own
//! receipts and from the burns the master reports, expiry, and who may use it at all.

use std::time::{SystemTime, UNIX_EPOCH};

use burnstand_wire::burner::{ErrorCode, Event, Request, Sha256};
use burnstand_wire::command::PriorBurn;
use burnstand_wire::gss::initiator_credentials;

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
    running.stop().await;

    // A restarted station counts from its log.
    let running = lab.start(lab.config("", ""), None).await;
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let e = m.ask(&burn("exam.iso")).await;
    assert_eq!(denial(&e), "quota used up: 1 of 1 copies of exam.iso");
    drop(m);
    running.stop().await;
    let denies = lab.records_named("burn.deny");
    assert_eq!(denies.len(), 2);
    assert!(denies
        .iter()
        .all(|r| r.get_str("reason") == Some("quota used up: 1 of 1 copies of exam.iso")));
}

#[tokio::test]
async fn burns_the_master_reports_count_and_are_not_counted_twice() {
    let lab = Lab::new();
    let iso = lab.make_iso("exam.iso", 64 << 10, b"", true);
    lab.entitle(
        "exam.iso",
        &format!(
            "allow_users = [\"{}\"]\ncopies = 2\nperiod = \"7d\"",
            lab.principal("alice")
        ),
    );
    let sha = {
        use sha2::Digest as _;
        Sha256(sha2::Sha256::digest(std::fs::read(&iso).unwrap()).into())
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let prior = |station: &str, seq: u64, age: u64| PriorBurn {
        station: station.into(),
        station_seq: seq,
        sha256: sha,
        end_unix: now - age,
    };
    let running = lab.start(lab.config("", ""), None).await;

    // Two reports of the same burn on another station, and one burn older than the period:
    // one copy used, one left.
    let mut identity = identity_of(&lab, "alice");
    identity.prior_burns = vec![
        prior("other-station", 4, 60),
        prior("other-station", 4, 60),
        prior("other-station", 3, 8 * 86_400),
    ];
    let mut m = as_master(&lab, running.addr, identity.clone()).await;
    let e = m.ask(&Request::Capab).await;
    assert!(
        matches!(&e, Event::Cap(cap) if cap.images.len() == 1),
        "{e:?}"
    );
    let e = m
        .ask(&Request::Burn {
            image_id: "exam.iso".into(),
            copies: 2,
        })
        .await;
    assert_eq!(
        denial(&e),
        "you asked for 2 copies of \"exam.iso\" but your quota allows 1 more"
    );
    drop(m);

    // Another burn elsewhere uses the last copy.
    identity.prior_burns.push(prior("third-station", 9, 30));
    let mut m = as_master(&lab, running.addr, identity).await;
    let e = m.ask(&burn("exam.iso")).await;
    assert_eq!(
        denial(&e),
        "quota used up: 2 of 2 copies of exam.iso in the last 7d"
    );
    drop(m);
    running.stop().await;
    // Nothing was burned here.
    assert!(lab.records_named("burn.start").is_empty());
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
