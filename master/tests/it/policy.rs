//! The policy at BIND: refused early with ERRDENIED and the reason, counted from the copies
//! the master recorded (its ledger, filled from its own `burn.receipt` records).

use std::time::{Duration, SystemTime};

use burnstand_audit::Event;
use burnstand_wire::command::{Command, Reply};
use burnstand_wire::gss::Principal;

use crate::client::{bind_first, burner, command, connect};
use crate::common::{lab_test, LabSpec, REALM};
use crate::station::StationEvent;

const EXAM: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// One image, `exam`, that alice and bob may burn with these extra lines.
fn policy(extra: &str) -> String {
    format!(
        "realms = [\"{REALM}\"]\n[[image]]\nsha256 = \"{EXAM}\"\nname = \"exam\"\n\
         allow_users = [\"alice@{REALM}\", \"bob@{REALM}\"]\n{extra}\n"
    )
}

/// A `burn.receipt` as a station writes it (and the master copies it), `ago` before now.
fn receipt(user: &str, station: &str, seq: u64, ago: Duration) -> Event {
    let exported = Principal::parse(&format!("{user}@{REALM}")).expect("principal");
    let end = humantime::format_rfc3339_seconds(SystemTime::now() - ago).to_string();
    Event::new("burn.receipt")
        .field("station", station)
        .field("drive", "DVD")
        .field("session_id", "earlier-session")
        .field("user", format!("{user}@{REALM}"))
        .field("user_exported", hex::encode(exported.exported()))
        .field("image_id", "exam")
        .field("image_name", "exam")
        .field("sha256", EXAM)
        .field("result", "verified")
        .field("start", end.clone())
        .field("end", end)
        .field("station_name", "far-away")
        .field("station_seq", seq)
}

fn denied(reply: &Reply) -> &str {
    match reply {
        Reply::ErrDenied(reason) => reason,
        other => panic!("expected ERRDENIED, got {other:?}"),
    }
}

#[test]
fn a_user_without_entitlement_is_denied_at_bind_with_the_reason() {
    lab_test(LabSpec::default().policy(&policy("")), |lab| async move {
        let mut carol = connect(&lab, "carol").await;
        // carol is on no allow list either, so she sees no station type; BIND the known id.
        let mut alice = connect(&lab, "alice").await;
        let types = crate::client::list(&mut alice).await;
        let reply = command(&mut carol, Command::Bind(types[0].clone())).await;
        assert_eq!(
            denied(&reply),
            format!("carol@{REALM} is not entitled to burn any image on a DVD station now")
        );
        // Command mode goes on, and an entitled user is not affected.
        assert_eq!(bind_first(&mut alice).await, Reply::Ok);
        assert_eq!(command(&mut alice, Command::Quit).await, Reply::Ok);
        drop((alice, carol));
        let records = lab.stop().await;
        let deny = records
            .iter()
            .find(|r| r.event == "bind.deny")
            .expect("a bind.deny record");
        assert_eq!(deny.get_str("principal"), Some("carol@BURNSTAND.TEST"));
        assert!(deny
            .get_str("reason")
            .is_some_and(|r| r.contains("not entitled")));
    });
}

#[test]
fn a_used_up_quota_is_denied_at_bind_and_other_burns_reach_the_station() {
    let spec = LabSpec::default()
        .policy(&policy("copies = 1\nperiod = \"30d\""))
        .seed(vec![
            receipt("alice", "far-station", 7, Duration::from_secs(3600)),
            // bob's burn is older than the period: it no longer counts.
            receipt("bob", "far-station", 8, Duration::from_secs(40 * 86_400)),
        ]);
    lab_test(spec, |mut lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let reply = bind_first(&mut alice).await;
        assert_eq!(
            denied(&reply),
            "quota used up: 1 of 1 copies of exam in the last 30d"
        );

        let mut bob = connect(&lab, "bob").await;
        assert_eq!(bind_first(&mut bob).await, Reply::Ok);
        let mut module = connect(&lab, "bob").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::Ok
        );
        let StationEvent::Identity(identity) = lab.stations[0].next_event().await else {
            panic!("expected the identity block");
        };
        assert_eq!(identity.user, format!("bob@{REALM}"));
    });
}

#[test]
fn an_expired_entitlement_is_denied_at_bind() {
    let spec = LabSpec::default().policy(&policy("valid_until = \"2020-01-01T00:00:00Z\""));
    lab_test(spec, |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let reply = bind_first(&mut alice).await;
        assert_eq!(
            denied(&reply),
            "the entitlement to burn exam ended at 2020-01-01T00:00:00Z"
        );
    });
}
