//! The admin's buttons (`POST /admin`): drain, resume and release a station, clear the queue.
//!
//! Each button is a form carrying the session's CSRF token; the request must pass
//! [`super::csrf::check`]. The command then goes through the same function as the
//! command-mode admin commands (`crate::farm::admin`): the admin group is checked again by
//! exported name (the cookie's `admin` only chose the view), and the command is audited
//! (`admin` record) before anything happens — a non-admin's attempt is audited as refused.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use burnstand_wire::command::{Command, Reply};
use burnstand_wire::farm::AdminReply;
use burnstand_wire::gss::Principal;
use serde::Deserialize;

use super::{csrf, pages, session, ConnId, Web};

/// An admin button's form.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    station: String,
}

/// The form that only carries the CSRF token (log out).
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// This site's `host[:port]` as the request names it (HTTP/1.1 `Host`, HTTP/2 `:authority`).
pub(super) fn host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}

fn refused(status: StatusCode, message: &str) -> Response {
    (status, Html(pages::message_page("Refused", message))).into_response()
}

/// `POST /admin`.
pub(super) async fn action(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(ConnId(conn)): Extension<ConnId>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<ActionForm>,
) -> Response {
    let Some(session) = web.session(&headers) else {
        return refused(StatusCode::FORBIDDEN, "log in first");
    };
    if let Err(refusal) = csrf::check(
        &headers,
        host(&headers, &uri).as_deref(),
        &form.csrf,
        &session,
    ) {
        tracing::info!(user = %session.user, ?refusal, "status page POST refused");
        return refused(StatusCode::FORBIDDEN, refusal.message());
    }
    let command = match form.action.as_str() {
        "drain" => Command::Drain(form.station),
        "resume" => Command::Resume(form.station),
        "release" => Command::Release(form.station),
        "clear-queue" => Command::QueueClear,
        _ => return refused(StatusCode::BAD_REQUEST, "unknown action"),
    };
    let Ok(principal) = Principal::parse(&session.user) else {
        return refused(
            StatusCode::FORBIDDEN,
            "the session names no valid principal",
        );
    };
    let Some(reply) = crate::farm::admin(&web.shared, conn, &principal, peer, &command).await
    else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "the audit log is not writable, so nothing was done; tell the lab staff",
        );
    };
    match reply {
        AdminReply::Done(what) => Html(pages::message_page("Done", &what)).into_response(),
        AdminReply::Refused(Reply::ErrDenied(reason)) => refused(StatusCode::FORBIDDEN, &reason),
        _ => refused(
            StatusCode::BAD_REQUEST,
            "the master did not take this command",
        ),
    }
}

/// `POST /logout`: removes the cookie (a browser with a ticket can log in again at once).
pub(super) async fn logout(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<TokenForm>,
) -> Response {
    let Some(session) = web.session(&headers) else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    };
    if let Err(refusal) = csrf::check(
        &headers,
        host(&headers, &uri).as_deref(),
        &form.csrf,
        &session,
    ) {
        return refused(StatusCode::FORBIDDEN, refusal.message());
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_owned()),
            (header::SET_COOKIE, session::clear_cookie()),
        ],
    )
        .into_response()
}
