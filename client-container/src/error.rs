//! What can go wrong for a user, with the message and exit code they get.

use burnstand_wire::Error as WireError;

/// A failure of the client, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No usable Kerberos ticket in the credential cache.
    #[error("no Kerberos ticket: run kinit (then try again)\n  detail: {0}")]
    NoTicket(WireError),

    /// The master could not be reached at all.
    #[error("cannot reach the burnstand master at {address}: {source}\n  check the address (--master or BURNSTAND_MASTER)")]
    Unreachable {
        address: String,
        source: std::io::Error,
    },

    /// The master refused our authentication or is not the service we asked for.
    #[error("the master refused the Kerberos login: {0}\n  check your ticket (klist; kinit again if it expired) and the master principal (--master-principal)")]
    AuthenticationFailed(WireError),

    /// The peer does not speak burnstand, or speaks another version.
    #[error("{0}")]
    Incompatible(WireError),

    /// The connection failed after login.
    #[error("connection to the master failed: {0}")]
    Connection(WireError),
}

impl ClientError {
    /// The process exit code for this failure (documented in `burnstand --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::NoTicket(_) => 3,
            ClientError::Unreachable { .. } => 4,
            ClientError::AuthenticationFailed(_) => 5,
            ClientError::Incompatible(_) => 6,
            ClientError::Connection(_) => 7,
        }
    }
}
