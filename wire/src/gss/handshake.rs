//! The handshake state machines: [`Initiator`] and [`Acceptor`] exchange tokens until the
//! context is complete, then [`Established::new`] checks it.

use std::sync::atomic::{AtomicBool, Ordering};

use super::established::{Established, FastPathWish};
use super::ffi::{Cred, Name, SecContext};
use super::{gss, principal_name, CtxFlags, REQUIRED_FLAGS};
use crate::limits::{MAX_HANDSHAKE_ROUNDS, MAX_HANDSHAKE_TOKEN_LEN};
use crate::{Error, Result};

/// Whether new handshakes use the fast path unless told otherwise (see
/// [`set_fast_path_default`]).
static FAST_PATH_DEFAULT: AtomicBool = AtomicBool::new(true);

/// Sets whether handshakes started from now on move to the Rust fast path when they can
/// (default: yes). Daemons call it at start-up with their `fast_path` setting and the result
/// of [`crate::fastpath::self_test`]; [`Acceptor::fast_path`] and [`Initiator::fast_path`]
/// override it for one handshake.
pub fn set_fast_path_default(enabled: bool) {
    FAST_PATH_DEFAULT.store(enabled, Ordering::Relaxed);
}

/// The current process-wide default of [`set_fast_path_default`].
pub fn fast_path_default() -> bool {
    FAST_PATH_DEFAULT.load(Ordering::Relaxed)
}

/// Counts rounds and bounds token sizes for either side of a handshake.
#[derive(Debug, Default)]
struct RoundCounter {
    rounds: usize,
}

impl RoundCounter {
    fn next(&mut self, token: Option<&[u8]>) -> Result<()> {
        self.rounds += 1;
        if self.rounds > MAX_HANDSHAKE_ROUNDS {
            return Err(Error::HandshakeRounds {
                limit: MAX_HANDSHAKE_ROUNDS,
            });
        }
        if let Some(token) = token {
            if token.is_empty() {
                return Err(Error::EmptyToken);
            }
            if token.len() > MAX_HANDSHAKE_TOKEN_LEN {
                return Err(Error::TooLarge {
                    what: "handshake token",
                    len: token.len() as u64,
                    limit: MAX_HANDSHAKE_TOKEN_LEN as u64,
                });
            }
        }
        Ok(())
    }
}

/// The state a handshake side keeps between steps.
struct Progress {
    ctx: SecContext,
    counter: RoundCounter,
    complete: bool,
    failed: bool,
    fast_path: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            ctx: SecContext::new(),
            counter: RoundCounter::default(),
            complete: false,
            failed: false,
            fast_path: fast_path_default(),
        }
    }

    /// Runs one GSSAPI step unless the handshake already ended; a failed handshake stays
    /// failed (GSSAPI must not be called again on its context).
    fn step(
        &mut self,
        operation: &'static str,
        call: impl FnOnce(&mut SecContext) -> std::result::Result<super::ffi::Step, super::ffi::Status>,
    ) -> Result<Option<Vec<u8>>> {
        if self.failed {
            return Err(Error::Gss {
                operation,
                message: "the handshake already failed".into(),
            });
        }
        if self.complete {
            return Ok(None);
        }
        match call(&mut self.ctx) {
            Ok(step) => {
                self.complete = step.complete;
                Ok((!step.token.is_empty()).then_some(step.token))
            }
            Err(status) => {
                self.failed = true;
                Err(gss(operation)(status))
            }
        }
    }

    fn establish(self) -> Result<Established> {
        if !self.complete {
            return Err(Error::Gss {
                operation: "establish",
                message: "handshake incomplete".into(),
            });
        }
        let wish = if self.fast_path {
            FastPathWish::Wanted
        } else {
            FastPathWish::Off
        };
        Established::new(self.ctx, wish)
    }
}

/// The client side of a handshake (a user's container or module, or the master towards a
/// station).
pub struct Initiator {
    progress: Progress,
    cred: Cred,
    target: Name,
    flags: CtxFlags,
}

impl Initiator {
    /// Prepares a handshake towards the service `target` (a principal name) with `cred`
    /// (see [`super::initiator_credentials`]), requesting [`REQUIRED_FLAGS`] with Kerberos 5.
    pub fn new(cred: Cred, target: &str) -> Result<Self> {
        Self::with_flags(cred, target, REQUIRED_FLAGS)
    }

    /// **For tests of an acceptor's flag check only**: a handshake that requests `flags`
    /// instead of [`REQUIRED_FLAGS`], as a hostile or careless client would. [`Initiator::new`]
    /// is the only constructor a client uses.
    pub fn test_only_with_flags(cred: Cred, target: &str, flags: CtxFlags) -> Result<Self> {
        Self::with_flags(cred, target, flags)
    }

    fn with_flags(cred: Cred, target: &str, flags: CtxFlags) -> Result<Self> {
        Ok(Initiator {
            progress: Progress::new(),
            cred,
            target: principal_name(target)?,
            flags,
        })
    }

    /// Whether this handshake moves to the Rust fast path after the checks, when the
    /// context allows it (default: [`fast_path_default`]).
    pub fn fast_path(mut self, enabled: bool) -> Self {
        self.progress.fast_path = enabled;
        self
    }

    /// Feeds the acceptor's last token (`None` for the first step) and returns the token to
    /// send, if any. The first step blocks while krb5 asks the KDC for a service ticket.
    pub fn step(&mut self, input: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        self.progress.counter.next(input)?;
        let (cred, target, flags) = (&self.cred, &self.target, self.flags.bits());
        self.progress.step("initiate security context", |ctx| {
            ctx.initiate(cred, target, flags, input)
        })
    }

    /// Whether the context is complete on this side.
    pub fn is_complete(&self) -> bool {
        self.progress.complete
    }

    /// Checks the completed context and turns it into a session's protection.
    pub fn establish(self) -> Result<Established> {
        self.progress.establish()
    }
}

/// The server side of a handshake (the master towards users, a station towards the master).
pub struct Acceptor {
    progress: Progress,
    cred: Cred,
}

impl Acceptor {
    /// Prepares to accept a handshake with `cred` (see [`super::acceptor_credentials`]).
    pub fn new(cred: Cred) -> Self {
        Acceptor {
            progress: Progress::new(),
            cred,
        }
    }

    /// Whether this handshake moves to the Rust fast path after the checks, when the
    /// context allows it (default: [`fast_path_default`]).
    pub fn fast_path(mut self, enabled: bool) -> Self {
        self.progress.fast_path = enabled;
        self
    }

    /// Feeds the initiator's token and returns the token to send back, if any.
    pub fn step(&mut self, input: &[u8]) -> Result<Option<Vec<u8>>> {
        self.progress.counter.next(Some(input))?;
        let cred = &self.cred;
        self.progress
            .step("accept security context", |ctx| ctx.accept(cred, input))
    }

    /// Whether the context is complete on this side.
    pub fn is_complete(&self) -> bool {
        self.progress.complete
    }

    /// Checks the completed context and turns it into a session's protection.
    pub fn establish(self) -> Result<Established> {
        self.progress.establish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_bounded() {
        let mut counter = RoundCounter::default();
        for _ in 0..MAX_HANDSHAKE_ROUNDS {
            assert!(counter.next(Some(b"t")).is_ok());
        }
        assert!(matches!(
            counter.next(Some(b"t")),
            Err(Error::HandshakeRounds { .. })
        ));
    }

    #[test]
    fn empty_and_oversized_tokens_are_refused() {
        let mut counter = RoundCounter::default();
        assert!(matches!(counter.next(Some(b"")), Err(Error::EmptyToken)));
        let big = vec![0u8; MAX_HANDSHAKE_TOKEN_LEN + 1];
        assert!(matches!(
            counter.next(Some(&big)),
            Err(Error::TooLarge { .. })
        ));
    }
}
