//! Unit tests of [`super`] (state_board.rs): how the facts become a state, and that only a
//! changed state is published.
use super::*;

const ALICE: &str = "alice@BURNSTAND.TEST";

fn board() -> Arc<StateBoard> {
    Arc::new(StateBoard::new(Some(DriveTarget::File(
        "/srv/burnstand/drive/disc.img".into(),
    ))))
}

fn percent(p: u8) -> Percent {
    Percent::new(p).unwrap_or(Percent::ZERO)
}

#[test]
fn sessions_reserve_and_the_last_one_closed_makes_it_idle() {
    let board = board();
    assert_eq!(board.current().activity, Activity::Idle);
    let alice = board.open_session(1, ALICE);
    assert_eq!(
        (board.current().activity, board.current().user),
        (Activity::Reserved, ALICE.to_owned())
    );
    let bob = board.open_session(2, "bob@BURNSTAND.TEST");
    assert_eq!(board.current().user, "bob@BURNSTAND.TEST");
    drop(bob);
    assert_eq!(board.current().user, ALICE);
    drop(alice);
    assert_eq!(board.current(), StationState::default());
}

#[test]
fn a_burn_shows_copy_phase_and_percent_then_the_session_again() {
    let board = board();
    let _session = board.open_session(1, ALICE);
    let burning = board.start_burn(ALICE, "Final exam", 2);
    let s = board.current();
    assert_eq!(
        (s.activity, s.image.as_str(), s.copy, s.copies, s.percent),
        (Activity::Burning, "Final exam", 1, 2, 0)
    );
    burning.progress(Phase::Writing, 1, percent(40));
    assert_eq!(board.current().percent, 40);
    burning.progress(Phase::Verifying, 1, percent(10));
    assert_eq!(
        (board.current().activity, board.current().percent),
        (Activity::Verifying, 10)
    );
    burning.waiting_for_disc(2);
    let s = board.current();
    assert_eq!((s.activity, s.copy, s.percent), (Activity::Burning, 2, 0));
    assert_eq!(s.detail, "waiting for a blank disc for copy 2");
    burning.copy(2);
    assert_eq!(board.current().detail, "");
    drop(burning);
    let s = board.current();
    assert_eq!(
        (s.activity, s.user.as_str(), s.image.as_str(), s.copies),
        (Activity::Reserved, ALICE, "", 0)
    );
}

#[test]
fn only_a_changed_state_is_published() {
    let board = board();
    let mut rx = board.subscribe();
    let burning = board.start_burn(ALICE, "Final exam", 1);
    assert!(rx.has_changed().unwrap_or(false));
    rx.borrow_and_update();
    // The same percentage again, or the same medium: nothing new for the masters.
    burning.progress(Phase::Writing, 1, percent(0));
    board.medium_seen(MediumState::Unknown);
    board.usable(Ok(()));
    assert!(!rx.has_changed().unwrap_or(true));
    burning.progress(Phase::Writing, 1, percent(1));
    assert!(rx.has_changed().unwrap_or(false));
}

#[test]
fn the_medium_follows_what_the_drive_said() {
    let board = board();
    for (seen, medium) in [
        (MediumState::Blank, Medium::Blank),
        (MediumState::Absent, Medium::NoDisc),
        (MediumState::TrayOpen, Medium::TrayOpen),
        (MediumState::Written, Medium::Written),
        (MediumState::Unknown, Medium::Unknown),
    ] {
        board.medium_seen(seen);
        assert_eq!(board.current().medium, medium);
    }
    board.tray_opened();
    assert_eq!(board.current().medium, Medium::TrayOpen);
    board.disc_written();
    assert_eq!(board.current().medium, Medium::Written);
}

#[test]
fn a_drive_error_outranks_everything_and_names_no_server_path() {
    let board = board();
    let _session = board.open_session(1, ALICE);
    board.usable(Err(
        "the directory of the file drive /srv/burnstand/drive/disc.img is missing".into(),
    ));
    let s = board.current();
    assert_eq!(s.activity, Activity::DriveError);
    assert_eq!(s.user, ALICE);
    assert_eq!(
        s.detail,
        "the directory of the file drive the drive is missing"
    );
    // An operation's failure stays until an operation succeeds; usability alone does not
    // clear it.
    board.drive_failed("asking the drive about its disc failed: /etc/x is gone");
    board.usable(Ok(()));
    let s = board.current();
    assert_eq!(s.activity, Activity::DriveError);
    assert_eq!(
        s.detail,
        "asking the drive about its disc failed: [server path] is gone"
    );
    board.medium_seen(MediumState::Blank);
    assert_eq!(board.current().activity, Activity::Reserved);
    assert_eq!(board.current().detail, "");
}

#[test]
fn texts_are_cut_to_what_the_wire_carries() {
    let board = board();
    let long = "x".repeat(MAX_FARM_TEXT_LEN * 2);
    let _session = board.open_session(1, &long);
    let _burn = board.start_burn(&long, &long, 1);
    board.drive_failed(&long);
    let s = board.current();
    for text in [&s.user, &s.image, &s.detail] {
        assert_eq!(text.chars().count(), MAX_FARM_TEXT_LEN);
    }
    // And the master's decoder takes it.
    let bytes = burnstand_wire::datastream::to_bytes(&s);
    assert_eq!(
        burnstand_wire::datastream::from_bytes::<StationState>(&bytes).ok(),
        Some(s)
    );
}
