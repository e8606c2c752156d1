//! The daemon's command line, in the library so that `burnstand-assets` can generate the man
//! page and shell completions from the same definition `main.rs` parses.

use std::path::PathBuf;

use clap::Parser;

/// The burnstand master relay: Kerberos sessions, station reservations, pass-through.
///
/// Users' containers connect here to LIST and BIND burner stations; their modules connect to
/// SERV a station's service and get a relayed, re-encrypted channel to it. See
/// docs/master.md for the configuration and docs/protocol.md §5 for the protocol.
#[derive(Debug, Parser)]
#[command(name = "burnstand-master", version)]
pub struct Cli {
    /// The TOML configuration file (see docs/master.example.toml).
    #[arg(long, short, value_name = "FILE", env = "BURNSTAND_MASTER_CONFIG")]
    pub config: PathBuf,

    /// Validate the configuration, the keytab and the audit log directory, print a summary
    /// and exit: 0 if everything is usable, 1 if not.
    #[arg(long)]
    pub check_config: bool,

    #[command(flatten)]
    pub log: burnstand_daemon::logging::LogArgs,
}
