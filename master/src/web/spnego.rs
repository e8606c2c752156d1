//! Login by HTTP `Negotiate` (RFC 4559): the browser's Kerberos ticket for the master's
//! `HTTP/host` principal, no password.
//!
//! `GET /login` (or any page asked with an `Authorization: Negotiate …` header) accepts the
//! token with the master's keytab (`burnstand_wire::gss::accept_http`: SPNEGO or raw
//! Kerberos 5, one round trip), decides the role (the master's admin group, by exported
//! name), audits `web.login` and only then sets the session cookie. A missing or refused
//! token gets `401` with `WWW-Authenticate: Negotiate`, which is what makes a browser with a
//! ticket try. Failures are audited within the same budget as failed handshakes
//! (`auth.fail`): anyone can send junk tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tracing::{info, warn};

use super::session::{self, Session};
use super::{ConnId, Web};
use crate::audit;

/// Longest `Authorization: Negotiate` value read (base64 text): 64 KiB, a token of 48 KiB,
/// far above a Kerberos ticket with a large PAC. Longer headers are refused unread.
pub const MAX_NEGOTIATE_B64_LEN: usize = 64 * 1024;
/// Logins accepted at once (each holds a blocking thread for the keytab and replay cache
/// while GSSAPI runs); more are answered 503 at once.
pub const MAX_LOGINS_IN_FLIGHT: usize = 32;

/// What the request's `Authorization` header says.
enum Offered {
    Nothing,
    Token(Vec<u8>),
    Malformed(&'static str),
}

fn offered(headers: &HeaderMap) -> Offered {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Offered::Nothing;
    };
    if value.len() > MAX_NEGOTIATE_B64_LEN + "Negotiate ".len() {
        return Offered::Malformed("the Negotiate token is too long");
    }
    let Ok(text) = value.to_str() else {
        return Offered::Malformed("the Authorization header is not text");
    };
    let Some((scheme, token)) = text.split_once(' ') else {
        return Offered::Malformed("the Authorization header has no token");
    };
    if !scheme.eq_ignore_ascii_case("negotiate") {
        return Offered::Malformed("only Negotiate (Kerberos) logins are accepted");
    }
    match STANDARD.decode(token.trim()) {
        Ok(bytes) if !bytes.is_empty() => Offered::Token(bytes),
        _ => Offered::Malformed("the Negotiate token is not base64"),
    }
}

/// How an attempt to log in ended.
pub(super) enum Login {
    /// No `Authorization` header: nothing was tried.
    NotTried,
    /// Logged in and audited: send these headers with the answer.
    Ok {
        session: Session,
        set_cookie: HeaderValue,
        reply: Option<HeaderValue>,
    },
    /// The token was refused (audited within the budget).
    Refused,
    /// The master cannot log anyone in now (audit log, too many logins at once).
    Unavailable(&'static str),
}

/// Tries the request's `Authorization: Negotiate` header.
pub(super) async fn attempt(
    web: &Arc<Web>,
    peer: SocketAddr,
    conn: u64,
    headers: &HeaderMap,
) -> Login {
    let token = match offered(headers) {
        Offered::Nothing => return Login::NotTried,
        Offered::Token(token) => token,
        Offered::Malformed(reason) => {
            refused(web, peer, conn, reason).await;
            return Login::Refused;
        }
    };
    let Ok(_slot) = Arc::clone(&web.logins).try_acquire_owned() else {
        warn!("too many status-page logins at once: answering 503");
        return Login::Unavailable("too many logins at once; try again in a moment");
    };
    let cred = web.acceptor.clone();
    let accepted =
        tokio::task::spawn_blocking(move || burnstand_wire::gss::accept_http(&cred, &token)).await;
    let login = match accepted {
        Ok(Ok(login)) => login,
        Ok(Err(e)) => {
            refused(web, peer, conn, &e.to_string()).await;
            return Login::Refused;
        }
        Err(_) => return Login::Unavailable("the login task failed"),
    };
    let shared = &web.shared;
    let admin = shared.config.admin.permits(&login.peer);
    if let Err(e) = shared
        .audit
        .append(audit::web_login(conn, peer, &login.peer, admin))
        .await
    {
        warn!(error = %e, "cannot audit a status-page login: refusing it");
        return Login::Unavailable("the audit log is not writable; tell the lab staff");
    }
    let lifetime = web.settings.session_lifetime;
    let Ok(session) = web.keys.new_session(
        login.peer.as_str(),
        login.peer.exported(),
        admin,
        lifetime,
        login.remaining,
    ) else {
        return Login::Unavailable("no random numbers for the session");
    };
    info!(principal = %login.peer, admin, "status page login");
    let cookie = session::set_cookie(&web.keys.seal(&session), lifetime.min(login.remaining));
    let Ok(set_cookie) = HeaderValue::from_str(&cookie) else {
        return Login::Unavailable("the session cookie is not a header value");
    };
    let reply = login.reply.and_then(|token| {
        HeaderValue::from_str(&format!("Negotiate {}", STANDARD.encode(token))).ok()
    });
    Login::Ok {
        session,
        set_cookie,
        reply,
    }
}

/// Audits a refused login within the failure budget (anyone can cause these).
async fn refused(web: &Web, peer: SocketAddr, conn: u64, reason: &str) {
    info!(reason, "status page login refused");
    let shared = &web.shared;
    let Some(suppressed) = shared.auth_failures.admit() else {
        return;
    };
    if suppressed > 0 {
        if let Err(e) = shared
            .audit
            .append(audit::auth_fail_suppressed(suppressed))
            .await
        {
            warn!(error = %e, "cannot audit suppressed login failures");
        }
    }
    if let Err(e) = shared
        .audit
        .append(audit::web_login_fail(conn, peer, reason))
        .await
    {
        warn!(error = %e, "cannot audit a refused status-page login");
    }
}

/// `401` asking for a Kerberos login, with `body` (HTML) for browsers without a ticket.
pub(super) fn challenge(body: String) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (header::WWW_AUTHENTICATE, "Negotiate"),
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        ],
        body,
    )
        .into_response()
}

/// `503` with a reason.
pub(super) fn unavailable(reason: &str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, reason.to_owned()).into_response()
}

/// `GET /login`: logs in and goes to the page, or asks for a ticket.
pub(super) async fn login(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(ConnId(conn)): Extension<ConnId>,
    headers: HeaderMap,
) -> Response {
    match attempt(&web, peer, conn, &headers).await {
        Login::Ok {
            set_cookie, reply, ..
        } => {
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, set_cookie);
            if let Some(reply) = reply {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, reply);
            }
            response
        }
        Login::NotTried | Login::Refused => challenge(super::pages::login_needed()),
        Login::Unavailable(reason) => unavailable(reason),
    }
}
