//! The one error type of `burnstand-station`.
//!
//! Variants say what failed in words an operator (configuration, start-up) or a user (burns,
//! drive) can act on; [`StationError::report`] turns the ones a peer may see into the burner
//! protocol's ERROR message. No variant carries key material, tokens or image bytes.

use std::path::PathBuf;

use burnstand_wire::burner::{ErrorCode, ErrorReport};

/// Why something in the station failed.
#[derive(Debug, thiserror::Error)]
pub enum StationError {
    // --- configuration and start-up -----------------------------------------------------------
    /// The configuration file could not be read (or is far too long to be one).
    #[error(transparent)]
    ConfigText(#[from] burnstand_daemon::ConfigTextError),

    /// The configuration is not valid TOML for this daemon, or a value is out of range.
    #[error("configuration {path}: {message}")]
    Config { path: PathBuf, message: String },

    /// The image catalog directory or the digest cache cannot be used.
    #[error("image catalog {path}: {message}")]
    Catalog { path: PathBuf, message: String },

    /// The audit log refused an append or could not be opened: the station fails closed.
    #[error("audit log: {0}")]
    Audit(#[from] burnstand_audit::Error),

    /// A protocol or security-layer failure (see `burnstand_wire::Error`).
    #[error(transparent)]
    Wire(#[from] burnstand_wire::Error),

    /// A connection failed as a connection: closed, reset, timed out, or a protocol failure
    /// met while reading it (see `burnstand_wire::IoError`).
    #[error(transparent)]
    WireIo(#[from] burnstand_wire::IoError),

    /// Any other I/O failure, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },

    // --- the drive and burns ------------------------------------------------------------------
    /// xorriso (or setpriv, which starts it) could not be started at all.
    #[error(
        "cannot run {program}: {source}; install xorriso and util-linux (setpriv), or fix \
         `drive.xorriso`"
    )]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },

    /// A drive operation failed; `message` is for a person and includes xorriso's last words.
    #[error("{message}")]
    Drive { code: ErrorCode, message: String },

    /// The operation was cancelled (CANCEL, the session ended, or the station shuts down).
    #[error("cancelled")]
    Cancelled,
}

impl StationError {
    /// An I/O error with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StationError::Io {
            context: context.into(),
            source,
        }
    }

    /// A drive failure a user sees with `code`.
    pub fn drive(code: ErrorCode, message: impl Into<String>) -> Self {
        StationError::Drive {
            code,
            message: message.into(),
        }
    }

    /// The ERROR message a module is sent for this failure.
    ///
    /// Drive and burn failures keep their text (it names the problem and what to do); any
    /// internal failure is reported without detail, which stays in the station's log.
    pub fn report(&self) -> ErrorReport {
        match self {
            StationError::Drive { code, message } => ErrorReport::new(*code, message.clone()),
            StationError::Spawn { .. } => ErrorReport::new(
                ErrorCode::DriveFailed,
                "the station cannot run its burner program; tell the lab staff",
            ),
            StationError::Audit(_) => ErrorReport::new(
                ErrorCode::Unavailable,
                "the station cannot record to its audit log, so it does nothing; tell the lab staff",
            ),
            StationError::Cancelled => {
                ErrorReport::new(ErrorCode::Unavailable, "the operation was cancelled")
            }
            _ => ErrorReport::new(
                ErrorCode::Unavailable,
                "internal station error; try again, and tell the lab staff if it persists",
            ),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = StationError> = std::result::Result<T, E>;
