//! HTTP `Negotiate` (RFC 4559) on the accepting side: one token from a browser (SPNEGO, or a
//! raw Kerberos 5 AP-REQ), one answer, the authenticated user.
//!
//! Unlike a burnstand session, an HTTP login protects no messages afterwards: TLS protects
//! the connection, and the Kerberos context only says who the user is. So none of the
//! session's flags (confidentiality, sequence…) are required here — browsers do not ask for
//! them — but the mechanism underneath must still be Kerberos 5, and MIT's replay cache still
//! refuses a replayed AP-REQ. A login that would need a second round trip (SPNEGO choosing a
//! mechanism other than the browser's first) is refused: HTTP carries no state between
//! requests to continue it on, and every browser sends Kerberos first.

use std::time::Duration;

use super::ffi::{Cred, Name, SecContext, Usage, KRB5_MECH, SPNEGO_MECH};
use super::{gss, principal_name, Principal};
use crate::limits::MAX_HANDSHAKE_TOKEN_LEN;
use crate::{Error, Result};

/// Credentials to accept HTTP logins as `principal` (`HTTP/host@REALM`) from the keytab in
/// KRB5_KTNAME, for both SPNEGO (what browsers send) and raw Kerberos 5 tokens.
pub fn http_acceptor_credentials(principal: &str) -> Result<Cred> {
    let name: Name = principal_name(principal)?;
    Cred::acquire_for(Some(&name), Usage::Accept, &[KRB5_MECH, SPNEGO_MECH])
        .map_err(gss("acquire HTTP acceptor credentials (check the keytab)"))
}

/// A completed HTTP login.
#[derive(Debug)]
pub struct HttpLogin {
    /// Who logged in.
    pub peer: Principal,
    /// The token for `WWW-Authenticate: Negotiate <token>` in the answer (mutual
    /// authentication, and SPNEGO's accept-completed), if the mechanism produced one.
    pub reply: Option<Vec<u8>>,
    /// How long the ticket behind the login stays valid (plus the realm's clock skew, as MIT
    /// reports it): a web session must not outlive it.
    pub remaining: Duration,
}

/// Accepts one `Negotiate` token with `cred` (see [`http_acceptor_credentials`]). Blocks
/// briefly (the keytab and replay cache are files): call it off the async runtime.
pub fn accept_http(cred: &Cred, token: &[u8]) -> Result<HttpLogin> {
    if token.is_empty() {
        return Err(Error::EmptyToken);
    }
    if token.len() > MAX_HANDSHAKE_TOKEN_LEN {
        return Err(Error::TooLarge {
            what: "Negotiate token",
            len: token.len() as u64,
            limit: MAX_HANDSHAKE_TOKEN_LEN as u64,
        });
    }
    let mut ctx = SecContext::new();
    let step = ctx
        .accept(cred, token)
        .map_err(gss("accept Negotiate token"))?;
    if !step.complete {
        return Err(Error::Gss {
            operation: "accept Negotiate token",
            message: "the login needs a second round trip, which HTTP logins do not support; \
                      let the browser offer Kerberos 5 first"
                .into(),
        });
    }
    let info = ctx.inquire().map_err(gss("inquire context"))?;
    if !info.open {
        return Err(Error::Gss {
            operation: "accept Negotiate token",
            message: "handshake incomplete".into(),
        });
    }
    // SPNEGO reports the mechanism it negotiated: only Kerberos 5 logs anyone in.
    if info.mechanism != KRB5_MECH {
        return Err(Error::WrongMechanism);
    }
    let peer = Principal::from_name(&info.source)?;
    Ok(HttpLogin {
        peer,
        reply: (!step.token.is_empty()).then_some(step.token),
        remaining: Duration::from_secs(u64::from(info.lifetime_secs)),
    })
}

/// SPNEGO initiator credentials for `principal`, obtained from the KDC with `password` and
/// held in memory: for tests that act as several browsers in one process (`test-util`).
#[cfg(feature = "test-util")]
pub fn spnego_password_credentials(principal: &str, password: &str) -> Result<Cred> {
    let name = principal_name(principal)?;
    Cred::with_password_for(&name, password, &[SPNEGO_MECH])
        .map_err(gss("acquire SPNEGO credentials with a password"))
}

/// The first SPNEGO token towards `target` (`HTTP/host@REALM`) with `cred` (see
/// [`spnego_password_credentials`]): what a browser puts after `Negotiate `. For tests
/// (`test-util`); asks for mutual authentication only, like browsers.
#[cfg(feature = "test-util")]
pub fn spnego_token(cred: &Cred, target: &str) -> Result<Vec<u8>> {
    let target = principal_name(target)?;
    let mut ctx = SecContext::new();
    let step = ctx
        .initiate_with(
            cred,
            &target,
            SPNEGO_MECH,
            super::CtxFlags::GSS_C_MUTUAL_FLAG.bits(),
            None,
        )
        .map_err(gss("initiate SPNEGO"))?;
    Ok(step.token)
}
