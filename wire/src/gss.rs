//! The Kerberos 5 security layer over GSSAPI (libgssapi, MIT krb5).
//!
//! [`Initiator`] and [`Acceptor`] are handshake state machines: they take the peer's token and
//! return the token to send, counting rounds and bounding token sizes, but never touch a socket
//! (the async edge in [`crate::io`] moves the tokens). Completing a handshake yields an
//! [`Established`] context, and only after checking what the remote-laboratory design leaves implicit: the
//! mechanism is Kerberos 5 (never SPNEGO) and every protection this protocol relies on —
//! mutual authentication, confidentiality, integrity, replay and sequence detection — is in
//! force. An [`Established`] context is the production [`Protection`].
//!
//! MIT krb5 does not check a context's expiry on wrap/unwrap, so [`Established`] does: once the
//! ticket behind the context ends, sealing and opening fail with [`Error::ContextExpired`].
//!
//! Which keytab and ccache GSSAPI uses is selected by the process environment (KRB5_KTNAME,
//! KRB5_CLIENT_KTNAME, KRB5CCNAME): daemons set it from their configuration at start-up.

use std::fmt;
use std::time::{Duration, Instant};

use libgssapi::context::{ClientCtx, SecurityContext, ServerCtx};
use libgssapi::credential::CredUsage;

/// GSSAPI credentials, re-exported so users of this crate need no direct libgssapi dependency.
pub use libgssapi::context::CtxFlags;
pub use libgssapi::credential::Cred;
use libgssapi::name::Name;
use libgssapi::oid::{OidSet, GSS_MECH_KRB5, GSS_NT_KRB5_PRINCIPAL};

use crate::limits::{MAX_HANDSHAKE_ROUNDS, MAX_HANDSHAKE_TOKEN_LEN};
use crate::protection::Protection;
use crate::{Error, Result};

/// The context flags both sides require: without any one of them a session is refused.
pub const REQUIRED_FLAGS: CtxFlags = CtxFlags::GSS_C_MUTUAL_FLAG
    .union(CtxFlags::GSS_C_CONF_FLAG)
    .union(CtxFlags::GSS_C_INTEG_FLAG)
    .union(CtxFlags::GSS_C_REPLAY_FLAG)
    .union(CtxFlags::GSS_C_SEQUENCE_FLAG);

fn gss(operation: &'static str) -> impl FnOnce(libgssapi::error::Error) -> Error {
    move |e| Error::Gss {
        operation,
        message: e.to_string().trim_end().to_owned(),
    }
}

fn krb5_only() -> Result<OidSet> {
    let mut mechs = OidSet::new();
    mechs
        .add(GSS_MECH_KRB5)
        .map_err(gss("create mechanism set"))?;
    Ok(mechs)
}

/// Points this process's GSSAPI at a daemon's own keytab, for accepting (KRB5_KTNAME) and for
/// initiating (KRB5_CLIENT_KTNAME), and gives it a private in-memory credential cache.
///
/// Without the private cache, the TGT krb5 obtains from the client keytab would be written to
/// whatever KRB5CCNAME the daemon inherited — possibly a user's cache, which would then hold
/// the daemon's identity. Environment variables are process-wide and not thread-safe to
/// change: call this in `main` before the async runtime or any other thread exists.
pub fn use_service_keytab(keytab: &std::path::Path) {
    let mut name = std::ffi::OsString::from("FILE:");
    name.push(keytab);
    std::env::set_var("KRB5_KTNAME", &name);
    std::env::set_var("KRB5_CLIENT_KTNAME", &name);
    std::env::set_var(
        "KRB5CCNAME",
        format!("MEMORY:burnstand-{}", std::process::id()),
    );
}

/// Parses a Kerberos principal name such as `burnstand/localhost@BURNSTAND.TEST` (the realm
/// may be left out to mean the default realm).
pub fn principal_name(principal: &str) -> Result<Name> {
    Name::new(principal.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
        .and_then(|name| name.canonicalize(Some(GSS_MECH_KRB5)))
        .map_err(gss("import principal name"))
}

/// Credentials to accept connections as `principal`, from the keytab in KRB5_KTNAME.
///
/// Naming the principal (instead of accepting any key in the keytab) means a ticket for
/// another service is refused even when its key happens to be in the same keytab.
pub fn acceptor_credentials(principal: &str) -> Result<Cred> {
    let name = principal_name(principal)?;
    Cred::acquire(Some(&name), None, CredUsage::Accept, Some(&krb5_only()?))
        .map_err(gss("acquire acceptor credentials (check the keytab)"))
}

/// Credentials to initiate as `principal`, or as the default principal of the ccache when
/// `None` (a user after kinit). Daemons get theirs from the keytab in KRB5_CLIENT_KTNAME.
pub fn initiator_credentials(principal: Option<&str>) -> Result<Cred> {
    let name = principal.map(principal_name).transpose()?;
    Cred::acquire(
        name.as_ref(),
        None,
        CredUsage::Initiate,
        Some(&krb5_only()?),
    )
    .map_err(gss("acquire initiator credentials"))
}

/// Credentials for `principal` obtained from the KDC with a password, held in memory only.
///
/// For tests and tools that act as several users in one process (each cred is independent of
/// KRB5CCNAME); people use `kinit` and [`initiator_credentials`].
pub fn password_credentials(principal: &str, password: &str) -> Result<Cred> {
    let name = principal_name(principal)?;
    Cred::acquire_with_password(
        Some(&name),
        password,
        None,
        CredUsage::Initiate,
        Some(&krb5_only()?),
    )
    .map_err(gss("acquire credentials with a password"))
}

/// A peer's Kerberos identity. Equality is on the exported (canonical, mechanism-specific)
/// name, never on the display string.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    exported: Vec<u8>,
    display: String,
}

impl Principal {
    /// The principal a configured name such as `alice@BURNSTAND.TEST` stands for, in the same
    /// canonical form an authenticated peer has, so configuration and peers compare by
    /// exported name. Parsing needs no KDC.
    pub fn parse(principal: &str) -> Result<Self> {
        Principal::from_name(&principal_name(principal)?)
    }

    fn from_name(name: &Name) -> Result<Self> {
        let canonical = name
            .canonicalize(Some(GSS_MECH_KRB5))
            .map_err(gss("canonicalize name"))?;
        let exported = canonical.export().map_err(gss("export name"))?.to_vec();
        let display = canonical.display_name().map_err(gss("display name"))?;
        let display = String::from_utf8_lossy(&display).into_owned();
        Ok(Principal { exported, display })
    }

    /// The exported name token (RFC 2743 §3.2): the form to compare and store.
    pub fn exported(&self) -> &[u8] {
        &self.exported
    }

    /// `name@REALM`, for people and logs.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The realm part of the display name, if any.
    pub fn realm(&self) -> Option<&str> {
        self.display.rsplit_once('@').map(|(_, realm)| realm)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal({})", self.display)
    }
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

/// The client side of a handshake (a user's container or module, or the master towards a
/// station).
pub struct Initiator {
    ctx: ClientCtx,
    counter: RoundCounter,
}

impl Initiator {
    /// Prepares a handshake towards the service `target` (a principal name) with `cred`
    /// (see [`initiator_credentials`]), requesting [`REQUIRED_FLAGS`] with Kerberos 5.
    pub fn new(cred: Cred, target: &str) -> Result<Self> {
        let target = principal_name(target)?;
        let ctx = ClientCtx::new(Some(cred), target, REQUIRED_FLAGS, Some(GSS_MECH_KRB5));
        Ok(Initiator {
            ctx,
            counter: RoundCounter::default(),
        })
    }

    /// **For tests of an acceptor's flag check only**: a handshake that requests `flags`
    /// instead of [`REQUIRED_FLAGS`], as a hostile or careless client would. [`Initiator::new`]
    /// is the only constructor a client uses.
    pub fn test_only_with_flags(cred: Cred, target: &str, flags: CtxFlags) -> Result<Self> {
        let target = principal_name(target)?;
        let ctx = ClientCtx::new(Some(cred), target, flags, Some(GSS_MECH_KRB5));
        Ok(Initiator {
            ctx,
            counter: RoundCounter::default(),
        })
    }

    /// Feeds the acceptor's last token (`None` for the first step) and returns the token to
    /// send, if any. The first step blocks while krb5 asks the KDC for a service ticket.
    pub fn step(&mut self, input: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        self.counter.next(input)?;
        let out = self
            .ctx
            .step(input, None)
            .map_err(gss("initiate security context"))?;
        Ok(out.map(|buf| buf.to_vec()))
    }

    /// Whether the context is complete on this side.
    pub fn is_complete(&self) -> bool {
        self.ctx.is_complete()
    }

    /// Checks the completed context and turns it into a session's protection.
    pub fn establish(self) -> Result<Established> {
        Established::new(Context::Initiator(self.ctx))
    }
}

/// The server side of a handshake (the master towards users, a station towards the master).
pub struct Acceptor {
    ctx: ServerCtx,
    counter: RoundCounter,
}

impl Acceptor {
    /// Prepares to accept a handshake with `cred` (see [`acceptor_credentials`]).
    pub fn new(cred: Cred) -> Self {
        Acceptor {
            ctx: ServerCtx::new(Some(cred)),
            counter: RoundCounter::default(),
        }
    }

    /// Feeds the initiator's token and returns the token to send back, if any.
    pub fn step(&mut self, input: &[u8]) -> Result<Option<Vec<u8>>> {
        self.counter.next(Some(input))?;
        let out = self
            .ctx
            .step(input, None)
            .map_err(gss("accept security context"))?;
        Ok(out.map(|buf| buf.to_vec()))
    }

    /// Whether the context is complete on this side.
    pub fn is_complete(&self) -> bool {
        self.ctx.is_complete()
    }

    /// Checks the completed context and turns it into a session's protection.
    pub fn establish(self) -> Result<Established> {
        Established::new(Context::Acceptor(self.ctx))
    }
}

enum Context {
    Initiator(ClientCtx),
    Acceptor(ServerCtx),
}

impl Context {
    fn get(&mut self) -> &mut dyn SecurityContext {
        match self {
            Context::Initiator(ctx) => ctx,
            Context::Acceptor(ctx) => ctx,
        }
    }
}

/// A complete, checked Kerberos context: the protection of one authenticated session.
pub struct Established {
    ctx: Context,
    peer: Principal,
    expires_at: Instant,
}

impl Established {
    fn new(mut ctx: Context) -> Result<Self> {
        let sc = ctx.get();
        if !sc.is_complete() {
            return Err(Error::Gss {
                operation: "establish",
                message: "handshake incomplete".into(),
            });
        }
        let info = sc.info().map_err(gss("inquire context"))?;
        if info.mechanism != GSS_MECH_KRB5 {
            return Err(Error::WrongMechanism);
        }
        let missing = REQUIRED_FLAGS.difference(info.flags);
        if !missing.is_empty() {
            return Err(Error::MissingProtection {
                missing: flag_names(missing),
            });
        }
        let peer_name = if info.local {
            &info.target_name
        } else {
            &info.source_name
        };
        let peer = Principal::from_name(peer_name)?;
        let expires_at = Instant::now() + info.lifetime;
        Ok(Established {
            ctx,
            peer,
            expires_at,
        })
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &Principal {
        &self.peer
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
        let sealed = self.ctx.get().wrap(true, plaintext).map_err(gss("wrap"))?;
        Ok(sealed.to_vec())
    }

    /// Unwraps with sequence and replay checks, after refusing any token that is not
    /// encrypted (see [`require_sealed`]).
    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
        self.check_expiry()?;
        require_sealed(sealed)?;
        let plain = self.ctx.get().unwrap(sealed).map_err(gss("unwrap"))?;
        Ok(plain.to_vec())
    }
}

impl fmt::Debug for Established {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Established")
            .field("peer", &self.peer)
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
/// MIT's `gss_unwrap` accepts integrity-only tokens and libgssapi does not report
/// `conf_state`, so CONF on the context alone would not stop a peer from sending
/// unencrypted data. The header is checked before unwrapping; unwrap then authenticates it
/// (the header is covered by the token's checksum), so a forged flag cannot pass. Legacy
/// RFC 1964 tokens (DES, RC4 enctypes) are refused too: only AES-class enctypes are allowed.
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

fn flag_names(flags: CtxFlags) -> String {
    let names = [
        (CtxFlags::GSS_C_MUTUAL_FLAG, "mutual"),
        (CtxFlags::GSS_C_CONF_FLAG, "confidentiality"),
        (CtxFlags::GSS_C_INTEG_FLAG, "integrity"),
        (CtxFlags::GSS_C_REPLAY_FLAG, "replay detection"),
        (CtxFlags::GSS_C_SEQUENCE_FLAG, "sequence detection"),
    ];
    names
        .iter()
        .filter(|(flag, _)| flags.contains(*flag))
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the keytab at `keytab` must not be used by a daemon: it is not a regular file, or
/// group or others may read or write it (mode & 0o077 is not 0) — whoever reads it can act as
/// `principal`. `None` when it is private. Master and station check it in `--check-config`
/// and at start-up.
pub fn keytab_problem(keytab: &std::path::Path, principal: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(keytab) {
        Ok(meta) => meta,
        Err(e) => return Some(format!("cannot read keytab {}: {e}", keytab.display())),
    };
    if !meta.is_file() {
        return Some(format!("keytab {} is not a regular file", keytab.display()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Some(format!(
            "keytab {path} can be read or written by group or others (mode {mode:04o}): anyone \
             who can read it can act as {principal}; run `chmod 600 {path}` and make the \
             daemon's user its owner",
            path = keytab.display()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_flags_are_the_five_protections() {
        assert_eq!(
            flag_names(REQUIRED_FLAGS),
            "mutual, confidentiality, integrity, replay detection, sequence detection"
        );
    }

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
