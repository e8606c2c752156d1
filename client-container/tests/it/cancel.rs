//! Stopping a burn half way: Ctrl-C cancels it cleanly; a killed client still frees the
//! station, because the master ends a reservation whose container connection is gone.

use nix::sys::signal::Signal;

use crate::lab::{text, Lab};

#[test]
fn ctrl_c_mid_burn_cancels_at_the_station_and_exits_130() {
    let lab = Lab::start();
    let alice = lab.spawn("alice", &["burn", "big"]);
    let start = lab.wait_for_burn_start("alice");
    let session = start.get_str("session_id").unwrap().to_owned();

    // Meanwhile alice runs other commands in another terminal. They must not disturb the
    // burn: `list` needs no reservation, `images` is refused (one reservation per user), and
    // neither may say QUIT, which would end all of alice's connections, the burn included.
    let list = lab.run("alice", &["list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let images = lab.run("alice", &["images"]);
    assert_eq!(images.status.code(), Some(10), "{}", text(&images.stderr));
    assert!(text(&images.stderr).contains("already hold a reservation"));

    alice.signal(Signal::SIGINT);
    let (status, stdout, stderr) = alice.wait();
    assert_eq!(
        status.code(),
        Some(130),
        "{stdout}\n{stderr}\n{}",
        lab.logs()
    );
    assert!(
        stderr.contains("the burn was cancelled: Test station 1 (DVD) stopped xorriso"),
        "{stderr}"
    );
    assert!(stdout.contains("result          CANCELLED"), "{stdout}");

    // The station stopped the burn because of the CANCEL (not because the session ended),
    // and recorded it before answering CANCELLED.
    let cancel = lab.wait_for_station_record("the burn.cancel", |r| {
        r.event == "burn.cancel" && r.get_str("session_id") == Some(session.as_str())
    });
    assert_eq!(cancel.get_str("reason"), Some("CANCEL request"));
    assert_eq!(cancel.get_str("user"), Some("alice@BURNSTAND.TEST"));
    assert_eq!(
        cancel.get_str("image_sha256"),
        Some(lab.big.sha256.as_str())
    );
    // burnstand then released the reservation with QUIT.
    let teardown = lab.wait_for_master_record("the release", |r| {
        r.event == "teardown" && r.get_str("session") == Some(session.as_str())
    });
    assert_eq!(teardown.get_str("reason"), Some("quit"));
}

#[test]
fn killing_the_client_mid_burn_releases_the_reservation() {
    let lab = Lab::start();
    let alice = lab.spawn("alice", &["burn", "big"]);
    let start = lab.wait_for_burn_start("alice");
    let session = start.get_str("session_id").unwrap().to_owned();
    alice.signal(Signal::SIGKILL);
    let (status, _, _) = alice.wait();
    assert_eq!(status.code(), None, "killed by a signal");

    // The master saw the container connection go and ended the reservation...
    let teardown = lab.wait_for_master_record("the teardown", |r| {
        r.event == "teardown" && r.get_str("session") == Some(session.as_str())
    });
    assert!(
        teardown
            .get_str("reason")
            .is_some_and(|r| r.starts_with("container connection lost")),
        "{teardown:?}"
    );
    // ...which closed the station link, and the station cancelled the burn.
    let cancel = lab.wait_for_station_record("the burn.cancel", |r| {
        r.event == "burn.cancel" && r.get_str("session_id") == Some(session.as_str())
    });
    assert_eq!(cancel.get_str("reason"), Some("session ended"));

    // alice holds no reservation any more (the master allows one per principal): a new BIND
    // succeeds and gets the very station she had, the first in configuration order.
    let status = lab.run("alice", &["status"]);
    let stdout = text(&status.stdout);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        stdout.contains("station   Test station 1 (DVD)"),
        "{stdout}"
    );
}

#[test]
fn a_cancelled_copy_has_its_receipt_saved_and_its_session_shown() {
    let lab = Lab::start();
    let saved = lab.dir.path().join("cancelled-receipt.jsonl");
    let alice = lab.spawn(
        "alice",
        &["burn", "big", "--save-receipt", saved.to_str().unwrap()],
    );
    let start = lab.wait_for_burn_start("alice");
    let session = start.get_str("session_id").unwrap().to_owned();
    alice.signal(Signal::SIGINT);
    let (status, stdout, stderr) = alice.wait();
    assert_eq!(status.code(), Some(130), "{stdout}\n{stderr}");

    // The station's receipt of the cancelled copy is what the user keeps.
    let lines = std::fs::read_to_string(&saved).unwrap_or_default();
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a saved record is JSON"))
        .collect();
    assert_eq!(records.len(), 1, "{lines}\n{stderr}");
    assert_eq!(records[0]["event"], "burn.receipt");
    assert_eq!(records[0]["result"], "cancelled");
    assert_eq!(records[0]["session_id"], session.as_str());
    assert_eq!(records[0]["copy_id"], start.get_str("copy_id").unwrap());
    assert!(
        stdout.contains(&format!("session id      {session}")),
        "{stdout}"
    );
    assert!(
        stderr.contains("saved 1 station receipt record(s)"),
        "{stderr}"
    );
}
