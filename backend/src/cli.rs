//! The daemon's command line, in the library so that `burnstand-assets` can generate the man
//! page and shell completions from the same definition `main.rs` parses.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// burnstand burner station: serves one optical drive to the burnstand master over Kerberos,
/// burns catalog images with xorriso, verifies them by MD5 and records everything in an
/// audit log.
#[derive(Debug, Parser)]
#[command(name = "burnstand-station", version, about, long_about = None)]
pub struct Args {
    /// The station configuration (TOML; see docs/station.example.toml).
    #[arg(long, value_name = "FILE", env = "BURNSTAND_STATION_CONFIG")]
    pub config: PathBuf,

    /// Check the configuration (file, principals, keytab, drive, catalog, audit log) and exit
    /// without serving and without changing anything on disk: 0 when it is usable.
    #[arg(long)]
    pub check_config: bool,

    #[command(flatten)]
    pub log: burnstand_daemon::logging::LogArgs,

    #[command(subcommand)]
    pub command: Option<StationCommand>,
}

/// What to do instead of serving.
#[derive(Debug, Subcommand)]
pub enum StationCommand {
    /// Check this machine for the station, one line per check with OK, WARN or FAIL and
    /// what to fix.
    ///
    /// Checks the configuration, the keytab (permissions, the station's key), the trusted
    /// masters (service principals the KDC knows), the clock against the KDC (a ticket from
    /// the keytab), the drive (present, readable and writable by this user), xorriso and its
    /// version, free disk for the audit log and the catalog, and the audit log's chain and
    /// head. Changes nothing on disk; can run beside a running station. Put --config before
    /// the word: `burnstand-station --config FILE doctor`. Exit code 0 when nothing failed
    /// (warnings allowed), 1 when a check failed.
    Doctor,
}
