//! The audit log of a session: every step recorded in order, before its acknowledgement, in a
//! chain that verifies; and a log that cannot be written stops new sessions (fail closed).

use burnstand_audit::{Record, TestOnlyFailure};
use burnstand_wire::command::{Command, Reply};
use tokio::io::AsyncWriteExt;

use crate::client::{assert_closed, assert_raw_closed, burner, command, connect, list, raw};
use crate::common::{events, guard, lab_test, wait_for_record, LabSpec};
use crate::station::StationEvent;

fn of<'a>(records: &'a [Record], principal: &str) -> Vec<&'a str> {
    records
        .iter()
        .filter(|r| r.get_str("principal") == Some(principal))
        .map(|r| r.event.as_str())
        .collect()
}

#[test]
fn a_session_is_audited_in_order_and_the_chain_verifies() {
    lab_test(LabSpec::default(), |mut lab| async move {
        let mut intruder = raw(lab.master_addr).await;
        intruder.write_all(b"not a token\n").await.expect("send");
        assert_raw_closed(&mut intruder).await;

        let mut container = connect(&lab, "alice").await;
        let types = list(&mut container).await;
        assert_eq!(
            command(&mut container, Command::Bind(types[0].clone())).await,
            Reply::Ok
        );
        let mut module = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut module, Command::Serv(burner())).await,
            Reply::Ok
        );
        assert!(matches!(
            lab.stations[0].next_event().await,
            StationEvent::Identity(_)
        ));
        module.send_bytes(b"burn").await.expect("relay");
        module.recv_bytes().await.expect("echo");
        drop(module);
        wait_for_record(&lab.audit_path, |r| r.event == "serv.end").await;

        let mut carol = connect(&lab, "carol").await;
        assert_eq!(
            command(&mut carol, Command::Bind(types[0].clone())).await,
            Reply::ErrUnaval
        );
        assert_eq!(command(&mut container, Command::Quit).await, Reply::Ok);
        assert_closed(&mut container).await;
        drop(carol);

        let alice = lab.principal("alice");
        let records = lab.stop().await;
        let all = events(&records);
        assert_eq!(all[0], "auth.fail", "{all:?}");
        assert!(records[0].get_str("reason").is_some_and(|r| !r.is_empty()));
        assert_eq!(
            of(&records, &alice),
            ["auth.ok", "list", "bind", "auth.ok", "serv", "serv.end", "quit", "teardown"],
            "all: {all:?}"
        );
        assert_eq!(
            of(&records, "carol@BURNSTAND.TEST"),
            ["auth.ok", "bind.deny"]
        );
        let teardown = records
            .iter()
            .find(|r| r.event == "teardown")
            .expect("teardown");
        assert_eq!(teardown.get_str("reason"), Some("quit"));
        assert_eq!(teardown.get_str("station"), Some("dvd-1"));
        let bind = records.iter().find(|r| r.event == "bind").expect("bind");
        assert_eq!(bind.get_str("session"), teardown.get_str("session"));
        let serv = records.iter().find(|r| r.event == "serv").expect("serv");
        assert_eq!(serv.get_str("session"), bind.get_str("session"));
    });
}

#[test]
fn a_failing_audit_log_refuses_the_action_and_new_sessions() {
    // Appends: 1 auth.ok, 2 list, 3 bind -> its fsync fails.
    let spec = LabSpec {
        audit_failure: Some(TestOnlyFailure::Sync { on_append: 3 }),
        ..LabSpec::default()
    };
    lab_test(spec, |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let types = list(&mut alice).await;
        alice
            .send(&Command::Bind(types[0].clone()))
            .await
            .expect("send BIND");
        let reply = guard("BIND", alice.recv::<Reply>()).await;
        assert!(
            reply.is_err(),
            "BIND must not be acknowledged without its record: {reply:?}"
        );

        // Fail closed: nobody gets in any more.
        let mut late = raw(lab.master_addr).await;
        assert_raw_closed(&mut late).await;
    });
}
