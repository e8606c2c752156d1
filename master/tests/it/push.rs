//! PUSH at the master (`docs/protocol.md` §5.11) against test stations that predate image
//! push (they close the link at the PUSH opening): who may push, the refusals and their
//! records, and a station too old reported per station. The stations' side and whole pushes
//! are tested end to end in `burnstand::it push`.

use burnstand_wire::burner::{Md5, Sha256};
use burnstand_wire::command::{Command, Reply};
use burnstand_wire::push::{PushImage, PushReply, PushRequest, TargetState, PUSH_VERSION};

use crate::client::{connect, Client};
use crate::common::{guard, lab_test, LabSpec, StationSpec, REALM};

fn request(station: &str, restricted: bool) -> Command {
    Command::Push(Box::new(PushRequest {
        version: PUSH_VERSION,
        station: station.into(),
        type_id: 1,
        image: PushImage {
            id: "exam.iso".into(),
            name: "Exam".into(),
            restricted,
            replace: false,
            size: 4096,
            sha256: Sha256([1; 32]),
            md5: Md5([2; 16]),
        },
    }))
}

async fn push(client: &mut Client, command: Command) -> PushReply {
    guard("PUSH", async {
        client.send(&command).await.expect("send PUSH");
        client.recv::<PushReply>().await.expect("PUSH reply")
    })
    .await
}

#[test]
fn push_is_for_admins_audited_and_a_station_too_old_is_named() {
    let extra = format!("admin = [\"alice@{REALM}\"]\n");
    let stations = vec![
        StationSpec::new("dvd-1", "DVD"),
        StationSpec::new("dvd-2", "DVD"),
    ];
    let spec = LabSpec::default().stations(stations).extra(&extra);
    lab_test(spec, |lab| async move {
        let mut bob = connect(&lab, "bob").await;
        let PushReply::Refused(Reply::ErrDenied(reason)) =
            push(&mut bob, request("dvd-1", true)).await
        else {
            panic!("a non-admin's restricted push was not refused")
        };
        assert!(reason.contains("admin group"), "{reason}");
        let mut alice = connect(&lab, "alice").await;
        assert!(matches!(
            push(&mut alice, request("dvd-9", true)).await,
            PushReply::Refused(Reply::ErrDenied(_))
        ));
        // Every station of type 1: both predate push, both are named, neither stops the other.
        let PushReply::Done { targets } = push(&mut alice, request("", true)).await else {
            panic!("no PUSHDONE")
        };
        assert_eq!(targets.len(), 2, "{targets:?}");
        for target in &targets {
            assert_eq!(target.state, TargetState::Failed, "{target:?}");
            assert!(target.text.contains("station too old"), "{target:?}");
        }
        drop((alice, bob));
        let records = lab.stop().await;
        let admins: Vec<_> = records
            .iter()
            .filter(|r| r.event == "admin")
            .map(|r| {
                (
                    r.get_str("command").unwrap_or(""),
                    r.get_str("target").unwrap_or(""),
                )
            })
            .collect();
        assert!(
            admins.contains(&("PUSH (refused: not an admin)", "dvd-1")),
            "{admins:?}"
        );
        assert!(admins.contains(&("PUSH", "type 1")), "{admins:?}");
        let pushed: Vec<_> = records.iter().filter(|r| r.event == "image.push").collect();
        assert_eq!(pushed.len(), 1, "{pushed:?}");
        assert_eq!(pushed[0].get_u64("stored"), Some(0));
        assert!(pushed[0]
            .get_str("stations")
            .is_some_and(|s| s.contains("dvd-1: failed: station too old")));
    });
}
