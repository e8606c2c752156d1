//! The command line: every subcommand and option, with the help text `burnstand --help` and
//! `burnstand COMMAND --help` print. `main.rs` runs what this parses.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::admin::AdminCommand;
use crate::error::exit_code_table;
use crate::queue::WaitChoice;
use crate::reserve::Want;

/// Burn lab disc images on a burner station, with your campus Kerberos login.
///
/// Log in first with `burnstand login` (or `kinit`): burnstand uses the Kerberos ticket in
/// your credential cache and never asks for a password itself. Then:
///
///   burnstand list               which kinds of station there are, how many are free
///   burnstand images             what you may burn (restricted images are marked)
///   burnstand burn exam-2025     burn it with a progress bar, verify it, print a receipt
///   burnstand burn exam --wait   the same, waiting in the queue while all stations are busy
///   burnstand status             the disc in the drive
///   burnstand eject              open the tray
///   burnstand reserve            hold a station for you until `burnstand release`
///   burnstand doctor             check this computer's setup and say what to fix
///
/// The master is --master, else $BURNSTAND_MASTER, else `master` in the configuration file
/// ($BURNSTAND_CONFIG, else ~/.config/burnstand/config.toml), else localhost:4700; the same
/// order holds for --master-principal. `burnstand COMMAND --help` explains each command;
/// docs/client.md is the full guide.
#[derive(Debug, Parser)]
#[command(name = "burnstand", version, verbatim_doc_comment, after_help = after_help())]
pub struct Cli {
    /// The master's address, HOST:PORT [default: the config file's, else localhost:4700].
    #[arg(
        long,
        env = "BURNSTAND_MASTER",
        global = true,
        value_name = "HOST:PORT"
    )]
    pub master: Option<String>,

    /// The master's Kerberos service principal [default: the config file's, else
    /// burnstand/localhost].
    #[arg(
        long,
        env = "BURNSTAND_MASTER_PRINCIPAL",
        global = true,
        value_name = "PRINCIPAL"
    )]
    pub master_principal: Option<String>,

    /// The configuration file [default: ~/.config/burnstand/config.toml, if it exists].
    #[arg(long, env = "BURNSTAND_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Machine-readable output: one JSON document on stdout, no progress; a failure is one
    /// JSON object on stderr: {"error": NAME, "exit_code": N, "message": TEXT}.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Action,
}

fn after_help() -> String {
    format!(
        "Exit codes (the name is the `error` field of a --json failure):\n{}",
        exit_code_table()
    )
}

/// Which station, and what to do when all are busy: the options of every command that
/// reserves one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct Pick {
    /// Station type id or name (see `burnstand list`) [default: the only one].
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub station_type: Option<String>,

    /// One particular station, by its configured name (the label on the machine, as
    /// `burnstand reserve` prints it, e.g. dvd-2) [default: any free one of the type].
    #[arg(long, value_name = "NAME")]
    pub station: Option<String>,

    /// When every station is busy, wait in the queue: a line shows your place and the
    /// estimated wait; Ctrl-C leaves the queue (exit code 130).
    #[arg(long, conflicts_with = "no_wait")]
    pub wait: bool,

    /// When every station is busy, fail at once (exit code 10). Without --wait or
    /// --no-wait, burnstand asks on a terminal and fails at once otherwise.
    #[arg(long)]
    pub no_wait: bool,
}

impl Pick {
    /// What the options ask for.
    pub fn want(&self) -> Want {
        Want {
            station_type: self.station_type.clone(),
            station: self.station.clone(),
            wait: WaitChoice::from_flags(self.wait, self.no_wait),
            drives: 1,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Action {
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

    /// List the kinds of burner station you may reserve, and how many are free.
    ///
    /// Logs in to the master and asks it (LISTX); nothing is reserved. Stations with the
    /// same drive and services form one type; pass its id or name to --type of the other
    /// commands. For each type the table shows how many stations there are, how many are
    /// free, busy and quarantined (out of service), and how many people wait in the queue.
    /// A master older than the burner farm does not know LISTX: then burnstand asks with
    /// LIST and says that the counts are not available.
    List,

    /// Show the images you may burn, as a station of the type offers them.
    ///
    /// Reserves a station for a moment (RESERVE, or BIND on an old master), opens its burner
    /// module (SERV), asks for its capabilities (CAPAB), prints them and releases the station
    /// (QUIT). With a station held by `burnstand reserve` it uses that one and keeps it.
    /// Restricted images can be burned but are never read back or downloaded.
    Images(Pick),

    /// Burn an image, verify every disc, print a receipt.
    ///
    /// Reserves a free station of the type (or uses the one `burnstand reserve` holds), finds
    /// IMAGE among the images it offers you (by id, else by name), burns it with a progress
    /// bar (percent, speed, time left), reads every copy back and compares its MD5 with the
    /// image's, prints the receipt (who, which station, which image with its SHA-256 and MD5,
    /// the read-back MD5, when) and releases the station (a held one stays held). Every step
    /// is in the station's and the master's audit logs.
    ///
    /// When every station is busy: --wait waits in the queue, --no-wait fails (exit code 10),
    /// and without either burnstand asks on a terminal ("Wait in the queue? [Y/n]").
    ///
    /// Ctrl-C while waiting leaves the queue; during the burn it cancels the burn at the
    /// station (it stops the burner and frees the drive); both exit with code 130. Put a
    /// blank disc in the drive first: `burnstand status` shows it.
    ///
    /// With --copies N the copies are spread over up to N free stations (one copy per drive
    /// at a time); a station that fails mid-job fails its copy and the other drives burn the
    /// rest; a used-up quota stops the job. A job report then says which drive burned which
    /// copy.
    ///
    /// Exit code 0 only when every copy verified; 21 when a copy did not verify; 25 when
    /// copies of a job failed or could not be burned.
    Burn {
        /// The image id or name (see `burnstand images`).
        image: String,
        #[command(flatten)]
        pick: Pick,
        /// How many discs to burn. More than one are spread over several free stations of
        /// the type, one copy per drive at a time (see --drives); on a station held by
        /// `burnstand reserve`, with --station or on an old master they are burned one after
        /// the other on one station (the tray opens between copies).
        #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=99))]
        copies: u32,
        /// Use at most D drives (stations) at once for the copies [default: as many as the
        /// copies need, at most 16]. The job starts on the stations that are free, at least
        /// one; --drives 1 burns the copies one after the other on one station.
        #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..=16))]
        drives: Option<u32>,
        /// Append the station's receipt records (one JSON line per copy, exactly as the
        /// station logged them) to FILE, to prove the burn later with `audit verify --receipt`.
        /// A job whose copies were burned on several stations writes one file per station
        /// instead: FILE with the station id before its extension (job.STATION-ID.jsonl).
        #[arg(long, value_name = "FILE")]
        save_receipt: Option<PathBuf>,
    },

    /// Show the disc in a station's drive: blank, written, absent; size and free space.
    ///
    /// Reserves a station (or uses the held one), asks its drive (WHATIS), prints the answer,
    /// releases the station.
    Status(Pick),

    /// Open the tray of a station's drive.
    ///
    /// Reserves a station (or uses the held one), opens its tray (OPEN), releases the
    /// station. The station's name is printed so you know which machine to walk to.
    Eject(Pick),

    /// Hold a station for you until `burnstand release` or your ticket ends.
    ///
    /// Starts a small background process that reserves a station (RESERVE with HOLD) and
    /// keeps the reservation on its connection, so that `images`, `burn`, `status` and
    /// `eject` all use that one station, one after the other, without anyone else taking it
    /// in between. Prints the station's name and location. The reservation ends with
    /// `burnstand release`, when your Kerberos ticket ends, or when the lab staff release it.
    ///
    /// When every station is busy: --wait waits in the queue (Ctrl-C leaves it), --no-wait
    /// fails (exit code 10), and without either burnstand asks on a terminal.
    ///
    /// Exit code 24 if you already hold one (`burnstand release` first).
    Reserve(Pick),

    /// End the reservation `burnstand reserve` holds.
    ///
    /// Stops the background holder, which says QUIT to the master: the station is free
    /// again, and any burn still running on it through another burnstand ends. With no
    /// reservation held it says so (exit code 0). Needs no ticket.
    Release,

    /// The lab staff's reports and actions (members of the master's admin group only).
    ///
    /// Everyone else gets exit code 22 ("you are not in the master's admin group").
    #[command(subcommand)]
    Admin(AdminAction),

    /// Check audit logs offline (no ticket needed).
    #[command(subcommand)]
    Audit(AuditAction),

    /// Check this computer for burnstand: configuration, krb5.conf, ticket, clock, master.
    ///
    /// One line per check with OK, WARN or FAIL and what to fix: the configuration file, the
    /// Kerberos configuration (found, and parsed by MIT krb5), your ticket and how long it is
    /// valid, the clock against the KDC's (as recorded in your ticket cache), the master's
    /// service principal (the KDC issues a ticket for it) and the master itself (it answers,
    /// authenticates and greets). Reserves nothing. Exit code 0 when nothing failed
    /// (warnings allowed), 27 when a check failed.
    Doctor,

    /// The background holder of `burnstand reserve` (started by it; not for people).
    #[command(name = "hold-reservation", hide = true)]
    HoldReservation(Pick),
}

#[derive(Debug, Subcommand)]
pub enum AdminAction {
    /// Every station: where it is, its condition (and why), what it is doing, who holds it,
    /// how many burns and verify failures it had today.
    Stations,

    /// Who waits in the queue, in order; `admin queue clear` empties it.
    Queue {
        #[command(subcommand)]
        action: Option<QueueAction>,
    },

    /// Let the station's running reservation finish, and make no new one on it.
    Drain {
        /// The station's configured name (see `burnstand admin stations`).
        station: String,
    },

    /// Undo `drain`: the station takes reservations again.
    Resume {
        /// The station's configured name.
        station: String,
    },

    /// End the reservation holding the station once its running copy is done (a burn is
    /// never cut).
    Release {
        /// The station's configured name.
        station: String,
    },

    /// Who is logged in, with how many connections, and which stations they hold.
    Who,

    /// Send a disc image to one station's catalog, or to every station of a type.
    ///
    /// burnstand computes the file's SHA-256 and MD5 first, then streams it through the
    /// master in protected blocks; each station checks both digests before it publishes the
    /// image with its sidecar (name, id, restricted). A push that was cut off resumes: push
    /// the same file again and only the missing bytes are sent. Images are restricted
    /// (burn, never read back) unless --unrestricted; there is no `admin pull`.
    ///
    /// Exit code 22 if you are not in the admin group (users may push unrestricted images
    /// only to stations that allow it), 26 if a station did not store the image.
    Push(PushArgs),
}

/// `burnstand admin push`'s arguments.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The image file (an ISO 9660 or UDF image).
    pub file: PathBuf,
    /// Push to this station (its configured name).
    #[arg(long, value_name = "NAME", conflicts_with = "type_id")]
    pub station: Option<String>,
    /// Push to every station of this type id (`burnstand list` shows the ids).
    #[arg(long = "type", value_name = "N")]
    pub type_id: Option<u32>,
    /// Mark the image restricted (the default: burn, never read back).
    #[arg(long, conflicts_with = "unrestricted")]
    pub restricted: bool,
    /// Mark the image unrestricted (users may push only such images, where allowed).
    #[arg(long)]
    pub unrestricted: bool,
    /// The name users see [default: the file name].
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// The catalog id and file name on the station [default: the file name]; letters,
    /// digits, `.`, `_` and `-`.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Replace a published image with the same id (otherwise such a push is refused).
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// Empty the queue: everyone waiting is told that the lab staff cleared it.
    Clear,
}

impl AdminAction {
    /// The report or action command to send (`None` for `push`, which is a protocol of its
    /// own: [`crate::admin::push`]).
    pub fn command(&self) -> Option<AdminCommand> {
        Some(match self {
            AdminAction::Stations => AdminCommand::Stations,
            AdminAction::Queue { action: None } => AdminCommand::Queue,
            AdminAction::Queue {
                action: Some(QueueAction::Clear),
            } => AdminCommand::QueueClear,
            AdminAction::Drain { station } => AdminCommand::Drain(station.clone()),
            AdminAction::Resume { station } => AdminCommand::Resume(station.clone()),
            AdminAction::Release { station } => AdminCommand::Release(station.clone()),
            AdminAction::Who => AdminCommand::Who,
            AdminAction::Push(_) => return None,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Verify a master's or a station's audit log: its hash chain, sequence and last line,
    /// across all its rotated segments, end to end.
    ///
    /// Names the first bad record and what happened to it (edited, deleted, reordered, torn
    /// last line), or the segment that is missing, renamed or out of place. Exit code 0 when
    /// intact, 8 when not, 9 when the file cannot be read.
    Verify {
        /// The audit log to check: the live file (its segments beside it are found), or a
        /// directory holding one log's segments.
        file: PathBuf,
        /// The head exported elsewhere (`[audit] head_export`), as a file or as SEQ:HASH:
        /// also proves the newest records were neither edited nor removed.
        #[arg(long, value_name = "FILE|SEQ:HASH")]
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
        by: Option<crate::stats::Period>,
    },
}

#[cfg(test)]
mod tests;
