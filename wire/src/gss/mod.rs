//! The Kerberos 5 security layer over GSSAPI (MIT krb5).
//!
//! [`Initiator`] and [`Acceptor`] are handshake state machines: they take the peer's token and
//! return the token to send, counting rounds and bounding token sizes, but never touch a socket
//! (the async edge in [`crate::io`] moves the tokens). Completing a handshake yields an
//! [`Established`] context, and only after checking what the remote-laboratory design leaves implicit: the
//! mechanism is Kerberos 5 (never SPNEGO) and every protection this protocol relies on —
//! mutual authentication, confidentiality, integrity, replay and sequence detection — is in
//! force. An [`Established`] context is the production [`Protection`](crate::protection::Protection).
//!
//! # Two protection paths
//!
//! After those checks an [`Established`] context either keeps MIT's `gss_wrap`/`gss_unwrap`
//! ([`ProtectionPath::Mit`]) or, for RFC 4121 contexts with an AES enctype (17–20), exports
//! MIT's keys and sequence numbers as a lucid context, deletes MIT's context and protects
//! messages in Rust ([`ProtectionPath::Fast`], [`crate::fastpath`]): the same tokens, several
//! times faster than Debian's MIT crypto. The choice is per handshake
//! ([`Acceptor::fast_path`], [`Initiator::fast_path`]) with a process-wide default
//! ([`set_fast_path_default`]).
//!
//! MIT krb5 does not check a context's expiry on wrap/unwrap, so [`Established`] does: once the
//! ticket behind the context ends, sealing and opening fail with [`Error::ContextExpired`].
//!
//! HTTP `Negotiate` logins to the master's status page are the one place SPNEGO is accepted
//! ([`accept_http`]): a browser's token, one round trip, Kerberos 5 underneath, and no message
//! protection afterwards (TLS carries the page), so none of the session flags are required.
//!
//! Which keytab and ccache GSSAPI uses is selected by the process environment (KRB5_KTNAME,
//! KRB5_CLIENT_KTNAME, KRB5CCNAME): daemons set it from their configuration at start-up.
//!
//! Raw GSSAPI handles live only in `gss::ffi`, the workspace's one module allowed `unsafe`.

use std::fmt;

use crate::{Error, Result};

pub mod ccache;
mod established;
mod fast;
mod ffi;
mod flags;
mod handshake;
mod http;
#[cfg(feature = "mit-differential")]
#[doc(hidden)]
pub mod test_only;

pub use established::{Established, ProtectionPath};
pub use ffi::Cred;
pub use flags::{CtxFlags, REQUIRED_FLAGS};
pub use handshake::{fast_path_default, set_fast_path_default, Acceptor, Initiator};
pub use http::{accept_http, http_acceptor_credentials, HttpLogin};
#[cfg(feature = "test-util")]
pub use http::{spnego_password_credentials, spnego_token};

/// The crate error for a failed GSSAPI call, with the library's text of the status.
fn gss(operation: &'static str) -> impl FnOnce(ffi::Status) -> Error {
    move |status| Error::Gss {
        operation,
        message: status.message().trim_end().to_owned(),
    }
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
/// may be left out to mean the default realm) into a Kerberos 5 mechanism name.
fn principal_name(principal: &str) -> Result<ffi::Name> {
    ffi::Name::principal(principal)
        .and_then(|name| name.canonicalize())
        .map_err(gss("import principal name"))
}

/// Credentials to accept connections as `principal`, from the keytab in KRB5_KTNAME.
///
/// Naming the principal (instead of accepting any key in the keytab) means a ticket for
/// another service is refused even when its key happens to be in the same keytab.
pub fn acceptor_credentials(principal: &str) -> Result<Cred> {
    let name = principal_name(principal)?;
    Cred::acquire(Some(&name), ffi::Usage::Accept)
        .map_err(gss("acquire acceptor credentials (check the keytab)"))
}

/// Credentials to initiate as `principal`, or as the default principal of the ccache when
/// `None` (a user after kinit). Daemons get theirs from the keytab in KRB5_CLIENT_KTNAME.
pub fn initiator_credentials(principal: Option<&str>) -> Result<Cred> {
    let name = principal.map(principal_name).transpose()?;
    Cred::acquire(name.as_ref(), ffi::Usage::Initiate).map_err(gss("acquire initiator credentials"))
}

/// Credentials for `principal` obtained from the KDC with a password, held in memory only.
///
/// For tests and tools that act as several users in one process (each cred is independent of
/// KRB5CCNAME); people use `kinit` and [`initiator_credentials`].
pub fn password_credentials(principal: &str, password: &str) -> Result<Cred> {
    let name = principal_name(principal)?;
    Cred::with_password(&name, password).map_err(gss("acquire credentials with a password"))
}

impl Cred {
    /// The principal these credentials act as, `name@REALM`.
    pub fn name(&self) -> Result<String> {
        let (name, _) = self.inquire().map_err(gss("inquire credentials"))?;
        name.display().map_err(gss("display name"))
    }

    /// How long the credentials (the ticket behind them) stay valid; zero once they ended.
    pub fn lifetime(&self) -> Result<std::time::Duration> {
        let (_, seconds) = self.inquire().map_err(gss("inquire credentials"))?;
        Ok(std::time::Duration::from_secs(u64::from(seconds)))
    }
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

    fn from_name(name: &ffi::Name) -> Result<Self> {
        let canonical = name.canonicalize().map_err(gss("canonicalize name"))?;
        let exported = canonical.export().map_err(gss("export name"))?;
        let display = canonical.display().map_err(gss("display name"))?;
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
