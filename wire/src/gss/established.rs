//! [`Established`]: a checked Kerberos context, protecting a session's messages through MIT
//! (`gss_wrap`/`gss_unwrap`) or the Rust fast path.

use std::fmt;
use std::time::{Duration, Instant};

use super::ffi::{SecContext, KRB5_MECH};
use super::flags::{flag_names, CtxFlags, REQUIRED_FLAGS};
use super::{fast, gss, Principal};
use crate::fastpath::{Enctype, FastContext};
use crate::protection::Protection;
use crate::{Error, Result};

/// Whether a handshake asked for the fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FastPathWish {
    Wanted,
    Off,
}

/// Which implementation protects a session's messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtectionPath {
    /// MIT krb5's `gss_wrap`/`gss_unwrap`: fast path off, an RFC 1964 context, an enctype
    /// the fast path does not implement, or a failed lucid export.
    Mit,
    /// RFC 4121 in Rust with the keys MIT negotiated ([`crate::fastpath`]).
    Fast(Enctype),
}

impl fmt::Display for ProtectionPath {
    /// `mit` or `fast:<enctype name>`, the form daemons log as `protection`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtectionPath::Mit => f.write_str("mit"),
            ProtectionPath::Fast(enctype) => write!(f, "fast:{}", enctype.name()),
        }
    }
}

enum Engine {
    Mit(SecContext),
    Fast(Box<FastContext>),
}

/// A complete, checked Kerberos context: the protection of one authenticated session.
pub struct Established {
    engine: Engine,
    peer: Principal,
    expires_at: Instant,
}

impl Established {
    /// Checks a complete context (mechanism, flags, peer name, lifetime) and, if `wish`
    /// says so and the context allows it, moves it to the fast path.
    pub(super) fn new(ctx: SecContext, wish: FastPathWish) -> Result<Self> {
        let info = ctx.inquire().map_err(gss("inquire context"))?;
        if !info.open {
            return Err(Error::Gss {
                operation: "establish",
                message: "handshake incomplete".into(),
            });
        }
        if info.mechanism != KRB5_MECH {
            return Err(Error::WrongMechanism);
        }
        let missing = REQUIRED_FLAGS.difference(CtxFlags::from_bits_retain(info.flags));
        if !missing.is_empty() {
            return Err(Error::MissingProtection {
                missing: flag_names(missing),
            });
        }
        let peer_name = if info.local {
            &info.target
        } else {
            &info.source
        };
        let peer = Principal::from_name(peer_name)?;
        let expires_at = Instant::now() + Duration::from_secs(u64::from(info.lifetime_secs));
        let engine = match wish {
            FastPathWish::Wanted => match fast::take_over(ctx) {
                Ok(fast) => Engine::Fast(Box::new(fast)),
                Err((ctx, _why)) => Engine::Mit(ctx),
            },
            FastPathWish::Off => Engine::Mit(ctx),
        };
        Ok(Established {
            engine,
            peer,
            expires_at,
        })
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &Principal {
        &self.peer
    }

    /// Which implementation protects this session's messages (daemons log it).
    pub fn path(&self) -> ProtectionPath {
        match &self.engine {
            Engine::Mit(_) => ProtectionPath::Mit,
            Engine::Fast(fast) => ProtectionPath::Fast(fast.enctype()),
        }
    }

    /// Time left before the context ends. On the accepting side MIT krb5 reports the ticket's
    /// end *plus* the realm's `clockskew` (300 s by default), since it would accept the ticket
    /// that long; sessions therefore end up to one clock skew after the ticket.
    pub fn remaining(&self) -> Duration {
        self.expires_at.saturating_duration_since(Instant::now())
    }

    fn check_expiry(&self) -> Result<()> {
        if Instant::now() >= self.expires_at {
            return Err(Error::ContextExpired);
        }
        Ok(())
    }
}

impl Protection for Established {
    fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.check_expiry()?;
        match &mut self.engine {
            Engine::Mit(ctx) => {
                let (token, encrypted) = ctx.wrap(plaintext).map_err(gss("wrap"))?;
                if !encrypted {
                    return Err(Error::NotSealed);
                }
                Ok(token)
            }
            Engine::Fast(fast) => fast.seal(plaintext),
        }
    }

    /// Unwraps with sequence and replay checks, after refusing any token that is not
    /// encrypted (`require_sealed`).
    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
        self.check_expiry()?;
        require_sealed(sealed)?;
        match &mut self.engine {
            Engine::Mit(ctx) => {
                let (plain, encrypted) = ctx.unwrap(sealed).map_err(gss("unwrap"))?;
                if !encrypted {
                    return Err(Error::NotSealed);
                }
                Ok(plain)
            }
            Engine::Fast(fast) => fast.open(sealed),
        }
    }
}

impl fmt::Debug for Established {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Established")
            .field("peer", &self.peer)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

/// RFC 4121 §4.2.6.2: a Wrap token starts with TOK_ID `05 04`, then a flags byte whose bit
/// 0x02 ("Sealed") says the payload is encrypted.
const WRAP_TOKEN_ID: [u8; 2] = [0x05, 0x04];
const FLAG_SEALED: u8 = 0x02;
/// TOK_ID, flags, filler, EC, RRC and SND_SEQ: the fixed header of a Wrap token.
const WRAP_HEADER_LEN: usize = 16;

/// Refuses a protected block that is not an encrypted RFC 4121 Wrap token.
///
/// MIT's `gss_unwrap` accepts integrity-only tokens, so CONF on the context alone would not
/// stop a peer from sending unencrypted data. The header is checked before unwrapping (and
/// the MIT path checks `conf_state` after); unwrap then authenticates it (the header is
/// covered by the token's checksum), so a forged flag cannot pass. Legacy RFC 1964 tokens
/// (DES, RC4 enctypes) are refused too: only AES-class enctypes are allowed.
fn require_sealed(token: &[u8]) -> Result<()> {
    match token {
        [t0, t1, flags, ..]
            if [*t0, *t1] == WRAP_TOKEN_ID
                && flags & FLAG_SEALED != 0
                && token.len() >= WRAP_HEADER_LEN =>
        {
            Ok(())
        }
        _ => Err(Error::NotSealed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_encrypted_wrap_tokens_pass_the_header_check() {
        let mut token = [0u8; 32];
        token[..3].copy_from_slice(&[0x05, 0x04, 0x02]);
        assert!(require_sealed(&token).is_ok());
        token[2] = 0x01; // sent by acceptor, not sealed
        assert!(matches!(require_sealed(&token), Err(Error::NotSealed)));
        token[..3].copy_from_slice(&[0x02, 0x01, 0x02]); // RFC 1964 token
        assert!(matches!(require_sealed(&token), Err(Error::NotSealed)));
        assert!(matches!(
            require_sealed(&[0x05, 0x04, 0x02]),
            Err(Error::NotSealed)
        ));
    }
}
