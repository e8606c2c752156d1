//! The one error type of the crate.
//!
//! Every variant carries what a developer needs to fix the problem without re-running with a
//! debugger: the tool's stderr, the tail of the KDC log, or the command to install what is missing.

use std::time::Duration;

/// Everything that can go wrong while creating, running or using a throwaway realm.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A krb5 or openssl program is not installed (or not on PATH, /usr/sbin, /sbin).
    #[error(
        "the program `{tool}` was not found (searched PATH, /usr/local/sbin, /usr/sbin, /sbin); \
         run scripts/install-deps.sh to install MIT krb5 (krb5-kdc, krb5-admin-server, krb5-user) \
         and friends"
    )]
    MissingTool {
        /// Program name, e.g. `krb5kdc`.
        tool: String,
    },

    /// A helper program ran but exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        /// The command line, for the reader (passwords are never part of it).
        command: String,
        /// Exit status as text, e.g. `exit status: 1`.
        status: String,
        /// What the program wrote on stderr (and stdout, for kadmin.local which reports errors there).
        stderr: String,
    },

    /// The KDC started, but the TCP port it should serve is held by some other process.
    ///
    /// Two listeners can share a port (SO_REUSEADDR/SO_REUSEPORT), and krb5kdc keeps running when
    /// its bind fails, so "something accepts connections" proves nothing: we check socket inodes.
    #[error("port {port} is not held by our KDC (pid {pid}) after {attempts} attempt(s)")]
    PortNotOurs {
        /// The port written into kdc.conf.
        port: u16,
        /// Our krb5kdc child.
        pid: u32,
        /// How many ports were tried before giving up.
        attempts: u32,
    },

    /// The KDC exited while we waited for it to listen.
    #[error("krb5kdc exited during startup ({status}); end of its output:\n{log_tail}")]
    KdcExited {
        /// Exit status as text.
        status: String,
        /// Last lines of the KDC's stderr and log file.
        log_tail: String,
    },

    /// The KDC did not accept TCP connections in time.
    #[error("krb5kdc did not listen on 127.0.0.1:{port} within {waited:?}; end of its output:\n{log_tail}")]
    KdcTimeout {
        /// The port written into kdc.conf.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// Last lines of the KDC's stderr and log file.
        log_tail: String,
    },

    /// A user name that the realm does not know (no password stored for it).
    #[error(
        "unknown user `{0}` in this realm (add it with RealmBuilder::user or Realm::add_user)"
    )]
    UnknownUser(String),

    /// A service principal that has no keytab in this realm.
    #[error("unknown service `{0}` in this realm (add it with RealmBuilder::service or Realm::add_service)")]
    UnknownService(String),

    /// A name that would not survive being put into a kadmin query or a config file.
    #[error("invalid {what} `{value}`: {why}")]
    InvalidName {
        /// "realm", "principal", "password", …
        what: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// A feature that this realm was not set up for (or that this machine cannot provide).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// Filesystem or process-spawning error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, e.g. `writing /tmp/x/krb5.conf`.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an io error with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps an io error about a path.
    pub(crate) fn io_path(action: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::io(format!("{action} {}", path.display()), source)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
