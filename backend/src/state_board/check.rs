//! The station's own look at its drive while a master watches its state: every
//! `drive_check_secs` it checks that the drive can be used (the device node or the file
//! drive's directory is there, no other process holds it; see [`Drive::check_usable`]).
//!
//! Without it a drive that breaks while nobody uses it would show as idle until the next
//! session is refused. The check runs no xorriso and takes no drive hold, so it never gets in
//! the way of a session; it is skipped while a burn runs (the burn finds drive failures
//! itself) and while no master watches (nobody would see the result).
//!
//! [`Drive::check_usable`]: crate::drive::Drive::check_usable

use std::sync::Arc;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::station::Station;

/// Checks the drive every `drive_check_secs` (if not 0) until `stop` fires.
pub async fn run(station: Arc<Station>, stop: CancellationToken) {
    let Some(period) = station.config().drive_check() else {
        return;
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let board = station.state();
        if !board.watched() || board.burning() {
            continue;
        }
        // The check scans /proc for other holders of the drive: off the async threads. Its
        // result reaches the board through the reporting drive.
        let checking = Arc::clone(&station);
        let checked = tokio::task::spawn_blocking(move || {
            let _ = checking.drive().check_usable();
        });
        if let Err(e) = checked.await {
            tracing::error!(error = %e, "drive check task failed");
        }
    }
}
