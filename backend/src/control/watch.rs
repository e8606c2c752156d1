//! One control link's watch of the station's live state (link version 3, `docs/protocol.md`
//! §5.10.1): after the master's WATCH the link sends STATE at once, then whenever the state
//! changes, and the current state again when a heartbeat interval passed without one.
//!
//! Every link watches on its own (its own receiver of the [`StateBoard`] and its own
//! heartbeat), so several masters can watch one station. [`Watch::next`] only waits and picks
//! the state; the link sends it from its `select!` arm, so the send is never raced.

use std::time::Duration;

use burnstand_wire::farm::StationState;
use burnstand_wire::link::{MAX_HEARTBEAT_MS, MIN_HEARTBEAT_MS};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::state_board::StateBoard;

/// A link's watch: the state's receiver and when the next heartbeat is due.
pub(super) struct Watch {
    state: watch::Receiver<StationState>,
    heartbeat: Duration,
    due: Instant,
    /// False once the board is gone (never while the station runs): heartbeats only.
    live: bool,
}

impl Watch {
    /// Starts watching with a heartbeat of `heartbeat_ms` (kept within the protocol's bounds
    /// even if the decoder let another through); returns the watch and the state to send now.
    pub(super) fn start(board: &StateBoard, heartbeat_ms: u32) -> (Watch, StationState) {
        let ms = heartbeat_ms.clamp(MIN_HEARTBEAT_MS, MAX_HEARTBEAT_MS);
        let mut watch = Watch {
            state: board.subscribe(),
            heartbeat: Duration::from_millis(u64::from(ms)),
            due: Instant::now(),
            live: true,
        };
        let now = watch.take();
        (watch, now)
    }

    /// The state to send next: once it changed, or once the heartbeat is due. Cancel-safe:
    /// dropped before it returns, it has taken nothing, and the next call waits on.
    pub(super) async fn next(&mut self) -> StationState {
        if self.live {
            tokio::select! {
                changed = self.state.changed() => {
                    if changed.is_err() {
                        self.live = false;
                    }
                }
                _ = tokio::time::sleep_until(self.due) => {}
            }
        } else {
            tokio::time::sleep_until(self.due).await;
        }
        self.take()
    }

    /// The current state, marked seen; the heartbeat starts over from now.
    fn take(&mut self) -> StationState {
        self.due = Instant::now() + self.heartbeat;
        self.state.borrow_and_update().clone()
    }
}

/// The next state a watching link sends; pending forever while the master does not watch,
/// so it can sit in a `select!`.
pub(super) async fn next_state(watch: &mut Option<Watch>) -> StationState {
    match watch {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use burnstand_wire::datastream::to_bytes;
    use burnstand_wire::link::MasterMessage;

    use super::*;

    /// The WATCH example of `docs/protocol.md` §5.10.1.
    #[test]
    fn the_documented_watch() {
        let hex: String = to_bytes(&MasterMessage::Watch { heartbeat_ms: 5000 })
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, "0000000a00570041005400430048".to_owned() + "00001388");
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_is_sent_at_once_and_the_state_repeats_every_heartbeat() {
        let board = std::sync::Arc::new(StateBoard::new(None));
        let (mut watch, first) = Watch::start(&board, 1000);
        assert_eq!(first, StationState::default());

        // Nothing changes: the same state, one heartbeat later.
        let started = Instant::now();
        assert_eq!(watch.next().await, first);
        assert_eq!(started.elapsed(), Duration::from_millis(1000));

        // A change is sent without waiting for the heartbeat, and restarts it.
        let _session = board.open_session(1, "alice@BURNSTAND.TEST");
        let changed = Instant::now();
        let reserved = watch.next().await;
        assert_eq!(changed.elapsed(), Duration::ZERO);
        assert_eq!(reserved.user, "alice@BURNSTAND.TEST");
        assert_eq!(watch.next().await, reserved);
        assert_eq!(changed.elapsed(), Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_heartbeat_out_of_bounds_is_kept_within_them() {
        let board = StateBoard::new(None);
        let (mut watch, _) = Watch::start(&board, 1);
        let started = Instant::now();
        watch.next().await;
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(u64::from(MIN_HEARTBEAT_MS))
        );
    }
}
