//! Cross-site request forgery: every state-changing request (a POST) must come from a page of
//! this site and carry the session's CSRF token.
//!
//! Three layers, each enough against a browser-driven forgery on its own: the cookie is
//! `SameSite=Strict` (a cross-site POST carries no login), the request's `Origin` (and
//! `Sec-Fetch-Site`, where the browser sends it) must name this site, and the form's hidden
//! `csrf` field must equal the token sealed in the session cookie (compared in constant time).

use axum::http::{header, HeaderMap};

use super::session::Session;

/// Why a POST was refused (shown to the user, audited nowhere: nothing happened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Neither `Origin` nor `Sec-Fetch-Site`: not a browser form of ours.
    NoOrigin,
    /// `Origin` names another site, or `Sec-Fetch-Site` is not `same-origin`.
    CrossSite,
    /// The form's token is missing or not this session's.
    BadToken,
}

impl Refusal {
    /// The text of the 403 answer.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::NoOrigin => "refused: the request names no origin; use the buttons of the status page",
            Refusal::CrossSite => "refused: the request comes from another site",
            Refusal::BadToken => "refused: the form is out of date or not from this page; reload the page and try again",
        }
    }
}

/// Checks a POST: its origin against `host` (this site's `host[:port]`, from the request)
/// and `token` against `session`'s.
pub fn check(
    headers: &HeaderMap,
    host: Option<&str>,
    token: &str,
    session: &Session,
) -> Result<(), Refusal> {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if fetch_site.is_none() && origin.is_none() {
        return Err(Refusal::NoOrigin);
    }
    if fetch_site.is_some_and(|site| site != "same-origin") {
        return Err(Refusal::CrossSite);
    }
    if let Some(origin) = origin {
        let ours = host.map(|host| format!("https://{host}"));
        if ours.as_deref() != Some(origin) {
            return Err(Refusal::CrossSite);
        }
    }
    if !constant_time_eq(token.as_bytes(), session.csrf.as_bytes()) {
        return Err(Refusal::BadToken);
    }
    Ok(())
}

/// Equal bytes, in time that depends only on the lengths (which are public: tokens are
/// fixed-length hex).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            user: "alice@R".into(),
            exported: String::new(),
            admin: true,
            expires: u64::MAX,
            csrf: "ab".repeat(16),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn a_same_origin_form_with_the_token_passes() {
        let token = "ab".repeat(16);
        let h = headers(&[
            ("origin", "https://web:8443"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(check(&h, Some("web:8443"), &token, &session()), Ok(()));
    }

    #[test]
    fn cross_site_and_tokenless_posts_are_refused() {
        let token = "ab".repeat(16);
        let s = session();
        let host = Some("web:8443");
        assert_eq!(
            check(&headers(&[]), host, &token, &s),
            Err(Refusal::NoOrigin)
        );
        let evil = headers(&[("origin", "https://evil.example")]);
        assert_eq!(check(&evil, host, &token, &s), Err(Refusal::CrossSite));
        let http = headers(&[("origin", "http://web:8443")]);
        assert_eq!(check(&http, host, &token, &s), Err(Refusal::CrossSite));
        let site = headers(&[("sec-fetch-site", "cross-site")]);
        assert_eq!(check(&site, host, &token, &s), Err(Refusal::CrossSite));
        let ours = headers(&[("origin", "https://web:8443")]);
        assert_eq!(check(&ours, host, "", &s), Err(Refusal::BadToken));
        assert_eq!(
            check(&ours, host, &"cd".repeat(16), &s),
            Err(Refusal::BadToken)
        );
    }
}
