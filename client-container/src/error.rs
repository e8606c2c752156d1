//! What can go wrong for a user, with the message and the exit code they get.
//!
//! Every failure is one variant of [`ClientError`]; its `Display` text is what the person at
//! the terminal reads (what happened, then what to do), [`ClientError::exit_code`] is what a
//! script tests, and [`ClientError::name`] is the code's stable name in `--json` errors. The
//! table of codes is [`EXIT_CODES`]; `burnstand --help` and docs/client.md print the same.

use burnstand_wire::burner::ErrorCode;
use burnstand_wire::{Error as WireError, IoError};

/// Every exit code `burnstand` uses: (code, name, meaning). The single source for `--help`.
pub const EXIT_CODES: &[(u8, &str, &str)] = &[
    (0, "ok", "success (a burn: every copy verified)"),
    (
        1,
        "internal",
        "burnstand itself could not run (e.g. kinit is not installed)",
    ),
    (2, "usage", "bad arguments or a bad configuration file"),
    (
        3,
        "no_ticket",
        "no Kerberos ticket, or it expired: run `burnstand login` (kinit)",
    ),
    (
        4,
        "unreachable",
        "the master cannot be reached at the configured address",
    ),
    (5, "login_refused", "the master refused the Kerberos login"),
    (
        6,
        "incompatible",
        "not a burnstand master, or another protocol version",
    ),
    (
        7,
        "connection_lost",
        "the connection to the master failed after login",
    ),
    (8, "audit_broken", "an audit log failed verification"),
    (9, "audit_unreadable", "an audit log could not be read"),
    (
        10,
        "no_free_station",
        "ERRUNAVAL: no free station of the type (all reserved) and you did not wait (--wait)",
    ),
    (
        11,
        "no_station_type",
        "no station type to reserve (none offered, or --type unknown)",
    ),
    (
        12,
        "station_unavailable",
        "ERRNOTAVL, or the station cannot work right now",
    ),
    (
        13,
        "reservation_lost",
        "ERRNOCONN: the reservation ended before the module connected",
    ),
    (
        14,
        "command_refused",
        "ERRINVCMD or a request the station did not accept",
    ),
    (
        15,
        "unknown_image",
        "the station offers no such image to you",
    ),
    (
        16,
        "denied",
        "the station refused: you may not burn this image",
    ),
    (
        17,
        "drive_busy",
        "the station's drive is busy with another burn",
    ),
    (18, "no_medium", "no burnable disc in the drive"),
    (19, "no_space", "the image does not fit on the disc"),
    (20, "burn_failed", "the burn or the drive failed"),
    (
        21,
        "verify_failed",
        "the burn finished but a copy did not verify (read-back MD5 differs)",
    ),
    (
        22,
        "not_admin",
        "ERRDENIED to an admin command: you are not in the master's admin group (or no such station)",
    ),
    (
        23,
        "queue_ended",
        "you were taken out of the queue (the lab staff cleared it, or the policy now refuses you)",
    ),
    (
        24,
        "already_reserved",
        "`burnstand reserve`: you already hold a station; `burnstand release` ends it",
    ),
    (
        25,
        "copies_failed",
        "a job over several drives ended with copies that failed or were not burned (a station failed mid-job, or no drive was left); the job report says which",
    ),
    (
        26,
        "push_failed",
        "`admin push`: a station did not store the image; the report says which and why",
    ),
    (
        27,
        "client_too_old",
        "ERRVERSION: the master needs a newer burnstand; the message names the version",
    ),
    (
        28,
        "doctor_failed",
        "`burnstand doctor`: a check failed; its FAIL line says what to fix",
    ),
    (
        130,
        "interrupted",
        "Ctrl-C: the burn was cancelled (or the queue left) and the station released",
    ),
];

/// A failure of the client, phrased for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No usable Kerberos ticket in the credential cache.
    #[error("no Kerberos ticket: run kinit (or `burnstand login`), then try again\n  detail: {0}")]
    NoTicket(String),

    /// The ticket in the cache has ended (before or during the session).
    #[error("your Kerberos ticket{for_whom} has expired: run kinit (or `burnstand login`) to get a new one, then try again")]
    TicketExpired {
        /// " for alice@REALM", or empty when unknown.
        for_whom: String,
    },

    /// `burnstand login`: kinit ran but did not get a ticket.
    #[error("kinit did not get a ticket ({0}): check the principal and the password, then run `burnstand login` again")]
    KinitFailed(String),

    /// burnstand itself could not do its job (the runtime, a helper program).
    #[error("{0}")]
    Internal(String),

    /// The master could not be reached at all.
    #[error("cannot reach the burnstand master at {address}: {source}\n  check the address (--master, BURNSTAND_MASTER or the config file)")]
    Unreachable {
        address: String,
        source: std::io::Error,
    },

    /// The master refused our authentication or is not the service we asked for.
    #[error("the master refused the Kerberos login: {0}\n  check your ticket (klist; kinit again if it expired) and the master principal (--master-principal)")]
    AuthenticationFailed(IoError),

    /// The peer does not speak burnstand, or speaks another version.
    #[error("{0}")]
    Incompatible(WireError),

    /// The connection failed after login.
    #[error("connection to the master failed: {0}")]
    Connection(IoError),

    /// The connection ended while burnstand was waiting for an answer.
    #[error("{0}")]
    ConnectionLost(String),

    /// An audit log failed verification: the report says where and how.
    #[error("{0}")]
    AuditBroken(String),

    /// An audit log could not be read at all.
    #[error("cannot read the audit log: {0}")]
    AuditUnreadable(String),

    /// Arguments that parse but make no sense.
    #[error("{0}")]
    Usage(String),

    /// The configuration file is unreadable or wrong.
    #[error("configuration file {path}: {problem}")]
    Config { path: String, problem: String },

    /// ERRUNAVAL: BIND (or RESERVE without waiting) found no free station of the type.
    #[error("no free station of type {type_id} \"{type_name}\": every station of this type is reserved right now{}\n  {}{}", busy_hint(*.busy), no_free_advice(*.busy), retry_hint(*.retry_in))]
    NoFreeStation {
        type_id: u32,
        type_name: String,
        /// How many stations of the type are busy, when the master says (LISTX); an old
        /// master's LIST does not.
        busy: Option<u32>,
        /// The master's request_delay (DELAY, protocol.md §4.5), in seconds: a master from
        /// before the nucleus sends none.
        retry_in: Option<u32>,
    },

    /// ERRUNAVAL to RESERVE of one named station (`--station`) without waiting.
    #[error("station {station} is reserved by someone else right now\n  wait for it with --wait, or leave out --station to take any free {type_name} station{}", retry_hint(*.retry_in))]
    StationBusy {
        station: String,
        type_name: String,
        /// The master's request_delay, in seconds, if it sent one.
        retry_in: Option<u32>,
    },

    /// ERRVERSION: the master needs a newer burnstand (protocol.md §4.5). The decisive
    /// reason comes first, then the master's notices (which may say where to get one).
    #[error("this burnstand ({have}) is too old for the master: it needs version {needed} or newer\n  install a newer burnstand (the lab staff know where), then try again{}", notice_lines(notices))]
    ClientTooOld {
        have: String,
        needed: String,
        /// The master's notices, as printed at login, in display order.
        notices: Vec<String>,
    },

    /// The master took this user out of the queue (ERRDENIED while waiting).
    #[error("you were taken out of the queue: {0}\n  try again later (`burnstand list` shows how many stations are free and how many people wait)")]
    QueueEnded(String),

    /// ERRINVCMD to a burner-farm command: the master predates it.
    #[error("{what} (it answered ERRINVCMD: it predates the burner farm)\n  {advice}")]
    OldMaster { what: String, advice: String },

    /// ERRDENIED to an admin command.
    #[error("{}", not_admin_message(what, station.as_deref(), reason))]
    NotAdmin {
        /// The command, as the user typed it after `burnstand admin`.
        what: String,
        /// The station it named, if any.
        station: Option<String>,
        /// The master's own text.
        reason: String,
    },

    /// `burnstand reserve` while a reservation is already held.
    #[error("you already hold {station}{} (`burnstand reserve`, holder pid {pid})\n  `burnstand images`, `burn`, `status` and `eject` use it; `burnstand release` ends it", location_hint(location))]
    AlreadyReserved {
        station: String,
        location: String,
        pid: u32,
    },

    /// A failure another burnstand process (the reservation holder) reported, with its code.
    #[error("{message}")]
    Relayed { code: u8, message: String },

    /// ERRDENIED: the master's policy refuses this user a station of the type.
    #[error("the master refuses you a {type_name} station: {reason}\n  (ERRDENIED: the lab's policy; ask the lab staff if you think you should be entitled)")]
    Denied { type_name: String, reason: String },

    /// Nothing to reserve: LIST offered no (matching) burner station type.
    #[error("{0}")]
    NoStationType(String),

    /// ERRNOTAVL: the master could not open the station's burner service.
    #[error("the reserved station is not available (ERRNOTAVL): {0}\n  the master leaves it out for a while; try again, and tell the lab staff if it persists")]
    StationNotAvailable(String),

    /// ERRNOCONN: the master saw no container connection with a reservation.
    #[error("the reservation ended before the burner module connected (ERRNOCONN): it may have timed out or been ended by a QUIT in another burnstand; try again")]
    ReservationLost,

    /// ERRINVCMD or an answer burnstand did not expect.
    #[error("the master refused the {command} command (ERRINVCMD): this burnstand and the master disagree about the protocol; update burnstand or tell the lab staff")]
    CommandRefused { command: &'static str },

    /// A message that the protocol allows but that makes no sense here.
    #[error("unexpected answer from {peer}: {what}; tell the lab staff")]
    Unexpected { peer: &'static str, what: String },

    /// The station answered ERROR.
    #[error("{}", station_message(station, *code, text))]
    Station {
        /// The station's friendly name.
        station: String,
        code: ErrorCode,
        /// The station's own text.
        text: String,
    },

    /// The image asked for is not among those the station offers this user.
    #[error("{station} offers no image {image:?} to you{}\n  `burnstand images` lists what you may burn", offered(available))]
    UnknownImage {
        station: String,
        image: String,
        available: Vec<String>,
    },

    /// The burn finished but at least one copy's read-back MD5 differs.
    #[error("verify FAILED for {failed} of {copies} burned copies: the disc does not hold the image; do not use it — burn it again on a new disc, and tell the lab staff if it happens again")]
    VerifyFailed { failed: u32, copies: u32 },

    /// `admin push`: not every station stored the image.
    #[error("{stored} of {stations} stations stored the image: {detail}\n  fix what the station says and push again; bytes a station already has are not sent again")]
    PushFailed {
        stored: usize,
        stations: usize,
        /// Which stations failed, and why.
        detail: String,
    },

    /// A job over several drives ended without every copy verified, and not because a copy
    /// failed its verify, the quota ran out or Ctrl-C.
    #[error("only {verified} of {requested} copies verified: {detail}\n  the job report says why for each copy; do not use the disc of a failed copy, and burn the missing ones again (`burnstand burn {image} --copies {missing}`)")]
    CopiesFailed {
        verified: u32,
        requested: u32,
        /// Which copies failed or were not burned, and why.
        detail: String,
        image: String,
        missing: u32,
    },

    /// `burnstand doctor`: at least one check failed (the report says which).
    #[error("{failed} check(s) failed: fix what their FAIL lines say, then run `burnstand doctor` again")]
    DoctorFailed { failed: usize },

    /// Ctrl-C.
    #[error("{0}")]
    Interrupted(String),
}

fn busy_hint(busy: Option<u32>) -> String {
    busy.map(|n| format!(", {n} busy")).unwrap_or_default()
}

fn no_free_advice(busy: Option<u32>) -> &'static str {
    match busy {
        None => "(the master answered ERRUNAVAL; it does not say how many are busy, and it also answers so if you already hold a reservation in another burnstand, or the master is shutting down)\n  try again in a few minutes",
        Some(_) => "wait for one in the queue with --wait, or try again in a few minutes\n  (the master also answers ERRUNAVAL if you already hold a reservation in another burnstand, or is shutting down)",
    }
}

/// The master's request_delay, as advice.
fn retry_hint(retry_in: Option<u32>) -> String {
    retry_in
        .map(|s| format!("\n  the master asks you to try again in {s} s, not sooner"))
        .unwrap_or_default()
}

fn notice_lines(notices: &[String]) -> String {
    notices.iter().map(|n| format!("\n  {n}")).collect()
}

fn location_hint(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!(" ({location})")
    }
}

fn not_admin_message(what: &str, station: Option<&str>, reason: &str) -> String {
    match station {
        None => format!(
            "you are not in the master's admin group: it refused `admin {what}` (ERRDENIED: {reason})\n  ask the lab staff if you should be"
        ),
        Some(station) => format!(
            "the master refused `admin {what} {station}` (ERRDENIED: {reason})\n  you are not in the master's admin group, or it has no station named {station:?} (`burnstand admin stations` lists them)"
        ),
    }
}

fn offered(available: &[String]) -> String {
    if available.is_empty() {
        " (it offers you none)".to_owned()
    } else {
        format!(" (it offers: {})", available.join(", "))
    }
}

fn station_message(station: &str, code: ErrorCode, text: &str) -> String {
    let what = match code {
        ErrorCode::Denied => "refused: you may not burn this image; ask the lab staff for access",
        ErrorCode::Busy => "is busy with another burn: try again when it is done",
        ErrorCode::NoMedium => {
            "has no burnable disc in its drive: put in a blank disc and try again"
        }
        ErrorCode::NoSpace => "says the image does not fit on the disc: use a larger disc",
        ErrorCode::UnknownImage => {
            "does not offer this image (any more): run `burnstand images` and try again"
        }
        ErrorCode::BurnFailed => {
            "could not burn the disc: try another disc, and tell the lab staff if it keeps failing"
        }
        ErrorCode::DriveFailed => "reports a drive failure: tell the lab staff",
        ErrorCode::Unavailable => {
            "cannot work right now: try later, and tell the lab staff if it persists"
        }
        ErrorCode::BadRequest => {
            "did not accept burnstand's request: update burnstand or tell the lab staff"
        }
        ErrorCode::NotBurning => "was not burning anything",
    };
    format!("{station} {what}\n  the station says: {code}: {text}")
}

impl ClientError {
    /// The process exit code for this failure (documented in `burnstand --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Internal(_) => 1,
            ClientError::Usage(_) | ClientError::Config { .. } => 2,
            ClientError::NoTicket(_)
            | ClientError::TicketExpired { .. }
            | ClientError::KinitFailed(_) => 3,
            ClientError::Unreachable { .. } => 4,
            ClientError::AuthenticationFailed(_) => 5,
            ClientError::Incompatible(_) => 6,
            ClientError::Connection(_) | ClientError::ConnectionLost(_) => 7,
            ClientError::AuditBroken(_) => 8,
            ClientError::AuditUnreadable(_) => 9,
            ClientError::NoFreeStation { .. } | ClientError::StationBusy { .. } => 10,
            ClientError::Denied { .. } => 16,
            ClientError::NoStationType(_) => 11,
            ClientError::StationNotAvailable(_) => 12,
            ClientError::ReservationLost => 13,
            ClientError::CommandRefused { .. }
            | ClientError::Unexpected { .. }
            | ClientError::OldMaster { .. } => 14,
            ClientError::UnknownImage { .. } => 15,
            ClientError::Station { code, .. } => match code {
                ErrorCode::Unavailable => 12,
                ErrorCode::BadRequest | ErrorCode::NotBurning => 14,
                ErrorCode::UnknownImage => 15,
                ErrorCode::Denied => 16,
                ErrorCode::Busy => 17,
                ErrorCode::NoMedium => 18,
                ErrorCode::NoSpace => 19,
                ErrorCode::BurnFailed | ErrorCode::DriveFailed => 20,
            },
            ClientError::VerifyFailed { .. } => 21,
            ClientError::NotAdmin { .. } => 22,
            ClientError::QueueEnded(_) => 23,
            ClientError::AlreadyReserved { .. } => 24,
            ClientError::CopiesFailed { .. } => 25,
            ClientError::PushFailed { .. } => 26,
            ClientError::DoctorFailed { .. } => 28,
            ClientError::ClientTooOld { .. } => 27,
            ClientError::Interrupted(_) => 130,
            ClientError::Relayed { code, .. } => *code,
        }
    }

    /// The exit code's stable name (the `error` field of a `--json` error).
    pub fn name(&self) -> &'static str {
        code_name(self.exit_code())
    }

    /// Maps a failure of an established connection: an ended ticket and a closed connection
    /// get their own messages.
    pub fn from_wire(e: IoError) -> Self {
        match e {
            IoError::Codec(WireError::ContextExpired) => ClientError::TicketExpired {
                for_whom: String::new(),
            },
            IoError::Closed | IoError::Codec(WireError::UnterminatedBlock { .. }) => ClientError::ConnectionLost(
                "the master closed the connection (it may be restarting, or your reservation was ended); try again".into(),
            ),
            other => ClientError::Connection(other),
        }
    }
}

/// The name of exit code `code` in [`EXIT_CODES`].
pub fn code_name(code: u8) -> &'static str {
    EXIT_CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or("internal", |(_, name, _)| name)
}

/// The exit code table as `--help` prints it.
pub fn exit_code_table() -> String {
    EXIT_CODES
        .iter()
        .map(|(code, name, meaning)| format!("  {code:>3}  {name:<20} {meaning}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_documented_code_with_a_unique_name() {
        let mut names: Vec<_> = EXIT_CODES.iter().map(|(_, n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EXIT_CODES.len());
        for code in ErrorCode::ALL {
            let e = ClientError::Station {
                station: "s".into(),
                code: *code,
                text: "t".into(),
            };
            assert!(EXIT_CODES.iter().any(|(c, _, _)| *c == e.exit_code()));
        }
        assert_eq!(
            ClientError::Interrupted(String::new()).name(),
            "interrupted"
        );
        assert_eq!(ClientError::ReservationLost.name(), "reservation_lost");
    }

    #[test]
    fn errunaval_names_the_type_and_what_to_do() {
        let e = ClientError::NoFreeStation {
            type_id: 1,
            type_name: "DVD burner".into(),
            busy: None,
            retry_in: None,
        };
        let text = e.to_string();
        assert!(
            text.starts_with("no free station of type 1 \"DVD burner\""),
            "{text}"
        );
        assert!(text.contains("try again"));
        assert_eq!(e.exit_code(), 10);
        let counted = ClientError::NoFreeStation {
            type_id: 1,
            type_name: "DVD burner".into(),
            busy: Some(2),
            retry_in: None,
        };
        assert!(counted.to_string().contains("reserved right now, 2 busy"));
        assert!(counted.to_string().contains("--wait"));
        assert!(!counted.to_string().contains("the master asks"));
        let delayed = ClientError::NoFreeStation {
            type_id: 1,
            type_name: "DVD burner".into(),
            busy: Some(2),
            retry_in: Some(30),
        };
        assert!(delayed
            .to_string()
            .ends_with("the master asks you to try again in 30 s, not sooner"));
    }

    #[test]
    fn a_too_old_client_says_the_version_needed_before_the_notices() {
        let e = ClientError::ClientTooOld {
            have: "0.1.0".into(),
            needed: "0.3.0".into(),
            notices: vec!["master notice [high]: get 0.3.0 from the software centre".into()],
        };
        let text = e.to_string();
        assert!(
            text.starts_with(
                "this burnstand (0.1.0) is too old for the master: it needs version 0.3.0 or newer"
            ),
            "{text}"
        );
        assert!(text.ends_with("\n  master notice [high]: get 0.3.0 from the software centre"));
        assert_eq!((e.exit_code(), e.name()), (27, "client_too_old"));
    }

    #[test]
    fn farm_errors_have_their_own_codes() {
        let admin = ClientError::NotAdmin {
            what: "stations".into(),
            station: None,
            reason: "admins only".into(),
        };
        assert_eq!(admin.exit_code(), 22);
        assert_eq!(admin.name(), "not_admin");
        assert!(admin
            .to_string()
            .starts_with("you are not in the master's admin group"));
        let drain = ClientError::NotAdmin {
            what: "drain".into(),
            station: Some("dvd-9".into()),
            reason: "no such station".into(),
        };
        assert!(drain.to_string().contains("admin stations"));
        assert_eq!(
            ClientError::QueueEnded("cleared".into()).name(),
            "queue_ended"
        );
        let held = ClientError::AlreadyReserved {
            station: "dvd-1".into(),
            location: "room 2.14".into(),
            pid: 42,
        };
        assert_eq!(held.exit_code(), 24);
        assert!(held.to_string().contains("dvd-1 (room 2.14)"));
        let relayed = ClientError::Relayed {
            code: 10,
            message: "busy".into(),
        };
        assert_eq!(
            (relayed.exit_code(), relayed.name()),
            (10, "no_free_station")
        );
        let busy = ClientError::StationBusy {
            station: "dvd-2".into(),
            type_name: "DVD burner".into(),
            retry_in: None,
        };
        assert_eq!(busy.exit_code(), 10);
    }

    #[test]
    fn station_errors_keep_the_station_text() {
        let e = ClientError::Station {
            station: "Demo station 1".into(),
            code: ErrorCode::Denied,
            text: "you may not burn \"exam\"".into(),
        };
        assert_eq!(e.exit_code(), 16);
        assert!(e
            .to_string()
            .contains("the station says: DENIED: you may not burn"));
    }
}
