//! `GET /events`: the viewer's [`Snapshot`](super::view::Snapshot) as JSON, once at once and
//! again after every change the master learns of (a station's report, a reservation, the
//! queue), as Server-Sent Events; comments keep idle streams (and proxies) alive.
//!
//! Changes arrive through the registry's watch channel, which keeps only the newest: a
//! subscriber that is slow to read skips intermediate snapshots instead of queueing them, so
//! a stream holds at most one snapshot whatever the farm does. Each event's `at_unix_ms` is
//! when the master learnt of the change (the bench measures the delay to the subscriber).
//! A stream ends with its session's cookie (the browser reconnects and must log in again)
//! and at shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use tokio::sync::OwnedSemaphorePermit;

use super::session::unix_now;
use super::view::{self, Viewer};
use super::Web;

/// Event streams at once. Each holds a task-free stream state, a watch receiver and at most
/// one snapshot being sent (a few KiB for a lab's farm): some MiB in all. The bench runs 200.
pub const MAX_SUBSCRIBERS: usize = 512;
/// A comment line this often on an idle stream.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

struct Subscription {
    web: Arc<Web>,
    viewer: Viewer,
    changes: tokio::sync::watch::Receiver<u64>,
    /// Unix seconds when the viewer's session ends (`None`: the wall, no session).
    until: Option<u64>,
    first: bool,
    _slot: OwnedSemaphorePermit,
}

/// The next event of a stream, or `None` when it ends.
async fn next(mut sub: Subscription) -> Option<(Result<Event, Infallible>, Subscription)> {
    if !sub.first {
        let until = sub.until;
        let session_end = async move {
            match until {
                Some(until) => {
                    let left = until.saturating_sub(unix_now());
                    tokio::time::sleep(Duration::from_secs(left)).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = sub.changes.changed() => changed.ok()?,
            () = sub.web.shutdown.cancelled() => return None,
            () = session_end => return None,
        }
    }
    sub.first = false;
    let at = *sub.changes.borrow_and_update();
    let snapshot = view::snapshot(&sub.web.shared, &sub.viewer, at);
    let json = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".to_owned());
    Some((Ok(Event::default().event("farm").data(json)), sub))
}

/// `GET /events`.
pub(super) async fn events(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let session = web.session(&headers);
    let Some(viewer) = web.viewer(session.as_ref()) else {
        return (StatusCode::UNAUTHORIZED, "log in first").into_response();
    };
    let Ok(slot) = Arc::clone(&web.subscribers).try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live viewers; the page still works when reloaded",
        )
            .into_response();
    };
    let subscription = Subscription {
        changes: web.shared.registry.subscribe(),
        web: Arc::clone(&web),
        viewer,
        until: session.map(|s| s.expires),
        first: true,
        _slot: slot,
    };
    Sse::new(stream::unfold(subscription, next))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE_EVERY))
        .into_response()
}
