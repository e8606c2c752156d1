//! **Test-only**: raw MIT contexts next to their lucid parameters, for the differential tests
//! against MIT (`wire/tests/it/fastpath.rs`) and the `unwrap_differential` fuzz target.
//!
//! Production code never uses this: it skips [`Established`](super::Established)'s checks
//! (flags, names, expiry, the Sealed-flag requirement) so tests can build contexts MIT
//! would never give a session (no mutual authentication, hence no acceptor subkey), and it
//! keeps MIT's context alive next to a Rust copy of its keys, which a session must never do.

use super::ffi::{SecContext, Step};
use super::{fast, gss, principal_name, Cred, CtxFlags};
use crate::fastpath::LucidParams;
use crate::limits::MAX_HANDSHAKE_ROUNDS;
use crate::{Error, Result};

/// One side of an MIT context, usable with MIT's own wrap/unwrap.
pub struct MitContext(SecContext);

impl MitContext {
    /// `gss_wrap` with confidentiality; an error if MIT did not encrypt.
    pub fn wrap(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (token, encrypted) = self.0.wrap(plaintext).map_err(gss("wrap"))?;
        if !encrypted {
            return Err(Error::NotSealed);
        }
        Ok(token)
    }

    /// `gss_unwrap`; every supplementary status (duplicate, old, unsequenced, gap) is an
    /// error, as in a session. Returns the plaintext and whether the token was encrypted.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<(Vec<u8>, bool)> {
        self.0.unwrap(token).map_err(gss("unwrap"))
    }

    /// The fast path's parameters of this context (non-deleting lucid inquiry: the MIT
    /// context stays usable and both copies share nothing). Take them before MIT unwraps
    /// anything: MIT's lucid `recv_seq` is the one set at establishment and does not follow
    /// its own unwraps (its send sequence does follow its wraps).
    pub fn lucid_params(&self) -> Result<LucidParams> {
        fast::lucid_params(&self.0).map_err(|why| Error::Gss {
            operation: "export lucid context",
            message: format!("{why:?}"),
        })
    }

    /// The flags MIT granted.
    pub fn flags(&self) -> Result<CtxFlags> {
        let info = self.0.inquire().map_err(gss("inquire context"))?;
        Ok(CtxFlags::from_bits_retain(info.flags))
    }
}

/// Establishes an (initiator, acceptor) pair in this process, with `flags` requested and no
/// checks on the result. The initiator's first step asks the KDC for a ticket to `target`.
pub fn mit_pair(
    initiator_cred: &Cred,
    acceptor_cred: &Cred,
    target: &str,
    flags: CtxFlags,
) -> Result<(MitContext, MitContext)> {
    let target = principal_name(target)?;
    let mut initiator = SecContext::new();
    let mut acceptor = SecContext::new();
    let mut pending: Option<Vec<u8>> = None;
    let (mut initiator_done, mut acceptor_done) = (false, false);
    for _ in 0..MAX_HANDSHAKE_ROUNDS {
        if !initiator_done {
            let Step { token, complete } = initiator
                .initiate(initiator_cred, &target, flags.bits(), pending.as_deref())
                .map_err(gss("initiate security context"))?;
            initiator_done = complete;
            pending = (!token.is_empty()).then_some(token);
        }
        let Some(token) = pending.take() else {
            break;
        };
        let Step { token, complete } = acceptor
            .accept(acceptor_cred, &token)
            .map_err(gss("accept security context"))?;
        acceptor_done = complete;
        if token.is_empty() {
            break;
        }
        pending = Some(token);
    }
    if !(initiator_done && acceptor_done) {
        return Err(Error::Gss {
            operation: "establish",
            message: "handshake incomplete".into(),
        });
    }
    Ok((MitContext(initiator), MitContext(acceptor)))
}
