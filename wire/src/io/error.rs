//! [`IoError`]: why a connection (rather than a message) failed.
//!
//! `burnstand-wire` has two error types, one per concern:
//!
//! * [`crate::Error`] — what was wrong with bytes or a security context: a truncated
//!   TQDataStream value, bad base64, a GSSAPI unwrap that fails. The sans-I/O core (codec,
//!   framing, GSS state machines) returns only this, and builds without tokio; a caller of a
//!   decoder never has to match "connection closed" or "timed out", which cannot happen there.
//! * [`IoError`] — what can only happen on a live connection: the peer closed it, the socket
//!   failed, a write or the handshake ran out of time, plus [`IoError::Codec`] for a codec
//!   failure met on the way. Everything in [`crate::io`] returns this.
//!
//! Callers that treat both alike convert with `From` (`?`); those that care about one
//! condition match it precisely, e.g. `IoError::Closed` for an orderly end of stream or
//! `IoError::Codec(Error::UnsupportedVersion { .. })` for a peer too old.

use std::time::Duration;

/// Why reading, writing or authenticating a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// The peer's bytes or the security context failed (framing, decoding, GSSAPI). The
    /// message is the codec's own.
    #[error(transparent)]
    Codec(#[from] crate::Error),

    /// The peer closed the connection between blocks.
    #[error("connection closed by peer")]
    Closed,

    /// Reading or writing the socket failed.
    #[error("connection I/O failed: {0}")]
    Io(#[from] std::io::Error),

    /// The peer did not take a block within [`crate::limits::SEND_TIMEOUT`]: it stopped
    /// reading.
    #[error("the peer stopped reading: a block could not be sent within {0:?}")]
    SendTimeout(Duration),

    /// The handshake did not complete in time.
    #[error("authentication did not complete within {0:?}")]
    HandshakeTimeout(Duration),

    /// The peer closed the connection before the handshake completed.
    #[error("peer closed the connection during authentication (it refused our credentials or is not a burnstand service)")]
    HandshakeClosed,

    /// The other half of a split session panicked while it held the session's security
    /// context (inside one seal or open): the context's sequence state is unknown.
    #[error("the session's security context was poisoned by a panic in its other half")]
    Poisoned,
}

impl IoError {
    /// The codec error inside, if this is one.
    pub fn codec(&self) -> Option<&crate::Error> {
        match self {
            IoError::Codec(e) => Some(e),
            _ => None,
        }
    }
}
