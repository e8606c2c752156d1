//! Reloading the station's policy (SIGHUP, `burnstand_station::reload`): a changed policy
//! applies to the next BURN, an invalid file is refused and the old policy stays, every
//! attempt is audited, and a master that asked for the digest hears each new one.

use std::sync::Arc;

use burnstand_station::reload::{reload, Outcome, RELOAD_EVENT};
use burnstand_station::Station;
use burnstand_wire::burner::{ErrorCode, Event, Request};
use burnstand_wire::link::{MasterMessage, StationMessage};

use crate::harness::*;

fn burn(image: &str) -> Request {
    Request::Burn {
        image_id: image.into(),
        copies: 1,
    }
}

/// The policy file's digest, as `sha256sum` would print it.
fn file_digest(lab: &Lab) -> String {
    burnstand_policy::digest_of(&std::fs::read(&lab.policy).unwrap()).to_hex()
}

/// The next POLICY a control link sends (anything else the station sends first is skipped).
async fn next_digest(link: &mut burnstand_wire::io::Session<tokio::net::TcpStream>) -> String {
    loop {
        let message = tokio::time::timeout(EVENT_WAIT, link.recv::<StationMessage>())
            .await
            .expect("a message in time")
            .expect("a control message");
        if let StationMessage::Policy { digest } = message {
            return digest.to_hex();
        }
    }
}

#[tokio::test]
async fn a_reloaded_policy_applies_to_the_next_burn_and_an_invalid_one_is_refused() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 64 << 10, b"", false);
    // At first only mallory may burn it.
    lab.entitle(
        "exam.iso",
        &format!("allow_users = [\"{}\"]", lab.principal("mallory")),
    );
    let station: Arc<Station> = Station::from_config(lab.config("", "")).expect("station");
    let running = lab.serve(Arc::clone(&station)).await;
    let (mut link, _) = control_link(&lab, running.addr).await;
    link.send(&MasterMessage::Policy).await.expect("ask POLICY");
    assert_eq!(next_digest(&mut link).await, file_digest(&lab));

    // alice may not: the image is hidden from her, as if it did not exist.
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let e = m.ask(&burn("exam.iso")).await;
    assert!(
        matches!(&e, Event::Error(r) if r.code == ErrorCode::UnknownImage),
        "{e:?}"
    );

    // alice is entitled now: after the reload her next BURN on the open session burns.
    lab.entitle(
        "exam.iso",
        &format!("allow_users = [\"{}\"]", lab.principal("alice")),
    );
    let applied = reload(&station).await.expect("audited");
    assert_eq!(
        applied,
        Outcome::Applied(station.policy().digest()),
        "the new policy is in force"
    );
    assert_eq!(next_digest(&mut link).await, file_digest(&lab));
    m.burn_verified("exam.iso").await;

    // A broken file is refused: the policy in force (and its digest) stays.
    let in_force = file_digest(&lab);
    std::fs::write(&lab.policy, "[[image]]\nsha256 = \"not a digest\"\n").unwrap();
    match reload(&station).await.expect("audited") {
        Outcome::Refused(reason) => assert!(reason.contains("policy"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(station.policy().digest().to_hex(), in_force);

    let records = lab.records_named(RELOAD_EVENT);
    let results: Vec<_> = records
        .iter()
        .map(|r| (r.get_str("result"), r.get_str("digest")))
        .collect();
    assert_eq!(
        results,
        [
            (Some("ok"), Some(in_force.as_str())),
            (Some("refused"), Some(in_force.as_str()))
        ]
    );
    assert!(records[1].get_str("reason").is_some_and(|r| !r.is_empty()));
    drop(m);
    drop(link);
    running.stop().await;
}
