//! The codec error type of `burnstand-wire`.
//!
//! Every variant names what was wrong with the peer's bytes or the security context precisely
//! enough for a log line or a user message, and never carries payload, tokens or keys.
//!
//! This is everything the sans-I/O core (TQDataStream, block framing, commands, the GSSAPI
//! state machines and protection) can fail with. What only a live connection can meet — end
//! of stream, a socket error, a send or handshake timeout — is [`crate::io::IoError`], which
//! wraps this type; see [`crate::io::error`] for why the two are kept apart.

/// Why a decode, a frame, a handshake or a protected exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- TQDataStream -------------------------------------------------------------------------
    /// The value needs more bytes than remain in the message.
    #[error("message truncated: needed {need} more bytes, {have} left")]
    Truncated { need: usize, have: usize },

    /// Bytes were left over after the value that should have filled the whole message.
    #[error("{extra} bytes of trailing data after the message")]
    TrailingData { extra: usize },

    /// A TQString byte count that is not a whole number of UTF-16 code units.
    #[error("TQString byte count {len} is odd")]
    OddStringLength { len: u32 },

    /// A TQString whose UTF-16 is not valid (an unpaired surrogate).
    #[error("TQString is not valid UTF-16")]
    BadUtf16,

    /// A null TQString (0xFFFFFFFF) or null TQCString where the protocol needs a value.
    #[error("null string where a value is required")]
    NullString,

    /// A TQCString whose last byte is not the terminating NUL, or that has a NUL inside.
    #[error("TQCString is not NUL-terminated exactly once")]
    BadCString,

    /// A length or element count larger than this protocol ever allows.
    #[error("{what} of {len} exceeds the limit of {limit}")]
    TooLarge {
        what: &'static str,
        len: u64,
        limit: u64,
    },

    /// A field holds a value the protocol does not define (an unknown tag or enum value).
    #[error("invalid {what}: {value}")]
    InvalidValue { what: &'static str, value: u64 },

    /// A word-coded field (an enum carried as a TQString) holds a word the protocol does not
    /// define. Only its length is kept: the error never carries peer text.
    #[error("unknown {what} word ({len} characters)")]
    UnknownWord { what: &'static str, len: usize },

    /// A version text that is not `MAJOR.MINOR.PATCH` (the nucleus's HELLO and ERRVERSION).
    /// Only its length is kept: the error never carries peer text.
    #[error("{what} is not a version like \"1.2.3\" ({len} characters)")]
    BadVersion { what: &'static str, len: usize },

    // --- block framing ------------------------------------------------------------------------
    /// A line grew past the bound before its newline arrived.
    #[error("block line longer than {limit} bytes")]
    LineTooLong { limit: usize },

    /// A line that is not standard padded base64 (a CR is tolerated only right before the LF).
    #[error("block is not valid base64")]
    BadBase64,

    /// The stream ended in the middle of a block.
    #[error("connection ended inside a block ({buffered} bytes buffered)")]
    UnterminatedBlock { buffered: usize },

    // --- commands -----------------------------------------------------------------------------
    /// A command word the master does not know (answered with ERRINVCMD).
    #[error("unknown command")]
    UnknownCommand,

    /// A reply word that is none of the defined replies.
    #[error("unknown reply")]
    UnknownReply,

    // --- burner protocol ----------------------------------------------------------------------
    /// A burner request tag word the station does not know (a module newer than the station,
    /// or garbage). Kept apart from [`Error::UnknownCommand`] so that a log line says which
    /// protocol the word was refused by.
    #[error("unknown burner request")]
    UnknownRequest,

    /// A burner event tag word the module does not know. A module skips these: a newer
    /// station may push optional events without bumping the protocol version.
    #[error("unknown burner event")]
    UnknownEvent,

    /// A RECEIPT whose audit line is empty: the station never logs an empty record, so this is
    /// a broken or forged receipt, not an oversized one.
    #[error("empty receipt line")]
    EmptyReceipt,

    // --- greeting -----------------------------------------------------------------------------
    /// The greeting did not carry burnstand's magic number.
    #[error("bad magic number {found:#010x}: the peer is not a burnstand server")]
    BadMagic { found: u32 },

    /// The peer speaks a protocol version this build does not.
    #[error("protocol version {found} is not supported (this build speaks {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },

    // --- security layer -----------------------------------------------------------------------
    /// A GSSAPI call failed; `message` is the library's display text of the status codes.
    #[error("GSSAPI {operation} failed: {message}")]
    Gss {
        operation: &'static str,
        message: String,
    },

    /// The established context lacks protection this protocol requires.
    #[error("security context lacks required protection: {missing}")]
    MissingProtection { missing: String },

    /// The context was established with a mechanism other than Kerberos 5.
    #[error("security context is not Kerberos 5")]
    WrongMechanism,

    /// The handshake needed more token exchanges than allowed.
    #[error("authentication needed more than {limit} token exchanges")]
    HandshakeRounds { limit: usize },

    /// A handshake token of zero bytes: GSSAPI never produces one.
    #[error("empty handshake token")]
    EmptyToken,

    /// A protected block that is not an encrypted RFC 4121 wrap token (the peer turned
    /// confidentiality off, or used a legacy token format).
    #[error("protected block is not an encrypted Kerberos wrap token")]
    NotSealed,

    /// The Kerberos context (the ticket it was built from) has expired.
    #[error("Kerberos session expired: authenticate again (kinit)")]
    ContextExpired,

    // --- RFC 4121 fast path (`fastpath`) -------------------------------------------------------
    /// A wrap token that is not well formed: wrong token id, filler, flags, or lengths that do
    /// not add up. `why` is a constant description; the token itself is never carried.
    #[error("malformed Kerberos wrap token: {why}")]
    BadToken { why: &'static str },

    /// A wrap token whose checksum does not verify, or whose encrypted header copy differs
    /// from its header: it was altered on the way, or was not made with this session's key.
    #[error("wrap token failed its integrity check: it was altered or made with another key")]
    Integrity,

    /// A wrap token whose SentByAcceptor flag says it came from this side: one of our own
    /// tokens sent back to us.
    #[error("wrap token was sent by this side of the session (reflected back)")]
    ReflectedToken,

    /// A wrap token with a sequence number already used (a replay, or a token that arrived
    /// after a later one).
    #[error("wrap token {seq} replayed or out of order (expected {expected})")]
    ReplayedToken { seq: u64, expected: u64 },

    /// A wrap token with a sequence number beyond the next expected one: a token in between
    /// was lost, dropped or reordered.
    #[error("wrap token {seq} arrived before token {expected}: a token was lost or reordered")]
    TokenGap { seq: u64, expected: u64 },

    /// All 2^64 sequence numbers of one direction are used up; the session cannot go on.
    #[error("per-message sequence numbers of this session are used up: authenticate again")]
    SequenceExhausted,

    /// A fast-path key whose length does not fit its enctype (a broken context export).
    #[error("session key of {len} bytes where enctype {enctype} needs {expected}")]
    KeyLength {
        enctype: i32,
        len: usize,
        expected: usize,
    },

    /// The operating system's random number generator failed, so no confounder could be made.
    #[error("the operating system's random number generator failed")]
    Random,

    /// The fast path's known-answer self-test failed: this build's crypto does not compute
    /// what RFC 3962/8009 say, so it must not be used (MIT's gss_wrap stays in use).
    #[error("fast-path crypto self-test failed: {what}; the fast path stays off (report this)")]
    SelfTest { what: &'static str },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
