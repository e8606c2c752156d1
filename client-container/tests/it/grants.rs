//! Every started copy is counted exactly once, whatever ends it: copy grants over the
//! master–station control link, receipts on every ending path, crash reconciliation
//! (`docs/protocol.md` §5.9). Real KDC, real xorriso, real daemons and client.

use nix::sys::signal::Signal;

use crate::lab::{text, Lab, Policy};

/// The master's name of the station a `burn.start` record comes from.
fn start_station_name(start: &burnstand_audit::Record) -> String {
    match start.get_str("station") {
        Some("test-station-1") => "dvd-1".into(),
        Some("test-station-2") => "dvd-2".into(),
        other => panic!("unknown station {other:?}"),
    }
}

fn quota_of_one_big() -> Lab {
    Lab::start_with_policy(&Policy {
        big_copies: Some(1),
        ..Policy::default()
    })
}

/// The quota leak an outside review found: a user with one copy started a burn, killed the
/// client once writing was under way, and burned a full second copy on the other station.
#[test]
fn a_copy_whose_client_is_killed_mid_burn_still_uses_the_quota() {
    let lab = quota_of_one_big();
    let alice = lab.spawn("alice", &["burn", "big"]);
    let start = lab.wait_for_burn_start("alice");
    let copy_id = start
        .get_str("copy_id")
        .expect("burn.start names its copy")
        .to_owned();
    // The grant was on the master's disk before the station started writing.
    let grant = lab
        .master_records()
        .into_iter()
        .find(|r| r.event == "copy.grant")
        .expect("a copy.grant in the master's log");
    assert_eq!(grant.get_str("copy_id"), Some(copy_id.as_str()));
    assert!(grant.seq > 0);

    alice.signal(Signal::SIGKILL);
    let _ = alice.wait();

    // The station's receipt of the cancelled copy reaches the master's log, by copy id.
    let receipt = lab.wait_for_master_record("the cancelled copy's receipt", |r| {
        r.event == "burn.receipt" && r.get_str("copy_id") == Some(copy_id.as_str())
    });
    assert_eq!(receipt.get_str("result"), Some("cancelled"));

    // A second copy is refused, also on the other station (bob holds the one alice used, so
    // her BIND gets the other: the station that never saw her copy), and nothing more of
    // hers is written.
    let bob = crate::counting::hold_a_station(&lab, "bob");
    assert_eq!(bob.station, start_station_name(&start));
    let out = lab.run("alice", &["burn", "big"]);
    bob.release();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("quota used up"), "{stderr}");
    let starts = lab
        .station_records()
        .into_iter()
        .filter(|r| r.event == "burn.start" && r.get_str("user") == Some("alice@BURNSTAND.TEST"))
        .count();
    assert_eq!(starts, 1, "{}", lab.logs());
    // Each copy counted once in the master's log: one grant, one receipt.
    let receipts = lab
        .master_records()
        .into_iter()
        .filter(|r| r.event == "burn.receipt" && r.get_str("copy_id") == Some(copy_id.as_str()))
        .count();
    assert_eq!(receipts, 1);
}

/// SIGKILL of a station mid-burn: the restarted station closes the copy as `interrupted`
/// before it accepts anyone, the master records that receipt when its control link comes
/// back, and the copy counts.
#[test]
fn a_copy_interrupted_by_a_station_crash_is_closed_and_counted() {
    let mut lab = quota_of_one_big();
    let alice = lab.spawn("alice", &["burn", "big"]);
    let start = lab.wait_for_burn_start("alice");
    let copy_id = start.get_str("copy_id").expect("copy id").to_owned();
    let station = if start.get_str("station") == Some("test-station-1") {
        1
    } else {
        2
    };
    lab.kill_station(station);
    let _ = alice.wait();
    lab.restart_station(station);

    let closed = lab.wait_for_station_record("the interrupted receipt", |r| {
        r.event == "burn.receipt" && r.get_str("copy_id") == Some(copy_id.as_str())
    });
    assert_eq!(closed.get_str("result"), Some("interrupted"));
    assert_eq!(closed.get_str("user"), Some("alice@BURNSTAND.TEST"));
    // Synced to the master over the control link.
    let recorded = lab.wait_for_master_record("the synced receipt", |r| {
        r.event == "burn.receipt" && r.get_str("copy_id") == Some(copy_id.as_str())
    });
    assert_eq!(recorded.get_str("result"), Some("interrupted"));

    // bob holds the restarted station, so alice's next BIND gets the other one, which never
    // saw her copy: only the master's count can refuse it.
    let bob = crate::counting::hold_a_station(&lab, "bob");
    assert_eq!(bob.station, format!("dvd-{station}"));
    let out = lab.run("alice", &["burn", "big"]);
    bob.release();
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("quota used up"),
        "{}",
        text(&out.stderr)
    );
}
