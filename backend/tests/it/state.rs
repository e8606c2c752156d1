//! The station's live state on the control link (link version 3, `docs/protocol.md` §5.10.1):
//! after the master's WATCH the station sends STATE at once, on every change and as a
//! heartbeat. The test plays the master's control link; a real session burns through real
//! xorriso, and a drive whose directory is gone is a drive error.

use burnstand_wire::burner::Request;
use burnstand_wire::farm::{Activity, Medium, StationState};
use burnstand_wire::io::Session;
use burnstand_wire::link::{MasterMessage, StationMessage};
use tokio::net::TcpStream;

use crate::harness::*;

/// The heartbeat the tests ask for: short, so that repeats come quickly.
const HEARTBEAT_MS: u32 = 200;

/// Heartbeats counted while nothing changes.
const REPEATS: usize = 3;

/// The master's control link, watching the station.
struct Watcher {
    link: Session<TcpStream>,
}

impl Watcher {
    /// Opens a control link and sends WATCH.
    async fn open(lab: &Lab, addr: std::net::SocketAddr) -> Watcher {
        let (mut link, _) = control_link(lab, addr).await;
        link.send(&MasterMessage::Watch {
            heartbeat_ms: HEARTBEAT_MS,
        })
        .await
        .expect("send WATCH");
        Watcher { link }
    }

    /// The next STATE (receipts pushed on the link are skipped).
    async fn next(&mut self) -> StationState {
        loop {
            let message = tokio::time::timeout(EVENT_WAIT, self.link.recv::<StationMessage>())
                .await
                .expect("a STATE in time")
                .expect("a station message");
            if let StationMessage::State(state) = message {
                return state;
            }
        }
    }

    /// STATEs until one satisfies `last`; returns them all.
    async fn until(&mut self, last: impl Fn(&StationState) -> bool) -> Vec<StationState> {
        let mut states = Vec::new();
        loop {
            let state = self.next().await;
            let done = last(&state);
            states.push(state);
            if done {
                return states;
            }
        }
    }

    /// While nothing changes, STATE keeps coming as the heartbeat, repeating `state`.
    async fn repeats(&mut self, state: &StationState) {
        for _ in 0..REPEATS {
            assert_eq!(&self.next().await, state, "a heartbeat repeats the state");
        }
    }
}

/// Where a burn's state is in the job: (copy, 0 writing / 1 verifying).
fn step(state: &StationState) -> (u32, u32) {
    let phase = u32::from(state.activity == Activity::Verifying);
    (state.copy, phase)
}

#[tokio::test]
async fn live_state_follows_a_session_and_its_burn() {
    let lab = Lab::new();
    lab.make_iso("exam.iso", 4 << 20, b"", false);
    // speed=1: about 1 MB/s, so xorriso reports several percentages per copy.
    let running = lab.start(lab.config("", "speed = 1"), None).await;
    let mut watcher = Watcher::open(&lab, running.addr).await;

    // At once: idle, nothing known about the disc yet; then heartbeats.
    let idle = watcher.next().await;
    assert_eq!(
        idle,
        StationState {
            activity: Activity::Idle,
            ..StationState::default()
        }
    );
    watcher.repeats(&idle).await;

    // A user's session: reserved by that user.
    let alice = lab.principal("alice");
    let mut m = connect_as_master(&lab, running.addr).await.module();
    let states = watcher.until(|s| s.activity != Activity::Idle).await;
    let reserved = states.last().expect("a state").clone();
    assert_eq!(reserved.activity, Activity::Reserved, "{states:?}");
    assert_eq!(reserved.user, alice);
    assert_eq!((reserved.copies, reserved.image.as_str()), (0, ""));
    watcher.repeats(&reserved).await;

    // Two copies: burning and verifying each, percentages rising, then reserved again.
    m.send(&Request::Burn {
        image_id: "exam.iso".into(),
        copies: 2,
    })
    .await;
    let mut states = watcher
        .until(|s| s.activity == Activity::Verifying && s.copy == 2)
        .await;
    states.extend(watcher.until(|s| s.activity == Activity::Reserved).await);
    let after = states.pop().expect("the state after the burn");
    let burn: Vec<&StationState> = states
        .iter()
        .filter(|s| s.activity != Activity::Reserved)
        .collect();
    for s in &burn {
        assert!(
            matches!(s.activity, Activity::Burning | Activity::Verifying),
            "{s:?}"
        );
        assert_eq!(s.user, alice, "{s:?}");
        assert_eq!(s.image, "Image exam.iso", "{s:?}");
        assert_eq!(s.copies, 2, "{s:?}");
        assert!(s.percent <= 100, "{s:?}");
    }
    // The job moves forward only: copy 1 writing, verifying, copy 2 writing, verifying; within
    // each step the percentage only rises.
    assert!(
        burn.windows(2).all(|w| step(w[0]) < step(w[1])
            || (step(w[0]) == step(w[1]) && w[0].percent <= w[1].percent)),
        "{burn:#?}"
    );
    for copy in [1, 2] {
        let writing: Vec<u32> = burn
            .iter()
            .filter(|s| s.activity == Activity::Burning && s.copy == copy)
            .map(|s| s.percent)
            .collect();
        assert!(
            writing.iter().any(|&p| p > 0 && p < 100),
            "copy {copy} reported progress while writing: {writing:?}"
        );
        assert!(
            burn.iter()
                .any(|s| s.activity == Activity::Verifying && s.copy == copy),
            "copy {copy} was verified: {burn:#?}"
        );
    }
    // Back to the session: reserved, no burn; the drive says what the burn left in it.
    assert_eq!(
        after,
        StationState {
            activity: Activity::Reserved,
            medium: Medium::Written,
            user: alice.clone(),
            ..StationState::default()
        }
    );

    // The session ends: idle again, the medium as last seen.
    drop(m);
    let idle = watcher
        .until(|s| s.activity == Activity::Idle)
        .await
        .pop()
        .expect("idle");
    assert_eq!(
        idle,
        StationState {
            activity: Activity::Idle,
            medium: Medium::Written,
            ..StationState::default()
        }
    );
    watcher.repeats(&idle).await;
    drop(watcher);
    running.stop().await;
}

#[tokio::test]
async fn a_drive_that_cannot_be_used_is_a_drive_error_until_it_can() {
    let lab = Lab::new();
    let running = lab
        .start(lab.config("drive_check_secs = 1", ""), None)
        .await;
    let mut watcher = Watcher::open(&lab, running.addr).await;
    assert_eq!(watcher.next().await.activity, Activity::Idle);

    // The file drive's directory goes away: the station's own check finds it, and says why
    // without naming server paths.
    let drive_dir = lab.disc.parent().expect("drive dir").to_owned();
    std::fs::remove_dir_all(&drive_dir).expect("remove the drive dir");
    let error = watcher
        .until(|s| s.activity == Activity::DriveError)
        .await
        .pop()
        .expect("a drive error");
    assert!(error.detail.contains("missing"), "{error:?}");
    let lab_dir = lab.dir.path().to_string_lossy().into_owned();
    assert!(!error.detail.contains(&lab_dir), "{error:?}");
    watcher.repeats(&error).await;
    // Sessions are refused meanwhile, as before.
    assert!(matches!(
        connect_as_master(&lab, running.addr).await,
        Connected::NotAvailable
    ));

    // The directory is back: idle again, no detail.
    std::fs::create_dir_all(&drive_dir).expect("recreate the drive dir");
    let idle = watcher
        .until(|s| s.activity != Activity::DriveError)
        .await
        .pop()
        .expect("a state");
    assert_eq!(idle.activity, Activity::Idle, "{idle:?}");
    assert_eq!(idle.detail, "");
    drop(watcher);
    running.stop().await;
}
