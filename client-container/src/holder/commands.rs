//! `burnstand reserve` (starts and follows a holder process) and `burnstand release` (ends
//! it). See the [parent module](super) for how the holder works.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use super::state::{self, HeldState, Lookup};
use super::{HolderEvent, HOLD_SUBCOMMAND};
use crate::config::Settings;
use crate::output::{Output, Report};
use crate::queue::{QueueUi, TerminalUi, WaitChoice};
use crate::reserve::Want;
use crate::signals::Stop;
use crate::ticket::Ticket;
use crate::ClientError;

/// After Ctrl-C, how long `reserve` waits for the holder to leave the queue and end.
pub const STOP_WAIT: Duration = Duration::from_secs(10);
/// How long `release` waits for the holder to QUIT and end before it kills it.
pub const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// "10:41 UTC" of an RFC 3339 UTC time (the whole text if it is not one).
pub fn clock(rfc3339: &str) -> String {
    match rfc3339.get(11..16) {
        Some(hh_mm) if rfc3339.ends_with('Z') => format!("{hh_mm} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// `burnstand reserve`.
#[derive(Debug, Serialize)]
pub struct ReserveReport {
    pub station: String,
    pub location: String,
    pub session_id: String,
    pub station_type: u32,
    pub station_type_name: String,
    pub principal: String,
    pub master: String,
    /// The holder process.
    pub pid: u32,
    /// RFC 3339 UTC.
    pub since: String,
    /// When the ticket, and so the reservation, ends (RFC 3339 UTC).
    pub until: String,
}

impl From<HeldState> for ReserveReport {
    fn from(s: HeldState) -> Self {
        ReserveReport {
            station: s.station,
            location: s.location,
            session_id: s.session_id,
            station_type: s.station_type.id,
            station_type_name: s.station_type.name,
            principal: s.principal,
            master: s.master_principal,
            pid: s.pid,
            since: s.since,
            until: s.ticket_expires,
        }
    }
}

impl Report for ReserveReport {
    fn human(&self) -> String {
        let station = if self.location.is_empty() {
            self.station.clone()
        } else {
            format!("{} ({})", self.station, self.location)
        };
        format!(
            "reserved {station} until `burnstand release` or your ticket ends ({})\n`burnstand images`, `burn`, `status` and `eject` use it now",
            clock(&self.until)
        )
    }
}

/// How following a holder ended (other than in an error).
enum Followed {
    Reserved(HeldState),
    /// Every station busy, and the holder was not to wait.
    Busy {
        question: String,
        error: ClientError,
    },
}

/// Starts a holder and reports the held station; asks (on a terminal) and starts a waiting
/// holder when every station is busy and neither --wait nor --no-wait was given.
pub async fn reserve(settings: &Settings, want: &Want, out: &Output) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let dir = state::require_state_dir()?;
    match state::lookup(
        &dir,
        ticket.principal(),
        &settings.master,
        state::holder_alive,
    ) {
        Lookup::Live(held, _) => {
            return Err(ClientError::AlreadyReserved {
                station: held.station,
                location: held.location,
                pid: held.pid,
            })
        }
        Lookup::Stale { path, what } => {
            let _ = std::fs::remove_file(path);
            out.note(&format!("note: removed {what}"));
        }
        Lookup::None => {}
    }
    let mut ui = TerminalUi::new(*out);
    let mut wait = want.wait;
    loop {
        match follow_holder(settings, want, wait, &mut ui).await? {
            Followed::Reserved(held) => {
                ui.finish();
                out.report(&ReserveReport::from(held));
                return Ok(());
            }
            Followed::Busy { question, error } => {
                if wait == WaitChoice::Ask && ui.ask(&question) == Some(true) {
                    wait = WaitChoice::Wait;
                    continue;
                }
                return Err(error);
            }
        }
    }
}

fn holder_command(
    settings: &Settings,
    want: &Want,
    wait: WaitChoice,
) -> Result<Command, ClientError> {
    let exe = std::env::current_exe().map_err(|e| {
        ClientError::Internal(format!(
            "cannot find the burnstand executable to start the holder: {e}"
        ))
    })?;
    let mut command = Command::new(exe);
    command
        .arg("--master")
        .arg(&settings.master)
        .arg("--master-principal")
        .arg(&settings.master_principal)
        .arg(HOLD_SUBCOMMAND);
    if let Some(station_type) = &want.station_type {
        command.arg("--type").arg(station_type);
    }
    if let Some(station) = &want.station {
        command.arg("--station").arg(station);
    }
    // Without either flag the holder tries without WAIT and, if every station is busy,
    // reports the question (BUSY) for `reserve` to ask here.
    match wait {
        WaitChoice::Wait => {
            command.arg("--wait");
        }
        WaitChoice::NoWait => {
            command.arg("--no-wait");
        }
        WaitChoice::Ask => {}
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(false);
    Ok(command)
}

/// Starts a holder and follows its reports until it holds a station or gives up. Ctrl-C
/// meanwhile stops the holder (it leaves the queue) and waits for it, at most [`STOP_WAIT`].
async fn follow_holder(
    settings: &Settings,
    want: &Want,
    wait: WaitChoice,
    ui: &mut TerminalUi,
) -> Result<Followed, ClientError> {
    // Armed before the holder starts: Ctrl-C must never leave a holder behind that nobody
    // knows about (it would wait on and hold a station).
    let mut stop = Stop::none();
    stop.arm_ctrl_c()?;
    let mut child = holder_command(settings, want, wait)?
        .spawn()
        .map_err(|e| ClientError::Internal(format!("cannot start the reservation holder: {e}")))?;
    let Some(stdout) = child.stdout.take() else {
        return Err(ClientError::Internal("the holder has no pipe".to_owned()));
    };
    let mut lines = BufReader::new(stdout).lines();
    loop {
        tokio::select! {
            () = stop.recv() => return Err(stop_holder(&mut child, &mut lines).await),
            line = lines.next_line() => {
                let line = match line {
                    Ok(Some(line)) => line,
                    Ok(None) | Err(_) => return Err(ended_silently(&mut child).await),
                };
                match read_event(&line)? {
                    HolderEvent::Notice { line } => ui.note(&line),
                    HolderEvent::Queued { place } => ui.queued(&place),
                    HolderEvent::Reserved { state } => return Ok(Followed::Reserved(*state)),
                    HolderEvent::Busy { question, code, message } => {
                        return Ok(Followed::Busy {
                            question,
                            error: ClientError::Relayed { code, message },
                        })
                    }
                    HolderEvent::Failed { code, message } => {
                        return Err(ClientError::Relayed { code, message })
                    }
                }
            }
        }
    }
}

fn read_event(line: &str) -> Result<HolderEvent, ClientError> {
    serde_json::from_str(line).map_err(|e| {
        ClientError::Internal(format!(
            "the reservation holder said something burnstand cannot read ({e}): {line:?}"
        ))
    })
}

async fn ended_silently(child: &mut Child) -> ClientError {
    let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
    let how = match status {
        Ok(Ok(status)) => format!(" ({status})"),
        _ => String::new(),
    };
    ClientError::Internal(format!(
        "the reservation holder ended without a word{how}; try again, and tell the lab staff if it persists"
    ))
}

/// Ctrl-C while following: SIGTERM to the holder, then its last report.
async fn stop_holder(
    child: &mut Child,
    lines: &mut tokio::io::Lines<BufReader<ChildStdout>>,
) -> ClientError {
    if let Some(pid) = child.id() {
        signal(pid, nix::sys::signal::Signal::SIGTERM);
    }
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    loop {
        let line = match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None) | Err(_)) => {
                return interrupted("stopped before anything was reserved");
            }
            Err(_) => {
                let _ = child.start_kill();
                return interrupted(&format!(
                    "the holder did not stop within {STOP_WAIT:?} and was killed; the master drops its place in the queue when its connection is gone for long enough"
                ));
            }
        };
        match read_event(&line) {
            Ok(HolderEvent::Queued { .. } | HolderEvent::Notice { .. }) => {}
            // It held a station just as Ctrl-C came; the SIGTERM made it QUIT again.
            Ok(HolderEvent::Reserved { state }) => {
                return interrupted(&format!(
                    "{} was reserved just then and is being released again",
                    state.station_text()
                ))
            }
            Ok(HolderEvent::Failed { code: 130, message }) => {
                return ClientError::Interrupted(message)
            }
            Ok(HolderEvent::Failed { .. } | HolderEvent::Busy { .. }) | Err(_) => {
                return interrupted("stopped before anything was reserved")
            }
        }
    }
}

fn interrupted(what: &str) -> ClientError {
    ClientError::Interrupted(format!("interrupted (Ctrl-C): {what}"))
}

fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), signal);
    }
}

// --- release ----------------------------------------------------------------------------------

/// A reservation `release` ended.
#[derive(Debug, Serialize)]
pub struct Released {
    pub station: String,
    pub location: String,
    pub since: String,
    pub pid: u32,
    /// The holder did not end by itself within [`RELEASE_WAIT`] and was killed (the master
    /// then ends the reservation when the connection closes).
    pub killed: bool,
}

/// `burnstand release`.
#[derive(Debug, Serialize)]
pub struct ReleaseReport {
    pub master: String,
    /// Empty when nothing was held.
    pub released: Vec<Released>,
    /// Records of holders that had already ended, removed.
    pub stale_removed: Vec<String>,
}

impl Report for ReleaseReport {
    fn human(&self) -> String {
        let mut lines: Vec<String> = self
            .stale_removed
            .iter()
            .map(|what| format!("removed {what}"))
            .collect();
        if self.released.is_empty() {
            lines.push(format!(
                "you hold no reservation at {}: nothing to release",
                self.master
            ));
        }
        for r in &self.released {
            let station = if r.location.is_empty() {
                r.station.clone()
            } else {
                format!("{} ({})", r.station, r.location)
            };
            lines.push(format!(
                "released {station}, held since {}",
                clock(&r.since)
            ));
            if r.killed {
                lines.push(format!(
                    "  its holder (pid {}) did not end within {RELEASE_WAIT:?} and was killed: the master ends the reservation as its connection closes",
                    r.pid
                ));
            }
        }
        lines.join("\n")
    }
}

/// Ends the holder(s) of this user at the configured master. Needs no ticket: without one,
/// every record for the master in the user's runtime folder counts.
pub async fn release(settings: &Settings, out: &Output) -> Result<(), ClientError> {
    let principal = Ticket::current().ok().map(|t| t.principal().to_owned());
    let records: Vec<(PathBuf, HeldState)> = match state::state_dir() {
        Some(dir) => state::records_for(&dir, &settings.master)
            .into_iter()
            .filter(|(_, s)| match &principal {
                Some(p) => &s.principal == p,
                None => true,
            })
            .collect(),
        None => Vec::new(),
    };
    let mut report = ReleaseReport {
        master: settings.master.clone(),
        released: Vec::new(),
        stale_removed: Vec::new(),
    };
    for (path, held) in records {
        if !state::holder_alive(held.pid) {
            let _ = std::fs::remove_file(&path);
            report.stale_removed.push(format!(
                "the record of {} (its holder, pid {}, had ended already)",
                held.station_text(),
                held.pid
            ));
            continue;
        }
        let killed = end_holder(held.pid).await;
        let _ = std::fs::remove_file(&path);
        report.released.push(Released {
            station: held.station,
            location: held.location,
            since: held.since,
            pid: held.pid,
            killed,
        });
    }
    out.report(&report);
    Ok(())
}

/// SIGTERM, then wait for the holder to QUIT and end; SIGKILL after [`RELEASE_WAIT`].
/// Returns whether it had to be killed.
async fn end_holder(pid: u32) -> bool {
    signal(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
    while tokio::time::Instant::now() < deadline {
        if !state::holder_alive(pid) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !state::holder_alive(pid) {
        return false;
    }
    signal(pid, nix::sys::signal::Signal::SIGKILL);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_clock() {
        assert_eq!(clock("2026-11-22T10:41:07Z"), "10:41 UTC");
        assert_eq!(clock("soon"), "soon");
    }

    #[test]
    fn the_reserve_report_says_where_and_until_when() {
        let report = ReserveReport {
            station: "dvd-1".into(),
            location: "room 2.14, left drive".into(),
            session_id: "s".into(),
            station_type: 1,
            station_type_name: "DVD burner".into(),
            principal: "alice@R".into(),
            master: "burnstand/m@R".into(),
            pid: 7,
            since: "2026-11-22T05:18:18Z".into(),
            until: "2026-11-22T10:41:00Z".into(),
        };
        assert!(report.human().starts_with(
            "reserved dvd-1 (room 2.14, left drive) until `burnstand release` or your ticket ends (10:41 UTC)"
        ));
    }

    #[test]
    fn release_says_when_nothing_was_held() {
        let report = ReleaseReport {
            master: "m:4700".into(),
            released: Vec::new(),
            stale_removed: Vec::new(),
        };
        assert_eq!(
            report.human(),
            "you hold no reservation at m:4700: nothing to release"
        );
    }

    #[test]
    fn holder_events_are_json_lines() {
        let event = HolderEvent::Queued {
            place: crate::queue::Position {
                position: 2,
                eta_seconds: 60,
                waiting: 3,
            },
        };
        let line = serde_json::to_string(&event).unwrap();
        assert!(line.starts_with("{\"event\":\"queued\""), "{line}");
        assert_eq!(read_event(&line).unwrap(), event);
        assert!(read_event("nonsense").is_err());
    }
}
