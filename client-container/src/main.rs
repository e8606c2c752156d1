//! `burnstand`: the user's command. See `burnstand --help` and docs/client.md.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use burnstand::burn::BurnRequest;
use burnstand::commands;
use burnstand::config::{Overrides, Settings};
use burnstand::error::exit_code_table;
use burnstand::output::{Output, Report};
use burnstand::ClientError;
use clap::{Parser, Subcommand};
use serde::Serialize;

/// Burn lab disc images on a burner station, with your campus Kerberos login.
///
/// Log in first with `burnstand login` (or `kinit`): burnstand uses the Kerberos ticket in
/// your credential cache and never asks for a password itself. Then:
///
///   burnstand list               which kinds of station there are
///   burnstand images             what you may burn (restricted images are marked)
///   burnstand burn exam-2025     burn it with a progress bar, verify it, print a receipt
///   burnstand status             the disc in the drive
///   burnstand eject              open the tray
///
/// The master is --master, else $BURNSTAND_MASTER, else `master` in the configuration file
/// ($BURNSTAND_CONFIG, else ~/.config/burnstand/config.toml), else localhost:4700; the same
/// order holds for --master-principal. `burnstand COMMAND --help` explains each command;
/// docs/client.md is the full guide.
#[derive(Debug, Parser)]
#[command(name = "burnstand", version, verbatim_doc_comment, after_help = after_help())]
struct Cli {
    /// The master's address, HOST:PORT [default: the config file's, else localhost:4700].
    #[arg(
        long,
        env = "BURNSTAND_MASTER",
        global = true,
        value_name = "HOST:PORT"
    )]
    master: Option<String>,

    /// The master's Kerberos service principal [default: the config file's, else
    /// burnstand/localhost].
    #[arg(
        long,
        env = "BURNSTAND_MASTER_PRINCIPAL",
        global = true,
        value_name = "PRINCIPAL"
    )]
    master_principal: Option<String>,

    /// The configuration file [default: ~/.config/burnstand/config.toml, if it exists].
    #[arg(long, env = "BURNSTAND_CONFIG", global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Machine-readable output: one JSON document on stdout, no progress; a failure is one
    /// JSON object on stderr: {"error": NAME, "exit_code": N, "message": TEXT}.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Action,
}

fn after_help() -> String {
    format!(
        "Exit codes (the name is the `error` field of a --json failure):\n{}",
        exit_code_table()
    )
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Get a Kerberos ticket (runs kinit for you).
    ///
    /// Runs `kinit [PRINCIPAL]` on this terminal (kinit asks for your password; burnstand
    /// never sees it), then shows whose ticket it is and until when it is valid. Same as
    /// running kinit yourself.
    ///
    /// Exit code 0 with a ticket, 3 when kinit failed (wrong password, unknown principal).
    Login {
        /// Who to log in as, e.g. alice@CAMPUS.EDU [default: kinit's default, usually your
        /// login name in the default realm].
        principal: Option<String>,
    },

    /// List the kinds of burner station you may reserve (station types).
    ///
    /// Logs in to the master and asks it (LIST); nothing is reserved. Stations with the same
    /// drive and services form one type; pass its id or name to --type of the other
    /// commands. The master does not tell how many stations of a type are free: a type is
    /// listed while at least one of its stations is up, and `burn` tells you if all are
    /// busy (exit code 10).
    List,

    /// Show the images you may burn, as a station of the type offers them.
    ///
    /// Reserves a station for a moment (BIND), opens its burner module (SERV), asks for its
    /// capabilities (CAPAB), prints them and releases the station (QUIT). Restricted images
    /// can be burned but are never read back or downloaded.
    Images {
        /// Station type id or name (see `burnstand list`) [default: the only one].
        #[arg(long = "type", short = 't', value_name = "TYPE")]
        station_type: Option<String>,
    },

    /// Burn an image, verify every disc, print a receipt.
    ///
    /// Reserves a free station of the type, finds IMAGE among the images it offers you (by id,
    /// else by name), burns it with a progress bar (percent, speed, time left), reads every
    /// copy back and compares its MD5 with the image's, prints the receipt (who, which
    /// station, which image with its SHA-256 and MD5, the read-back MD5, when) and releases
    /// the station. Every step is in the station's and the master's audit logs.
    ///
    /// Ctrl-C cancels the burn at the station (it stops the burner and frees the drive) and
    /// exits with code 130. Put a blank disc in the drive first: `burnstand status` shows it.
    ///
    /// Exit code 0 only when every copy verified; 21 when a copy did not.
    Burn {
        /// The image id or name (see `burnstand images`).
        image: String,
        /// Station type id or name (see `burnstand list`) [default: the only one].
        #[arg(long = "type", short = 't', value_name = "TYPE")]
        station_type: Option<String>,
        /// How many discs to burn, one after the other (the tray opens between copies).
        #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
        copies: u32,
        /// Append the station's receipt records (one JSON line per copy, exactly as the
        /// station logged them) to FILE, to prove the burn later with `audit verify --receipt`.
        #[arg(long, value_name = "FILE")]
        save_receipt: Option<PathBuf>,
    },

    /// Show the disc in a station's drive: blank, written, absent; size and free space.
    ///
    /// Reserves a station, asks its drive (WHATIS), prints the answer, releases the station.
    Status {
        /// Station type id or name (see `burnstand list`) [default: the only one].
        #[arg(long = "type", short = 't', value_name = "TYPE")]
        station_type: Option<String>,
    },

    /// Open the tray of a station's drive.
    ///
    /// Reserves a station, opens its tray (OPEN), releases the station. The station's name
    /// is printed so you know which machine to walk to.
    Eject {
        /// Station type id or name (see `burnstand list`) [default: the only one].
        #[arg(long = "type", short = 't', value_name = "TYPE")]
        station_type: Option<String>,
    },

    /// Check audit logs offline (no ticket needed).
    #[command(subcommand)]
    Audit(AuditAction),
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Verify a master's or a station's audit log: its hash chain, sequence and last line.
    ///
    /// Names the first bad record and what happened to it (edited, deleted, reordered, torn
    /// last line). Exit code 0 when intact, 8 when not, 9 when the file cannot be read.
    Verify {
        /// The audit log (JSON Lines) to check.
        file: PathBuf,
        /// The head the daemon reported, SEQ:HASH: also proves the newest records are intact.
        #[arg(long)]
        head: Option<String>,
        /// A file saved with `burn --save-receipt`: also proves each receipt line is in the
        /// log byte for byte, at its place.
        #[arg(long, value_name = "FILE")]
        receipt: Option<PathBuf>,
    },

    /// Cut off a torn last line of an audit log (an append a crash or a full disk cut short)
    /// and record the cut in the log.
    ///
    /// Only an incomplete last line is ever cut (it was never acknowledged); the cut is
    /// recorded as an `audit.repair` record with its offset, length, SHA-256 and first bytes.
    /// A log broken anywhere else is refused and left as it is. The daemons do this themselves
    /// at start; stop the daemon before running it by hand. Exit code 0 when the log is
    /// sound afterwards (or was already), 8 when it is broken beyond a torn tail, 9 when it
    /// cannot be read or is held by a running daemon.
    Repair {
        /// The audit log (JSON Lines) to repair.
        file: PathBuf,
        /// Only say what would be cut; change nothing.
        #[arg(long)]
        dry_run: bool,
    },

    /// Burn statistics from audit logs: copies per user, per image and per station, and
    /// verify failures per drive.
    ///
    /// Counts the `burn.receipt` records of the given master and/or station logs (a copy
    /// recorded in both is counted once). Stations are shown by the name the master's log
    /// records for them (the newest one), else by id. Refuses a log whose chain does not
    /// verify.
    Show {
        /// Audit logs (JSON Lines) of the master and/or stations.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also count copies per station per UTC day (2026-11-22) or per ISO week (2026-W48),
        /// by when each copy ended.
        #[arg(long, value_enum, value_name = "PERIOD")]
        by: Option<burnstand::stats::Period>,
    },
}

/// `burnstand audit verify` with --json.
#[derive(Debug, Serialize)]
struct AuditReport {
    file: String,
    intact: bool,
    report: String,
}

impl Report for AuditReport {
    fn human(&self) -> String {
        self.report.clone()
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            out.error(&ClientError::Internal(format!("cannot start: {e}")));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}

/// A command line clap refused: its own text, or with --json a JSON error (exit code 2);
/// `--help` and `--version` print as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if informational || !std::env::args().any(|a| a == "--json") {
        e.exit()
    }
    let message = e.render().to_string();
    Output::new(true).error(&ClientError::Usage(message.trim_end().to_owned()));
    ExitCode::from(2)
}

async fn run(cli: Cli, out: &Output) -> Result<(), ClientError> {
    let overrides = Overrides {
        master: cli.master,
        master_principal: cli.master_principal,
        config_path: cli.config,
    };
    match cli.command {
        Action::Audit(AuditAction::Show { files, by }) => {
            out.report(&burnstand::stats::show(&files, by)?);
            Ok(())
        }
        Action::Audit(AuditAction::Repair { file, dry_run }) => {
            out.report(&burnstand::audit::repair_log(&file, dry_run)?);
            Ok(())
        }
        Action::Audit(AuditAction::Verify {
            file,
            head,
            receipt,
        }) => {
            let mut report = burnstand::audit::verify_log(&file, head.as_deref())?;
            if let Some(receipt) = &receipt {
                let n = burnstand::audit::check_receipts(&file, receipt)?;
                report.push_str(&format!(
                    "\nOK: all {n} receipt record(s) of {} are in the log byte for byte",
                    receipt.display()
                ));
            }
            out.report(&AuditReport {
                file: file.display().to_string(),
                intact: true,
                report,
            });
            Ok(())
        }
        Action::Login { principal } => commands::login(principal.as_deref(), out),
        Action::List => commands::list(&Settings::resolve(overrides)?, out).await,
        Action::Images { station_type } => {
            commands::images(&Settings::resolve(overrides)?, station_type.as_deref(), out).await
        }
        Action::Burn {
            image,
            station_type,
            copies,
            save_receipt,
        } => {
            let request = BurnRequest {
                image,
                copies,
                save_receipt,
            };
            commands::burn(
                &Settings::resolve(overrides)?,
                station_type.as_deref(),
                &request,
                out,
            )
            .await
        }
        Action::Status { station_type } => {
            commands::status(&Settings::resolve(overrides)?, station_type.as_deref(), out).await
        }
        Action::Eject { station_type } => {
            commands::eject(&Settings::resolve(overrides)?, station_type.as_deref(), out).await
        }
    }
}
