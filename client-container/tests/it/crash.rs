//! A station that dies mid-burn: the user whose burn it was is told, nobody else notices.

use crate::lab::Lab;

#[test]
fn a_station_killed_mid_burn_fails_that_burn_only() {
    let mut lab = Lab::start();
    // alice on station 1 (first free), with the big image; bob then gets station 2.
    let alice = lab.spawn("alice", &["burn", "big"]);
    lab.wait_for_burn_start("alice");
    let bob = lab.spawn("bob", &["burn", "sample"]);
    // bob holds the other station before the crash (a BIND after it could pick the dead
    // station, which the master learns only when its SERV fails: ERRNOTAVL, by design).
    lab.wait_for_burn_start("bob");
    let started = lab.wait_for_station_record("alice's burn.start", |r| {
        r.event == "burn.start" && r.get_str("user") == Some("alice@BURNSTAND.TEST")
    });
    let station = if started.get_str("station") == Some("test-station-1") {
        1
    } else {
        2
    };
    lab.kill_station(station);

    let (status, _, stderr) = alice.wait();
    // Exit 7: the station link was lost (docs/client.md), with a message naming the station.
    assert_eq!(status.code(), Some(7), "{stderr}");
    let expected = format!(
        "burnstand: the connection to Test station {station} (DVD) closed (the master ended the \
         session, or the station stopped); an unfinished burn is cancelled by the station"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    let (status, _, stderr) = bob.wait();
    assert_eq!(
        status.code(),
        Some(0),
        "bob's burn on the other station: {stderr}"
    );
    // The master recorded the end of alice's pass-through and released her reservation.
    lab.wait_for_master_record("alice's serv.end", |r| {
        r.event == "serv.end" && r.get_str("principal") == Some("alice@BURNSTAND.TEST")
    });
}
