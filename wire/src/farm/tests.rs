use super::*;
use crate::command::{Command, ServiceType};
use crate::datastream::{from_bytes, to_bytes};
use crate::link::{MasterMessage, StationMessage};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dvd() -> StationType {
    StationType {
        id: 1,
        services: vec![ServiceType {
            id: ServiceType::BURNER,
            name: "b".into(),
            description: String::new(),
        }],
        name: "DVD".into(),
        description: String::new(),
    }
}

/// The LISTX example of docs/protocol.md §5.10.2.
#[test]
fn listx_bytes() {
    assert_eq!(
        hex(&to_bytes(&Command::ListX(1))),
        "0000000a004c004900530054005800000001"
    );
    let reply = ListX {
        version: 1,
        types: vec![ListedType {
            record: dvd(),
            total: 3,
            free: 1,
            busy: 1,
            quarantined: 1,
            queued: 2,
            notes: vec![],
        }],
    };
    let bytes = to_bytes(&reply);
    let expected = concat!(
        "0000000a004c0049005300540058", // "LISTX"
        "00000001",                     // version 1
        "00000001",                     // one type:
        "00000001",                     //   id 1
        "00000001",                     //   one service
        "00000001",
        "000000020062", // "b"
        "00000000",     // ""
        "00000006004400560044",
        "00000000",
        "00000003", // total
        "00000001", // free
        "00000001", // busy
        "00000001", // quarantined
        "00000002", // queued
    );
    assert_eq!(hex(&bytes), expected);
    assert_eq!(from_bytes::<ListX>(&bytes).ok(), Some(reply));
}

#[test]
fn listx_refuses_counts_that_do_not_add_up_and_unknown_versions() {
    let mut listed = ListedType {
        record: dvd(),
        total: 2,
        free: 1,
        busy: 0,
        quarantined: 0,
        queued: 0,
        notes: vec![],
    };
    assert!(matches!(
        from_bytes::<ListedType>(&to_bytes(&listed)),
        Err(Error::InvalidValue {
            what: "station count",
            ..
        })
    ));
    listed.busy = 1;
    assert!(from_bytes::<ListedType>(&to_bytes(&listed)).is_ok());
    let future = ListX {
        version: LISTX_VERSION + 1,
        types: vec![],
    };
    assert!(matches!(
        from_bytes::<ListX>(&to_bytes(&future)),
        Err(Error::UnsupportedVersion { found: 3, .. })
    ));
    assert!(from_bytes::<Command>(&to_bytes(&Command::ListX(0))).is_err());
}

/// Version 2 appends each type's notes (why stations are out); version 1 has none, so the
/// same value encodes without them.
#[test]
fn listx_version_two_carries_notes() {
    let listed = ListedType {
        record: dvd(),
        total: 2,
        free: 1,
        busy: 0,
        quarantined: 1,
        queued: 0,
        notes: vec!["dvd-1: no heartbeat for 16s".into()],
    };
    let v2 = ListX {
        version: 2,
        types: vec![listed.clone()],
    };
    assert_eq!(from_bytes::<ListX>(&to_bytes(&v2)).ok(), Some(v2.clone()));
    let v1 = ListX {
        version: 1,
        types: vec![listed.clone()],
    };
    let v1_bytes = to_bytes(&v1);
    let v2_bytes = to_bytes(&v2);
    // "dvd-1: no heartbeat for 16s" is 27 UTF-16 units: a list of one TQString.
    assert_eq!(v2_bytes.len(), v1_bytes.len() + 4 + 4 + 54);
    let decoded = from_bytes::<ListX>(&v1_bytes).expect("version 1");
    assert!(decoded.types[0].notes.is_empty());
    // A count of types that the bytes cannot hold is refused before anything is built.
    let mut lying = to_bytes(&ListX {
        version: 2,
        types: vec![],
    });
    let at = lying.len() - 4;
    lying[at..].copy_from_slice(&1000u32.to_be_bytes());
    assert!(from_bytes::<ListX>(&lying).is_err());
}

/// The RESERVE example of docs/protocol.md §5.10.3.
#[test]
fn reserve_bytes_and_bounds() {
    let reserve = Reserve {
        type_id: 1,
        station: String::new(),
        drives: 3,
        flags: flags::WAIT,
    };
    let bytes = to_bytes(&Command::Reserve(reserve.clone()));
    assert_eq!(
        hex(&bytes),
        concat!(
            "0000000e0052004500530045005200560045", // "RESERVE"
            "00000001",                             // type 1
            "00000000",                             // any station
            "00000003",                             // 3 drives
            "00000001",                             // WAIT
        )
    );
    assert_eq!(
        from_bytes::<Command>(&bytes).ok(),
        Some(Command::Reserve(reserve.clone()))
    );
    for bad in [
        Reserve {
            drives: 0,
            ..reserve.clone()
        },
        Reserve {
            drives: MAX_JOB_DRIVES + 1,
            ..reserve.clone()
        },
        Reserve {
            station: "dvd-1".into(),
            ..reserve.clone()
        },
        Reserve {
            flags: 4,
            ..reserve.clone()
        },
    ] {
        assert!(
            from_bytes::<Command>(&to_bytes(&Command::Reserve(bad.clone()))).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn reserve_replies_round_trip_and_fall_back_to_the_nucleus() {
    let replies = [
        ReserveReply::Reserved {
            session_id: "6f1c".into(),
            stations: vec![ReservedStation {
                name: "dvd-1".into(),
                location: "room 2.14, left".into(),
            }],
        },
        ReserveReply::Queued {
            position: 1,
            eta_seconds: 300,
            waiting: 4,
        },
        ReserveReply::Left,
        ReserveReply::Refused(Reply::ErrUnaval),
        ReserveReply::Refused(Reply::ErrDenied("the queue was cleared".into())),
    ];
    for reply in replies {
        assert_eq!(
            from_bytes::<ReserveReply>(&to_bytes(&reply)).ok(),
            Some(reply)
        );
    }
    assert_eq!(
        hex(&to_bytes(&ReserveReply::Queued {
            position: 1,
            eta_seconds: 300,
            waiting: 4
        })),
        "0000000c005100550045005500450044000000010000012c00000004"
    );
    let behind_nobody = ReserveReply::Queued {
        position: 5,
        eta_seconds: 0,
        waiting: 4,
    };
    assert!(from_bytes::<ReserveReply>(&to_bytes(&behind_nobody)).is_err());
    let nothing = ReserveReply::Reserved {
        session_id: "x".into(),
        stations: vec![],
    };
    assert!(from_bytes::<ReserveReply>(&to_bytes(&nothing)).is_err());
}

fn burning() -> StationState {
    StationState {
        activity: Activity::Burning,
        medium: Medium::Blank,
        user: "alice@BURNSTAND.TEST".into(),
        image: "exam".into(),
        copy: 2,
        copies: 5,
        percent: 40,
        detail: String::new(),
    }
}

#[test]
fn station_state_on_the_link() {
    let message = StationMessage::State(burning());
    let bytes = to_bytes(&message);
    assert_eq!(from_bytes::<StationMessage>(&bytes).ok(), Some(message));
    assert_eq!(
        burning().describe(),
        "burning exam, copy 2 of 5, 40% (blank disc)"
    );
    for bad in [
        StationState {
            percent: 101,
            ..burning()
        },
        StationState {
            copy: 6,
            ..burning()
        },
    ] {
        assert!(from_bytes::<StationState>(&to_bytes(&bad)).is_err());
    }
    // An unknown activity or medium code is refused, not guessed.
    let mut bytes = to_bytes(&burning());
    bytes[3] = 9;
    assert!(from_bytes::<StationState>(&bytes).is_err());
    let watch = MasterMessage::Watch { heartbeat_ms: 5000 };
    assert_eq!(
        hex(&to_bytes(&watch)),
        "0000000a00570041005400430048".to_owned() + "00001388"
    );
    assert_eq!(
        from_bytes::<MasterMessage>(&to_bytes(&watch)).ok(),
        Some(watch)
    );
    let finish = MasterMessage::Finish {
        session_id: "6f1c".into(),
    };
    assert_eq!(
        hex(&to_bytes(&finish)),
        "0000000c00460049004e004900530048000000080036006600310063"
    );
    assert_eq!(
        from_bytes::<MasterMessage>(&to_bytes(&finish)).ok(),
        Some(finish)
    );
    for ms in [0, MIN_HEARTBEAT - 1, MAX_HEARTBEAT + 1] {
        let bad = MasterMessage::Watch { heartbeat_ms: ms };
        assert!(
            from_bytes::<MasterMessage>(&to_bytes(&bad)).is_err(),
            "{ms}"
        );
    }
}

use crate::limits::{MAX_HEARTBEAT_MS as MAX_HEARTBEAT, MIN_HEARTBEAT_MS as MIN_HEARTBEAT};

#[test]
fn admin_commands_and_reports() {
    for command in [
        Command::StationReport,
        Command::QueueReport,
        Command::QueueClear,
        Command::Drain("dvd-1".into()),
        Command::Resume("dvd-1".into()),
        Command::Release("dvd-1".into()),
        Command::Who,
    ] {
        assert!(command.is_admin());
        assert_eq!(
            from_bytes::<Command>(&to_bytes(&command)).ok(),
            Some(command)
        );
    }
    assert!(!Command::List.is_admin() && !Command::Leave.is_admin());
    let replies = [
        AdminReply::Stations(vec![StationReport {
            name: "dvd-1".into(),
            location: "room 2.14".into(),
            type_id: 1,
            condition: Condition::Quarantined,
            reason: "no heartbeat for 15 s".into(),
            state: burning(),
            holder: "alice@BURNSTAND.TEST".into(),
            burns_today: 3,
            verify_failures_today: 1,
        }]),
        AdminReply::Queue(vec![QueueEntry {
            position: 1,
            user: "carol@BURNSTAND.TEST".into(),
            type_id: 1,
            class: "staff".into(),
            drives: 1,
            waited_seconds: 42,
            eta_seconds: 300,
            connected: true,
        }]),
        AdminReply::Who(vec![WhoEntry {
            user: "bob@BURNSTAND.TEST".into(),
            connections: 2,
            stations: vec!["dvd-2".into()],
            session_id: "6f1c".into(),
            held_seconds: 60,
        }]),
        AdminReply::Done("dvd-1 drained".into()),
        AdminReply::Refused(Reply::ErrDenied("admin only".into())),
    ];
    for reply in replies {
        assert_eq!(
            from_bytes::<AdminReply>(&to_bytes(&reply)).ok(),
            Some(reply)
        );
    }
    let mut bytes = to_bytes(&Condition::Drained);
    bytes[3] = 7;
    assert!(from_bytes::<Condition>(&bytes).is_err());
}
