//! The one error type of `burnstand-master`.
//!
//! Messages name what an operator (or, for station problems, the lab admin) should look at.
//! None of them carries tokens, keys or payload.

use std::path::PathBuf;

/// Why the master refused to start, or why one connection or station link ended.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read (or is far too long to be one).
    #[error(transparent)]
    ConfigText(#[from] burnstand_daemon::ConfigTextError),

    /// The configuration is not valid TOML or does not match the schema.
    #[error("config file {path} is not valid: {message}")]
    ConfigSyntax { path: PathBuf, message: String },

    /// The configuration parses but makes no sense (see `docs/master.md`).
    #[error("invalid configuration: {0}")]
    ConfigInvalid(String),

    /// A protocol, framing or GSSAPI failure on a link.
    #[error(transparent)]
    Wire(#[from] burnstand_wire::Error),

    /// A connection or link failed as a connection: closed, reset, timed out, or a protocol
    /// failure met while reading it.
    #[error(transparent)]
    WireIo(#[from] burnstand_wire::IoError),

    /// The audit log refused a record: the action it would have recorded is not acknowledged.
    #[error(transparent)]
    Audit(#[from] burnstand_audit::Error),

    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The station's TCP address could not be reached in time.
    #[error("station {station}: cannot connect to {address}: {reason}")]
    StationConnect {
        station: String,
        address: String,
        reason: String,
    },

    /// The station did not complete the handshake or its reply in time.
    #[error("station {station} did not answer within {timeout:?}")]
    StationTimeout {
        station: String,
        timeout: std::time::Duration,
    },

    /// The station answered its handshake with ERRNOTAVL (or an unexpected reply).
    #[error("station {station} refused the session ({reply})")]
    StationRefused { station: String, reply: String },

    /// The station authenticated as someone other than its configured principal.
    #[error("station {station} authenticated as {found}, expected {expected}")]
    StationImpostor {
        station: String,
        expected: String,
        found: String,
    },

    /// A station's receipt fails the master's checks (protocol.md §6.3).
    #[error("station sent a receipt the master cannot record: {0}")]
    BadReceipt(String),

    /// The copy ledger (`state_dir/ledger.sqlite`) cannot be read or written.
    #[error("copy ledger: {0}")]
    Ledger(String),

    /// The wait queue's store (`state_dir/queue.sqlite`) cannot be read or written, or holds
    /// something this master cannot load; the message names the file and what to do.
    #[error("wait queue: {0}")]
    Queue(String),

    /// The wait queue holds its bound of entries: the join is refused, not queued.
    #[error("the wait queue is full ({limit} users waiting)")]
    QueueFull { limit: usize },

    /// A station presented a link protocol or an id the master cannot accept.
    #[error("station {station}: {reason}")]
    StationLink { station: String, reason: String },

    /// A statistics plot could not be drawn (the SVG backend failed; a bug, not bad data).
    #[error("statistics plot: {0}")]
    Plot(String),

    /// The metrics listener (`[metrics] listen`) could not be opened.
    #[error("metrics listener on {address}: {reason}; pick a free address or remove [metrics]")]
    MetricsListen { address: String, reason: String },

    /// A lock protecting shared state was poisoned by a panic elsewhere.
    #[error("internal state poisoned by an earlier panic")]
    Poisoned,
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
