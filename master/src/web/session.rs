//! The login cookie: who logged in, whether they are an admin, until when, and the CSRF token
//! of their forms — signed with HMAC-SHA256 under a key drawn at start-up.
//!
//! Why a signed cookie and no server-side table: nothing to bound or expire on the server, and
//! a restart (new key) logs everyone out, which a browser with a ticket does not even notice
//! (it logs in again by Negotiate). The cookie is `HttpOnly` (no script reads it), `Secure`,
//! `SameSite=Strict` (no cross-site request carries it) and `__Host-` prefixed (no subdomain
//! can set it). Its lifetime is `[web] session_lifetime`, never longer than the ticket.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2_rfc8009::Sha256;

/// The cookie's name (`__Host-`: Secure, Path=/, no Domain, enforced by browsers).
pub const COOKIE: &str = "__Host-burnstand";
/// Longest cookie value accepted; a real one is about 300 bytes. Bounds the work a forged
/// cookie costs (one base64 decode and one HMAC of at most this much).
pub const MAX_COOKIE_LEN: usize = 2048;
/// Bytes of the key drawn at start-up, and of each CSRF token.
const KEY_LEN: usize = 32;
const CSRF_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// What a login cookie says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The principal, `name@REALM`.
    pub user: String,
    /// Its exported name, hex: receipts are stored by it.
    pub exported: String,
    /// In the master's admin group at login.
    pub admin: bool,
    /// Unix seconds after which the cookie is refused.
    pub expires: u64,
    /// The token every form of this session carries (hex).
    pub csrf: String,
}

/// The signing key of this master's run (kept only inside the keyed HMAC state).
pub struct Keys {
    mac: HmacSha256,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Keys {
    /// A fresh random key (the operating system's generator).
    pub fn random() -> Result<Keys, String> {
        let mut key = [0u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| format!("no random key for the cookies: {e}"))?;
        let mac = <HmacSha256 as KeyInit>::new_from_slice(&key)
            .map_err(|e| format!("cannot key the cookie signatures: {e}"))?;
        key.fill(0);
        Ok(Keys { mac })
    }

    fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// A new session for `user`: valid for `lifetime`, but not past `ticket_left`.
    pub fn new_session(
        &self,
        user: &str,
        exported: &[u8],
        admin: bool,
        lifetime: Duration,
        ticket_left: Duration,
    ) -> Result<Session, getrandom::Error> {
        let mut csrf = [0u8; CSRF_LEN];
        getrandom::fill(&mut csrf)?;
        Ok(Session {
            user: user.to_owned(),
            exported: hex::encode(exported),
            admin,
            expires: unix_now() + lifetime.min(ticket_left).as_secs(),
            csrf: hex::encode(csrf),
        })
    }

    /// The cookie value for `session`: `base64url(json).base64url(hmac)`.
    pub fn seal(&self, session: &Session) -> String {
        let json = serde_json::to_vec(session).unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&json);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&json),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The session a cookie value stands for, if it is ours (constant-time tag check),
    /// well-formed and not expired at `now`.
    pub fn open(&self, value: &str, now: u64) -> Option<Session> {
        if value.len() > MAX_COOKIE_LEN {
            return None;
        }
        let (body, tag) = value.split_once('.')?;
        let json = URL_SAFE_NO_PAD.decode(body).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(&json);
        mac.verify_slice(&tag).ok()?;
        let session: Session = serde_json::from_slice(&json).ok()?;
        (session.expires > now).then_some(session)
    }
}

/// `Set-Cookie` for a new login.
pub fn set_cookie(value: &str, lifetime: Duration) -> String {
    format!(
        "{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        lifetime.as_secs()
    )
}

/// `Set-Cookie` that removes the login.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// Our cookie's value among the request's `Cookie` headers (the first one if repeated).
pub fn cookie_value(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::random().expect("random")
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let keys = keys();
        let session = keys
            .new_session(
                "alice@R",
                b"x",
                false,
                Duration::from_secs(60),
                Duration::from_secs(600),
            )
            .expect("session");
        let value = keys.seal(&session);
        assert_eq!(keys.open(&value, unix_now()), Some(session.clone()));
        assert_eq!(keys.open(&value, session.expires), None, "expired");
    }

    #[test]
    fn the_ticket_bounds_the_lifetime() {
        let keys = keys();
        let session = keys
            .new_session(
                "a@R",
                b"x",
                false,
                Duration::from_secs(900),
                Duration::from_secs(10),
            )
            .expect("session");
        assert!(session.expires <= unix_now() + 10);
    }

    #[test]
    fn forged_and_foreign_cookies_are_refused() {
        let keys = keys();
        let mut session = keys
            .new_session(
                "bob@R",
                b"x",
                false,
                Duration::from_secs(60),
                Duration::from_secs(60),
            )
            .expect("session");
        let value = keys.seal(&session);
        // Another run's key.
        assert_eq!(keys_other().open(&value, unix_now()), None);
        // Same tag, body changed to an admin.
        session.admin = true;
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&session).expect("json"));
        let tag = value.split_once('.').expect("dot").1;
        assert_eq!(keys.open(&format!("{forged_body}.{tag}"), unix_now()), None);
        for junk in ["", ".", "a.b", "no-dot", &"x".repeat(MAX_COOKIE_LEN + 1)] {
            assert_eq!(keys.open(junk, unix_now()), None, "{junk:?}");
        }
    }

    fn keys_other() -> Keys {
        keys()
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            format!("a=1; {COOKIE}=v.t; b=2").parse().expect("header"),
        );
        assert_eq!(cookie_value(&headers), Some("v.t"));
        assert!(
            set_cookie("v", Duration::from_secs(5)).contains("HttpOnly; Secure; SameSite=Strict")
        );
    }
}
