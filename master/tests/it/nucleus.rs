//! The protocol nucleus (issue 16, point 6): HELLO with the client's version, notices in
//! priority order, ERRVERSION for a client that is too old, and the DELAY that precedes a
//! refusal asking to retry — sent only to clients that said HELLO, so a client from before
//! the nucleus works as it always did.

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::farm::{flags, Reserve, ReserveReply};
use burnstand_wire::nucleus::{
    ClientVersion, Hello, HelloReply, Notice, Priority, RequestDelay, NUCLEUS_VERSION,
};

use crate::client::{
    assert_closed, bind_first, bind_first_of, command, connect, list, reserve, Client,
};
use crate::common::{guard, lab_test, LabSpec};

/// Notices in a deliberately mixed order, one of them expired, and a too-new minimum.
const NUCLEUS: &str = r#"min_client_version = "2.0.0"

[[notice]]
priority = "low"
text = "new DVD blanks in the cupboard"

[[notice]]
priority = "high"
text = "maintenance tonight from 18:00: burns after that are cancelled"

[[notice]]
text = "message of the day"

[[notice]]
priority = "high"
text = "this one expired"
until = "2020-01-01T00:00:00Z"

[[notice]]
priority = "high"
text = "upgrade: burnstand 2.0.0 is in the software centre"

[request_delay]
busy = "7s"
draining = "11s"
"#;

/// The same without the minimum, so any client is welcome.
fn open_nucleus() -> String {
    NUCLEUS.replace("min_client_version = \"2.0.0\"", "")
}

async fn hello(client: &mut Client, version: ClientVersion) -> HelloReply {
    guard("HELLO", async {
        let hello = Hello {
            version: NUCLEUS_VERSION,
            client: version,
        };
        client
            .send(&Command::Hello(hello))
            .await
            .expect("send HELLO");
        client.recv::<HelloReply>().await.expect("HELLO reply")
    })
    .await
}

fn texts(notices: &[Notice]) -> Vec<(Priority, &str)> {
    notices
        .iter()
        .map(|n| (n.priority, n.text.as_str()))
        .collect()
}

const IN_ORDER: [(Priority, &str); 4] = [
    (
        Priority::High,
        "maintenance tonight from 18:00: burns after that are cancelled",
    ),
    (
        Priority::High,
        "upgrade: burnstand 2.0.0 is in the software centre",
    ),
    (Priority::Normal, "message of the day"),
    (Priority::Low, "new DVD blanks in the cupboard"),
];

#[test]
fn notices_arrive_high_first_then_in_config_order_without_expired_ones() {
    lab_test(
        LabSpec::default().extra(&open_nucleus()),
        |lab| async move {
            let mut alice = connect(&lab, "alice").await;
            let reply = hello(&mut alice, ClientVersion::new(0, 1, 0)).await;
            let HelloReply::Welcome { version, notices } = reply else {
                panic!("{reply:?}")
            };
            assert_eq!(version, NUCLEUS_VERSION);
            assert_eq!(texts(&notices), IN_ORDER);
            // Command mode goes on; a second HELLO is not a command.
            assert_eq!(list(&mut alice).await.len(), 1);
            let again = hello(&mut alice, ClientVersion::new(0, 1, 0)).await;
            assert_eq!(again, HelloReply::Refused(Reply::ErrInvCmd));
            // A future client's nucleus version is answered with the one this master speaks.
            let mut bob = connect(&lab, "bob").await;
            bob.send(&Command::Hello(Hello {
                version: NUCLEUS_VERSION + 5,
                client: ClientVersion::new(9, 0, 0),
            }))
            .await
            .expect("send HELLO");
            let reply = bob.recv::<HelloReply>().await.expect("reply");
            assert!(
                matches!(reply, HelloReply::Welcome { version, .. } if version == NUCLEUS_VERSION),
                "{reply:?}"
            );
        },
    );
}

#[test]
fn a_too_old_client_is_refused_with_the_version_it_needs_and_the_notices() {
    lab_test(LabSpec::default().extra(NUCLEUS), |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let reply = hello(&mut alice, ClientVersion::new(1, 9, 9)).await;
        let HelloReply::TooOld { needed, notices } = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(needed, ClientVersion::new(2, 0, 0));
        assert_eq!(texts(&notices), IN_ORDER);
        assert_closed(&mut alice).await;
        // Exactly the minimum is new enough.
        let mut bob = connect(&lab, "bob").await;
        let reply = hello(&mut bob, ClientVersion::new(2, 0, 0)).await;
        assert!(matches!(reply, HelloReply::Welcome { .. }), "{reply:?}");
        drop(bob);
        let records = lab.stop().await;
        let denied: Vec<&str> = records
            .iter()
            .filter(|r| r.event == "connection.deny")
            .filter_map(|r| r.get_str("reason"))
            .collect();
        assert_eq!(
            denied,
            ["client version 1.9.9 is older than min_client_version 2.0.0"]
        );
    });
}

#[test]
fn an_old_client_that_never_says_hello_works_and_gets_no_delay() {
    lab_test(LabSpec::default().extra(NUCLEUS), |lab| async move {
        // The minimum does not apply to a client that never states its version, and none of
        // the nucleus's messages reach it: its strict decoders read the old replies.
        let mut alice = connect(&lab, "alice").await;
        assert_eq!(bind_first(&mut alice).await, Reply::Ok);
        // HELLO after BIND is not accepted (only QUIT and LISTX are).
        let late = hello(&mut alice, ClientVersion::new(0, 1, 0)).await;
        assert_eq!(late, HelloReply::Refused(Reply::ErrInvCmd));
        let mut bob = connect(&lab, "bob").await;
        assert_eq!(list(&mut bob).await.len(), 1);
        assert_eq!(bind_first_of(&mut bob, 1).await, Reply::ErrUnaval);
        let refused = reserve(&mut bob, any(0)).await;
        assert_eq!(refused, ReserveReply::Refused(Reply::ErrUnaval));
        assert_eq!(command(&mut alice, Command::Quit).await, Reply::Ok);
    });
}

fn any(flags: u32) -> Reserve {
    Reserve {
        type_id: 1,
        station: String::new(),
        drives: 1,
        flags,
    }
}

#[test]
fn a_welcomed_client_gets_delay_before_errunaval() {
    lab_test(
        LabSpec::default().extra(&open_nucleus()),
        |lab| async move {
            let mut alice = connect(&lab, "alice").await;
            assert_eq!(bind_first(&mut alice).await, Reply::Ok);
            let mut bob = connect(&lab, "bob").await;
            let reply = hello(&mut bob, ClientVersion::new(0, 1, 0)).await;
            assert!(matches!(reply, HelloReply::Welcome { .. }), "{reply:?}");
            for asked in [
                Command::Reserve(any(0)),
                Command::Bind(list(&mut bob).await.remove(0)),
            ] {
                bob.send(&asked).await.expect("send");
                let first = bob.recv_bytes().await.expect("first message");
                assert_eq!(
                    RequestDelay::parse(&first),
                    Some(RequestDelay { seconds: 7 }),
                    "{}",
                    asked.word()
                );
                let second = bob.recv_bytes().await.expect("the refusal");
                assert_eq!(
                    burnstand_wire::datastream::from_bytes::<ReserveReply>(&second).ok(),
                    Some(ReserveReply::Refused(Reply::ErrUnaval)),
                    "{}",
                    asked.word()
                );
            }
            // A refusal that asking again will not mend carries no delay.
            let unknown = Reserve {
                type_id: 99,
                ..any(0)
            };
            assert_eq!(
                reserve(&mut bob, unknown).await,
                ReserveReply::Refused(Reply::ErrUnaval)
            );
        },
    );
}

#[test]
fn a_waiting_client_is_told_how_long_to_stay_away_when_the_master_shuts_down() {
    let spec = LabSpec::default()
        .extra(&open_nucleus())
        .limits("drain_deadline = \"2s\"");
    lab_test(spec, |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        assert_eq!(bind_first(&mut alice).await, Reply::Ok);
        let mut bob = connect(&lab, "bob").await;
        let reply = hello(&mut bob, ClientVersion::new(0, 1, 0)).await;
        assert!(matches!(reply, HelloReply::Welcome { .. }), "{reply:?}");
        let queued = reserve(&mut bob, any(flags::WAIT)).await;
        assert!(
            matches!(queued, ReserveReply::Queued { position: 1, .. }),
            "{queued:?}"
        );
        let waiting = tokio::spawn(async move {
            let mut delays = Vec::new();
            while let Ok(Ok(bytes)) = guard("bob's wait", async {
                tokio::time::timeout(std::time::Duration::from_secs(60), bob.recv_bytes()).await
            })
            .await
            {
                if let Some(delay) = RequestDelay::parse(&bytes) {
                    delays.push(delay.seconds);
                }
            }
            delays
        });
        lab.stop().await;
        let delays = waiting.await.expect("bob's task");
        assert_eq!(delays, [11]);
        drop(alice);
    });
}

#[test]
fn a_reservation_asked_for_during_the_drain_gets_the_drain_delay() {
    let spec = LabSpec::default()
        .extra(&open_nucleus())
        .limits("drain_deadline = \"5s\"");
    lab_test(spec, |lab| async move {
        let mut bob = connect(&lab, "bob").await;
        let reply = hello(&mut bob, ClientVersion::new(0, 1, 0)).await;
        assert!(matches!(reply, HelloReply::Welcome { .. }), "{reply:?}");
        let crate::common::MasterProcess::InProcess { shutdown, .. } = &lab.master else {
            panic!("the in-process master")
        };
        shutdown.cancel();
        // Open sessions go on during the drain, but get no station: come back after it.
        bob.send(&Command::Reserve(any(0))).await.expect("send");
        let first = bob.recv_bytes().await.expect("first message");
        assert_eq!(
            RequestDelay::parse(&first),
            Some(RequestDelay { seconds: 11 })
        );
        let refusal = bob.recv::<ReserveReply>().await.expect("the refusal");
        assert_eq!(refusal, ReserveReply::Refused(Reply::ErrUnaval));
        drop(bob);
        lab.stop().await;
    });
}
