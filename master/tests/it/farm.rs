//! The burner farm at the master (`docs/protocol.md` §5.10): LISTX counts, the wait queue
//! (hand-over, LEAVE, priority classes), quarantine on missed heartbeats, and the admin
//! commands — against test stations over real Kerberos.

use std::time::Duration;

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::farm::{flags, AdminReply, Condition, ListedType, Reserve, ReserveReply};

use crate::client::{
    admin, bind_first_of, command, connect, list_x, list_x_version, next_reserve_reply, reserve,
    Client,
};
use crate::common::{guard, lab_test, LabSpec, StationSpec, REALM};
use crate::station::StationMode;

fn two_stations() -> Vec<StationSpec> {
    vec![
        StationSpec::new("dvd-1", "DVD"),
        StationSpec::new("dvd-2", "DVD"),
    ]
}

fn one_station() -> Vec<StationSpec> {
    vec![StationSpec::new("dvd-1", "DVD")]
}

fn counts(listed: &ListedType) -> (u32, u32, u32, u32, u32) {
    (
        listed.total,
        listed.free,
        listed.busy,
        listed.quarantined,
        listed.queued,
    )
}

fn any(drives: u32, flags: u32) -> Reserve {
    Reserve {
        type_id: 1,
        station: String::new(),
        drives,
        flags,
    }
}

/// alice reserves the one station; bob waits for it, first in the queue.
async fn alice_holds_bob_waits(lab: &crate::common::Lab) -> (Client, Client) {
    let mut alice = connect(lab, "alice").await;
    assert!(matches!(
        reserve(&mut alice, any(1, 0)).await,
        ReserveReply::Reserved { .. }
    ));
    let mut bob = connect(lab, "bob").await;
    assert!(matches!(
        reserve(&mut bob, any(1, flags::WAIT)).await,
        ReserveReply::Queued { position: 1, .. }
    ));
    (alice, bob)
}

/// The first reply of a wait that is not a QUEUED (RESERVED, LEFT or a refusal).
async fn after_the_wait(client: &mut Client) -> ReserveReply {
    guard("the end of the wait", async {
        loop {
            match next_reserve_reply(client).await {
                ReserveReply::Queued { .. } => continue,
                other => return other,
            }
        }
    })
    .await
}

const FAST_FARM: &str = "[farm]\nheartbeat = \"200ms\"\nheartbeat_misses = 5\n";

#[test]
fn listx_counts_free_and_busy_stations_and_old_list_still_works() {
    let spec = LabSpec::default().stations(two_stations()).extra(FAST_FARM);
    lab_test(spec, |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let listed = list_x(&mut alice).await;
        assert_eq!(listed.version, 2);
        assert_eq!(counts(&listed.types[0]), (2, 2, 0, 0, 0));
        // A client that knows version 1 gets version 1 (and a future one the newest here).
        assert_eq!(list_x_version(&mut alice, 1).await.version, 1);
        assert_eq!(list_x_version(&mut alice, 9).await.version, 2);
        assert_eq!(bind_first_of(&mut alice, 1).await, Reply::Ok);
        let mut bob = connect(&lab, "bob").await;
        assert_eq!(counts(&list_x(&mut bob).await.types[0]), (2, 1, 1, 0, 0));
        let got = reserve(&mut bob, any(1, 0)).await;
        let ReserveReply::Reserved { stations, .. } = got else {
            panic!("{got:?}")
        };
        assert_eq!(stations[0].name, "dvd-2");
        // LISTX is the keep-alive of a held reservation: accepted after RESERVE.
        assert_eq!(counts(&list_x(&mut bob).await.types[0]), (2, 0, 2, 0, 0));
        let mut dave = connect(&lab, "dave").await;
        assert_eq!(
            reserve(&mut dave, any(1, 0)).await,
            ReserveReply::Refused(Reply::ErrUnaval)
        );
        // carol may use no station: LISTX lists nothing for her.
        let mut carol = connect(&lab, "carol").await;
        assert!(list_x(&mut carol).await.types.is_empty());
    });
}

#[test]
fn a_waiting_user_gets_the_first_freed_station_and_leave_leaves() {
    let spec = LabSpec::default().stations(one_station()).extra(FAST_FARM);
    lab_test(spec, |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        assert!(matches!(
            reserve(&mut alice, any(1, 0)).await,
            ReserveReply::Reserved { .. }
        ));
        let mut bob = connect(&lab, "bob").await;
        let first = reserve(&mut bob, any(1, flags::WAIT)).await;
        assert!(
            matches!(first, ReserveReply::Queued { position: 1, waiting: 1, eta_seconds } if eta_seconds > 0),
            "{first:?}"
        );
        let mut dave = connect(&lab, "dave").await;
        let second = reserve(&mut dave, any(1, flags::WAIT)).await;
        assert!(
            matches!(
                second,
                ReserveReply::Queued {
                    position: 2,
                    waiting: 2,
                    ..
                }
            ),
            "{second:?}"
        );
        // A direct BIND does not jump the queue.
        let mut observer = connect(&lab, "alice").await;
        let listed = list_x(&mut observer).await;
        assert_eq!(counts(&listed.types[0]), (1, 0, 1, 0, 2));
        // dave leaves: LEFT (perhaps after a QUEUED that crossed it), back in command mode.
        dave.send(&Command::Leave).await.expect("send LEAVE");
        assert_eq!(after_the_wait(&mut dave).await, ReserveReply::Left);
        assert_eq!(counts(&list_x(&mut dave).await.types[0]), (1, 0, 1, 0, 1));
        // alice quits: the station goes to bob, the head of the queue.
        assert_eq!(command(&mut alice, Command::Quit).await, Reply::Ok);
        let handed = after_the_wait(&mut bob).await;
        let ReserveReply::Reserved { stations, .. } = handed else {
            panic!("{handed:?}")
        };
        assert_eq!(stations[0].name, "dvd-1");
        assert_eq!(counts(&list_x(&mut dave).await.types[0]), (1, 0, 1, 0, 0));
        drop((alice, bob, dave, observer));
        let records = lab.stop().await;
        let joined = records.iter().filter(|r| r.event == "queue.join").count();
        let left = records.iter().filter(|r| r.event == "queue.leave").count();
        assert_eq!((joined, left), (2, 1));
    });
}

#[test]
fn a_priority_class_overtakes_the_default_class() {
    let extra = format!(
        "{FAST_FARM}\n[queue]\naging_step = \"1h\"\n\n[[queue.class]]\nname = \"exam-staff\"\npriority = 10\nmembers = [\"dave@{REALM}\"]\n"
    );
    let spec = LabSpec::default().stations(one_station()).extra(&extra);
    lab_test(spec, |lab| async move {
        let (mut alice, mut bob) = alice_holds_bob_waits(&lab).await;
        let mut dave = connect(&lab, "dave").await;
        assert!(matches!(
            reserve(&mut dave, any(1, flags::WAIT)).await,
            ReserveReply::Queued {
                position: 1,
                waiting: 2,
                ..
            }
        ));
        // bob is pushed back to position 2.
        let pushed = next_reserve_reply(&mut bob).await;
        assert!(
            matches!(pushed, ReserveReply::Queued { position: 2, .. }),
            "{pushed:?}"
        );
        assert_eq!(command(&mut alice, Command::Quit).await, Reply::Ok);
        let handed = next_reserve_reply(&mut dave).await;
        assert!(
            matches!(handed, ReserveReply::Reserved { .. }),
            "{handed:?}"
        );
    });
}

#[test]
fn a_silent_station_is_quarantined_and_never_bound() {
    let spec = LabSpec::default()
        .stations(vec![
            StationSpec::new("dvd-1", "DVD").mode(StationMode::Hangs)
        ])
        .extra(&format!("admin = [\"group:lab\"]\n{FAST_FARM}"));
    lab_test(spec, |lab| async move {
        let mut alice = connect(&lab, "alice").await;
        guard("the quarantine", async {
            while counts(&list_x(&mut alice).await.types[0]) != (1, 0, 0, 1, 0) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert_eq!(bind_first_of(&mut alice, 1).await, Reply::ErrUnaval);
        // Every user who may use the station reads why it is out (LISTX 2).
        let notes = list_x(&mut alice).await.types[0].notes.clone();
        assert!(
            notes.len() == 1 && notes[0].starts_with("dvd-1: quarantined: no heartbeat for "),
            "{notes:?}"
        );
        let report = admin(&mut alice, Command::StationReport).await;
        let AdminReply::Stations(rows) = report else {
            panic!("{report:?}")
        };
        assert_eq!(rows[0].condition, Condition::Quarantined);
        assert!(
            rows[0].reason.starts_with("no heartbeat for "),
            "{}",
            rows[0].reason
        );
        let records =
            crate::common::wait_for_record(&lab.audit_path, |r| r.event == "station.quarantine")
                .await;
        assert!(records
            .iter()
            .any(|r| r.get_str("station") == Some("dvd-1")));
    });
}

#[test]
fn admin_commands_are_for_the_admin_group_and_audited() {
    let extra = format!("admin = [\"alice@{REALM}\"]\n{FAST_FARM}");
    let spec = LabSpec::default().stations(two_stations()).extra(&extra);
    lab_test(spec, |lab| async move {
        let mut bob = connect(&lab, "bob").await;
        assert_eq!(
            admin(&mut bob, Command::StationReport).await,
            AdminReply::Refused(Reply::ErrDenied(
                "you are not in the master's admin group".into()
            ))
        );
        assert!(matches!(
            reserve(&mut bob, any(1, flags::HOLD)).await,
            ReserveReply::Reserved { .. }
        ));
        let mut alice = connect(&lab, "alice").await;
        let AdminReply::Stations(rows) = admin(&mut alice, Command::StationReport).await else {
            panic!("no station report")
        };
        let by_name = |name: &str| rows.iter().find(|r| r.name == name).expect("row");
        assert_eq!(by_name("dvd-1").condition, Condition::Busy);
        assert_eq!(by_name("dvd-1").holder, format!("bob@{REALM}"));
        assert_eq!(by_name("dvd-2").condition, Condition::Free);
        let AdminReply::Who(who) = admin(&mut alice, Command::Who).await else {
            panic!("no who report")
        };
        let bob_row = who
            .iter()
            .find(|w| w.user == format!("bob@{REALM}"))
            .expect("bob");
        assert_eq!(bob_row.stations, ["dvd-1"]);
        // Drain dvd-2: nobody gets it; resume: it is free again.
        assert!(matches!(
            admin(&mut alice, Command::Drain("dvd-2".into())).await,
            AdminReply::Done(_)
        ));
        let mut dave = connect(&lab, "dave").await;
        assert_eq!(bind_first_of(&mut dave, 1).await, Reply::ErrUnaval);
        assert!(matches!(
            admin(&mut alice, Command::Resume("dvd-2".into())).await,
            AdminReply::Done(_)
        ));
        // Release dvd-1: bob's reservation (nothing burning there) ends at once.
        assert!(matches!(
            admin(&mut alice, Command::Release("dvd-1".into())).await,
            AdminReply::Done(_)
        ));
        crate::client::assert_closed(&mut bob).await;
        assert!(matches!(
            admin(&mut alice, Command::Release("dvd-9".into())).await,
            AdminReply::Refused(Reply::ErrDenied(_))
        ));
        drop((alice, bob, dave));
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
            admins.contains(&("SREPORT (refused: not an admin)", "")),
            "{admins:?}"
        );
        assert!(admins.contains(&("DRAIN", "dvd-2")), "{admins:?}");
        assert!(admins.contains(&("RELEASE", "dvd-1")), "{admins:?}");
        assert!(records
            .iter()
            .any(|r| r.event == "teardown" && r.get_str("reason") == Some("released by an admin")));
    });
}

#[test]
fn a_job_reserves_several_drives_and_each_module_gets_its_own() {
    let spec = LabSpec::default().stations(two_stations()).extra(FAST_FARM);
    lab_test(spec, |mut lab| async move {
        let mut alice = connect(&lab, "alice").await;
        let got = reserve(&mut alice, any(3, 0)).await;
        let ReserveReply::Reserved { stations, .. } = got else {
            panic!("{got:?}")
        };
        let names: Vec<&str> = stations.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["dvd-1", "dvd-2"]);
        let mut first = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut first, Command::Serv(crate::client::burner())).await,
            Reply::Ok
        );
        let mut second = connect(&lab, "alice").await;
        assert_eq!(
            command(&mut second, Command::Serv(crate::client::burner())).await,
            Reply::Ok
        );
        // Each module went to a station of its own.
        for station in lab.stations.iter_mut() {
            assert!(matches!(
                station.next_event().await,
                crate::station::StationEvent::Identity(_)
            ));
        }
    });
}

/// Aging: an entry of the default class that has waited two aging steps is ahead of a newer
/// entry of a class one step higher (a low class is never starved).
#[test]
fn aging_keeps_a_long_wait_ahead_of_a_newer_higher_class() {
    let extra = format!(
        "admin = [\"alice@{REALM}\"]\n{FAST_FARM}\n[queue]\naging_step = \"1s\"\n\n[[queue.class]]\nname = \"staff\"\npriority = 1\nmembers = [\"dave@{REALM}\"]\n"
    );
    let spec = LabSpec::default().stations(one_station()).extra(&extra);
    lab_test(spec, |lab| async move {
        let (mut alice, mut bob) = alice_holds_bob_waits(&lab).await;
        // Until bob has waited two whole steps (the queue report says how long).
        let mut admin_conn = connect(&lab, "alice").await;
        guard("bob's wait", async {
            loop {
                let AdminReply::Queue(rows) = admin(&mut admin_conn, Command::QueueReport).await
                else {
                    panic!("no queue report")
                };
                if rows.first().is_some_and(|r| r.waited_seconds >= 3) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        let mut dave = connect(&lab, "dave").await;
        let joined = reserve(&mut dave, any(1, flags::WAIT)).await;
        assert!(
            matches!(
                joined,
                ReserveReply::Queued {
                    position: 2,
                    waiting: 2,
                    ..
                }
            ),
            "{joined:?}"
        );
        assert_eq!(command(&mut alice, Command::Quit).await, Reply::Ok);
        let handed = after_the_wait(&mut bob).await;
        assert!(
            matches!(handed, ReserveReply::Reserved { .. }),
            "{handed:?}"
        );
    });
}

/// The station tells the user why the job stopped before it answers the release on its
/// control link, so the user may leave first: the reservation still ended because of the
/// admin, and its teardown says so.
#[test]
fn a_release_whose_user_leaves_before_the_station_answers_is_still_the_admins() {
    let extra = format!("admin = [\"alice@{REALM}\"]\n{FAST_FARM}");
    let spec = LabSpec::default()
        .stations(vec![
            StationSpec::new("dvd-1", "DVD").mode(StationMode::NeverFinishes)
        ])
        .extra(&extra);
    lab_test(spec, |lab| async move {
        let mut bob = connect(&lab, "bob").await;
        assert!(matches!(
            reserve(&mut bob, any(1, flags::HOLD)).await,
            ReserveReply::Reserved { .. }
        ));
        let mut alice = connect(&lab, "alice").await;
        assert!(matches!(
            admin(&mut alice, Command::Release("dvd-1".into())).await,
            AdminReply::Done(_)
        ));
        assert_eq!(command(&mut bob, Command::Quit).await, Reply::Ok);
        drop((alice, bob));
        let records = lab.stop().await;
        let reasons: Vec<_> = records
            .iter()
            .filter(|r| r.event == "teardown")
            .filter_map(|r| r.get_str("reason"))
            .collect();
        assert_eq!(reasons, ["released by an admin"]);
    });
}
