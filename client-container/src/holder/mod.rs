//! `burnstand reserve` and `burnstand release`: a station held across commands.
//!
//! `reserve` starts the same executable again as a detached **holder** process
//! (`burnstand hold-reservation`, hidden): in a session of its own, stdin and stderr on
//! /dev/null, its stdout a pipe back to `reserve`. The holder logs in, sends RESERVE with
//! HOLD (and WAIT if asked), reports each step to `reserve` as one JSON line
//! ([`HolderEvent`]), writes the record ([`state`]) once the master said RESERVED, and then
//! keeps the container connection open, sending LISTX as a keep-alive every
//! [`KEEPALIVE`], until SIGTERM, SIGINT or SIGHUP (then QUIT) or until the master ends the
//! connection (the ticket ended, the lab staff released the station). It removes its record
//! when it ends. `release` signals it and waits for it to end.
//!
//! Meanwhile `images`, `burn`, `status` and `eject` find the record ([`find_live`]) and open
//! only a module connection: SERV goes to the held station.

pub mod commands;
pub mod state;

use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::master::MasterConnection;
use crate::output::Output;
use crate::queue::{Position, QueueUi};
use crate::reserve::{reserve_station, Rejoin, Want};
use crate::signals::Stop;
use crate::ticket::{utc, Ticket};
use crate::ClientError;
use state::{HeldState, HeldType, Lookup, STATE_VERSION};

/// The hidden subcommand the holder runs as (also how [`state::holder_alive`] recognises it).
pub const HOLD_SUBCOMMAND: &str = "hold-reservation";
/// How often the holder sends LISTX on the held connection.
pub const KEEPALIVE: Duration = Duration::from_secs(120);
/// How long the holder waits for the master's OK to QUIT before it just closes.
pub const QUIT_WAIT: Duration = Duration::from_secs(5);

/// What the holder tells `reserve`, one JSON line each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HolderEvent {
    /// A notice from the master at login, as printed (the holder's own stderr goes nowhere).
    Notice { line: String },
    /// In the queue.
    Queued { place: Position },
    /// Held; the record is written.
    Reserved { state: Box<HeldState> },
    /// Every station is busy and the holder was not to wait: `reserve` may ask and start a
    /// holder that waits.
    Busy {
        question: String,
        code: u8,
        message: String,
    },
    /// It failed (the holder ends).
    Failed { code: u8, message: String },
}

impl HolderEvent {
    fn failed(e: &ClientError) -> Self {
        HolderEvent::Failed {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// The holder's reporting: lines on stdout (the pipe to `reserve`); a closed pipe is ignored
/// (`reserve` has gone, the holder holds on).
fn report(event: &HolderEvent) {
    if let Ok(line) = serde_json::to_string(event) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}

/// The live holder of `principal` at the configured master, if any. A stale record is removed
/// with a note.
pub fn find_live(settings: &Settings, principal: &str, out: &Output) -> Option<HeldState> {
    let dir = state::state_dir()?;
    match state::lookup(&dir, principal, &settings.master, state::holder_alive) {
        Lookup::Live(held, _) => Some(*held),
        Lookup::Stale { path, what } => {
            let _ = std::fs::remove_file(&path);
            out.note(&format!("note: removed {what}"));
            None
        }
        Lookup::None => None,
    }
}

/// A command given `--station` or `--type` while a station is held must mean that one.
pub fn check_matches(held: &HeldState, want: &Want) -> Result<(), ClientError> {
    let release_first = |what: String| {
        ClientError::Usage(format!(
            "you hold {} (`burnstand reserve`), {what}\n  leave the option out to use it, or run `burnstand release` first",
            held.station_text()
        ))
    };
    if let Some(station) = &want.station {
        if station != &held.station {
            return Err(release_first(format!("not {station}")));
        }
    }
    if let Some(wanted) = &want.station_type {
        let wanted = wanted.trim();
        let by_id = wanted.parse::<u32>().ok() == Some(held.station_type.id);
        if !by_id && !held.station_type.name.eq_ignore_ascii_case(wanted) {
            return Err(release_first(format!(
                "a station of type {} \"{}\", not {wanted:?}",
                held.station_type.id, held.station_type.name
            )));
        }
    }
    Ok(())
}

/// The holder's queue display: QUEUED goes to `reserve`; it never asks, but keeps the
/// question for `reserve` to ask.
#[derive(Default)]
struct PipeUi {
    question: Option<String>,
}

impl QueueUi for PipeUi {
    fn queued(&mut self, place: &Position) {
        report(&HolderEvent::Queued { place: *place });
    }

    fn ask(&mut self, question: &str) -> Option<bool> {
        self.question = Some(question.to_owned());
        None
    }

    fn note(&mut self, _text: &str) {}
}

/// `burnstand hold-reservation`: the holder process. Returns its exit code.
pub async fn hold(settings: &Settings, want: &Want) -> u8 {
    // Out of the terminal's session: Ctrl-C and the terminal closing do not reach it.
    let _ = nix::unistd::setsid();
    match hold_on(settings, want).await {
        Ok(()) => 0,
        Err(e) => e.exit_code(),
    }
}

async fn hold_on(settings: &Settings, want: &Want) -> Result<(), ClientError> {
    let fail = |e: ClientError| {
        report(&HolderEvent::failed(&e));
        e
    };
    let mut stop = Stop::any_signal().map_err(fail)?;
    let ticket = Ticket::current().map_err(fail)?;
    let dir = state::require_state_dir().map_err(fail)?;
    let mut master = MasterConnection::connect(settings, &ticket)
        .await
        .map_err(fail)?;
    for notice in master.notices() {
        report(&HolderEvent::Notice {
            line: crate::master::notice_line(notice),
        });
    }
    let mut ui = PipeUi::default();
    let rejoin = Some(Rejoin {
        settings,
        ticket: &ticket,
    });
    let got = match reserve_station(&mut master, want, true, &mut ui, &mut stop, rejoin).await {
        Ok(got) => got,
        Err(e) => {
            let event = match (&e, ui.question.take()) {
                (
                    ClientError::NoFreeStation { .. } | ClientError::StationBusy { .. },
                    Some(question),
                ) => HolderEvent::Busy {
                    question,
                    code: e.exit_code(),
                    message: e.to_string(),
                },
                _ => HolderEvent::failed(&e),
            };
            report(&event);
            master.close();
            return Err(e);
        }
    };
    let Some(reserved) = got.reserved else {
        // reserve_station refuses HOLD on an old master, so BIND never happens here.
        let e = ClientError::Internal("the master reserved without RESERVE".to_owned());
        let _ = master.quit().await;
        return Err(fail(e));
    };
    let station = reserved.stations.first().cloned().unwrap_or_else(|| {
        burnstand_wire::farm::ReservedStation {
            name: String::new(),
            location: String::new(),
        }
    });
    let held = HeldState {
        version: STATE_VERSION,
        pid: std::process::id(),
        master: settings.master.clone(),
        master_principal: master.master().to_owned(),
        principal: ticket.principal().to_owned(),
        station: station.name,
        location: station.location,
        session_id: reserved.session_id,
        station_type: HeldType::from(&got.station_type),
        since: utc(std::time::SystemTime::now()),
        ticket_expires: utc(ticket.expires()),
    };
    let path = match state::write(&dir, &held) {
        Ok(path) => path,
        Err(e) => {
            let _ = tokio::time::timeout(QUIT_WAIT, master.send_quit()).await;
            return Err(fail(e));
        }
    };
    report(&HolderEvent::Reserved {
        state: Box::new(held.clone()),
    });
    keep_alive(&mut master, &mut stop).await;
    state::remove_if_ours(&path, held.pid);
    Ok(())
}

/// Holds the connection: LISTX every [`KEEPALIVE`] (its answer must come within the reply
/// timeout), QUIT on a signal; returns when the reservation is over.
async fn keep_alive(master: &mut MasterConnection, stop: &mut Stop) {
    let mut next = tokio::time::Instant::now() + KEEPALIVE;
    let mut answer_due: Option<tokio::time::Instant> = None;
    loop {
        let due = answer_due.unwrap_or(next).min(next);
        tokio::select! {
            () = stop.recv() => {
                let _ = tokio::time::timeout(QUIT_WAIT, master.send_quit()).await;
                return;
            }
            () = tokio::time::sleep_until(due) => {
                if answer_due.is_some_and(|at| at <= tokio::time::Instant::now()) {
                    // The master stopped answering: the connection is as good as gone.
                    return;
                }
                if tokio::time::Instant::now() >= next {
                    if list_x_send(master).await.is_err() {
                        return;
                    }
                    answer_due.get_or_insert(
                        tokio::time::Instant::now() + crate::master::REPLY_TIMEOUT,
                    );
                    next = tokio::time::Instant::now() + KEEPALIVE;
                }
            }
            received = master.recv_bytes() => match received {
                // The keep-alive's answer (nothing else is sent on a held connection).
                Ok(_) => answer_due = None,
                // The master ended it: the ticket ended, or the staff released the station.
                Err(_) => return,
            },
        }
    }
}

async fn list_x_send(master: &mut MasterConnection) -> Result<(), ClientError> {
    master
        .send(&burnstand_wire::command::Command::ListX(
            burnstand_wire::farm::LISTX_VERSION,
        ))
        .await
}
