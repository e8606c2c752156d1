//! systemd's notification protocol (sd_notify(3)) for both daemons' `Type=notify` units:
//! `READY=1` once the listener is bound (the unit is "started" only then, so units ordered
//! after it find the port open), `STOPPING=1` when a signal starts the drain, and `WATCHDOG=1`
//! pings while the daemon is serving (with `WatchdogSec=`, systemd restarts a daemon whose
//! pings stop).
//!
//! Everything here is a no-op without `NOTIFY_SOCKET` (a daemon started by hand, by a test,
//! or by another supervisor), and the watchdog is off without `WATCHDOG_USEC` (or when
//! `WATCHDOG_PID` names another process). A failed notification is logged, never fatal: the
//! daemon serves users whether or not its supervisor hears about it.

use std::future::Future;
use std::time::Duration;

use sd_notify::NotifyState;

/// Shortest ping interval honoured, whatever `WATCHDOG_USEC` says: a misconfigured
/// `WatchdogSec=` of a few microseconds must not turn the pinger into a busy loop.
pub const MIN_PING_INTERVAL: Duration = Duration::from_millis(10);

/// Tells the supervisor the daemon is ready: its listener at `addr` accepts connections.
pub fn ready(addr: std::net::SocketAddr) {
    let status = format!("listening on {addr}");
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// Tells the supervisor the daemon is stopping (draining its sessions), so a long drain is
/// shown as "deactivating", not as a hang.
pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: draining sessions"),
    ]);
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC` (sd_watchdog_enabled(3)'s advice,
/// so one late ping is not yet a failure), at least [`MIN_PING_INTERVAL`]; `None` when the
/// supervisor wants no pings from this process.
pub fn ping_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|usec| !usec.is_zero())
        .map(|timeout| (timeout / 2).max(MIN_PING_INTERVAL))
}

/// Runs `serving` (the daemon's accept loop and everything it serves) and, while it runs,
/// pings the watchdog every [`ping_interval`]. The pings come from the same task as
/// `serving`, so a serving task stuck in a blocking call stops them; and before each ping a
/// fresh probe task must get scheduled on the runtime, so a runtime whose workers are all
/// stuck stops them too. When `serving` ends, so do the pings.
pub async fn watched<F: Future>(serving: F) -> F::Output {
    let Some(every) = ping_interval() else {
        return serving.await;
    };
    tracing::info!(interval_ms = every.as_millis() as u64, "watchdog pings on");
    tokio::pin!(serving);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tokio::select! {
            out = &mut serving => return out,
            _ = ticks.tick() => {
                if runtime_schedules(every).await {
                    if let Err(e) = sd_notify::notify(&[NotifyState::Watchdog]) {
                        if !warned {
                            tracing::warn!(error = %e, "cannot ping the systemd watchdog; systemd will restart the daemon when WatchdogSec= runs out");
                            warned = true;
                        }
                    }
                } else {
                    tracing::error!("the async runtime did not run a probe task within the watchdog interval: no watchdog ping");
                }
            }
        }
    }
}

/// Whether a new task spawned on the runtime runs within `bound`.
async fn runtime_schedules(bound: Duration) -> bool {
    let probe = tokio::spawn(async {});
    matches!(tokio::time::timeout(bound, probe).await, Ok(Ok(())))
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET); check the unit's NotifyAccess=");
    }
}
