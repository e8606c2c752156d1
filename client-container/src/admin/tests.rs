use burnstand_wire::farm::{Activity, Condition, Medium, StationState};

use super::*;

fn station(name: &str, condition: Condition, reason: &str) -> StationReport {
    StationReport {
        name: name.into(),
        location: "room 2.14".into(),
        type_id: 1,
        condition,
        reason: reason.into(),
        state: StationState {
            activity: Activity::Burning,
            medium: Medium::Blank,
            user: "alice@R".into(),
            image: "exam-2025".into(),
            copy: 2,
            copies: 5,
            percent: 40,
            detail: String::new(),
        },
        holder: "alice@R".into(),
        burns_today: 7,
        verify_failures_today: 1,
    }
}

#[test]
fn errdenied_means_not_in_the_admin_group() {
    let e = interpret(
        &AdminCommand::Stations,
        AdminReply::Refused(Reply::ErrDenied("admins only".into())),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 22);
    assert!(e
        .to_string()
        .starts_with("you are not in the master's admin group"));
    let drain = interpret(
        &AdminCommand::Drain("dvd-9".into()),
        AdminReply::Refused(Reply::ErrDenied("no station dvd-9".into())),
    )
    .unwrap_err();
    assert!(drain.to_string().contains("admin drain dvd-9"), "{drain}");
    let old = interpret(&AdminCommand::Who, AdminReply::Refused(Reply::ErrInvCmd)).unwrap_err();
    assert_eq!(old.exit_code(), 14);
    let mismatch = interpret(&AdminCommand::Who, AdminReply::Queue(vec![])).unwrap_err();
    assert!(mismatch.to_string().contains("QLIST in answer to WHO"));
}

#[test]
fn the_station_report_is_a_table_with_condition_state_and_counts() {
    let report = interpret(
        &AdminCommand::Stations,
        AdminReply::Stations(vec![
            station("dvd-1", Condition::Busy, ""),
            station(
                "dvd-2",
                Condition::Quarantined,
                "3 verify failures in a row",
            ),
        ]),
    )
    .unwrap();
    let text = report.human();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].trim_start().starts_with("NAME"), "{text}");
    assert!(lines[0].contains("VERIFY FAILURES TODAY"), "{text}");
    assert!(
        lines[1].contains("burning exam-2025, copy 2 of 5, 40% (blank disc)"),
        "{text}"
    );
    assert!(
        lines[2].contains("quarantined: 3 verify failures in a row"),
        "{text}"
    );
    // Every row's columns start where the header's do.
    let at = lines[0].find("HOLDER").unwrap();
    assert_eq!(lines[1].get(at..at + 7), Some("alice@R"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["stations"][1]["condition"], "quarantined");
    assert_eq!(json["stations"][0]["burns_today"], 7);
}

#[test]
fn queue_and_who_reports_read_as_tables_or_say_they_are_empty() {
    let queue = interpret(
        &AdminCommand::Queue,
        AdminReply::Queue(vec![QueueEntry {
            position: 1,
            user: "bob@R".into(),
            type_id: 1,
            class: "student".into(),
            drives: 1,
            waited_seconds: 185,
            eta_seconds: 0,
            connected: false,
        }]),
    )
    .unwrap()
    .human();
    assert!(queue.contains("3 min 5 s"), "{queue}");
    assert!(queue.contains("away (keeps its place)"), "{queue}");
    let empty = interpret(&AdminCommand::Queue, AdminReply::Queue(vec![])).unwrap();
    assert_eq!(empty.human(), "nobody is waiting");
    let who = interpret(
        &AdminCommand::Who,
        AdminReply::Who(vec![WhoEntry {
            user: "alice@R".into(),
            connections: 2,
            stations: vec!["dvd-1".into()],
            session_id: "6f1c".into(),
            held_seconds: 42,
        }]),
    )
    .unwrap()
    .human();
    assert!(who.contains("dvd-1") && who.contains("42 s"), "{who}");
}

#[test]
fn actions_print_what_the_master_did() {
    let done = interpret(
        &AdminCommand::Drain("dvd-1".into()),
        AdminReply::Done("dvd-1 drained: its running reservation goes on".into()),
    )
    .unwrap();
    assert_eq!(
        done.human(),
        "dvd-1 drained: its running reservation goes on"
    );
    let json = serde_json::to_value(&done).unwrap();
    assert_eq!(json["done"]["command"], "drain");
    assert_eq!(json["done"]["station"], "dvd-1");
    assert_eq!(AdminCommand::QueueClear.command(), Command::QueueClear);
}
