//! `burnstand admin …`: the lab staff's reports and actions (protocol.md §5.10.4), each one
//! command on a fresh connection, answered with one [`AdminReply`]. Only members of the
//! master's admin group get an answer; everyone else gets ERRDENIED (exit code 22).

use std::time::Duration;

use burnstand_wire::command::{Command, Reply};
use burnstand_wire::farm::{AdminReply, QueueEntry, StationReport, WhoEntry};
use serde::Serialize;

use crate::config::Settings;
use crate::master::MasterConnection;
use crate::output::{Output, Report};
use crate::progress::short_duration;
use crate::table::table;
use crate::ticket::Ticket;
use crate::ClientError;

/// An admin command, as the user typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCommand {
    Stations,
    Queue,
    QueueClear,
    Drain(String),
    Resume(String),
    Release(String),
    Who,
}

impl AdminCommand {
    /// The command on the wire.
    pub fn command(&self) -> Command {
        match self {
            AdminCommand::Stations => Command::StationReport,
            AdminCommand::Queue => Command::QueueReport,
            AdminCommand::QueueClear => Command::QueueClear,
            AdminCommand::Drain(s) => Command::Drain(s.clone()),
            AdminCommand::Resume(s) => Command::Resume(s.clone()),
            AdminCommand::Release(s) => Command::Release(s.clone()),
            AdminCommand::Who => Command::Who,
        }
    }

    /// What the user typed after `burnstand admin` (without the station).
    pub fn what(&self) -> &'static str {
        match self {
            AdminCommand::Stations => "stations",
            AdminCommand::Queue => "queue",
            AdminCommand::QueueClear => "queue clear",
            AdminCommand::Drain(_) => "drain",
            AdminCommand::Resume(_) => "resume",
            AdminCommand::Release(_) => "release",
            AdminCommand::Who => "who",
        }
    }

    /// The station it names, if any.
    pub fn station(&self) -> Option<&str> {
        match self {
            AdminCommand::Drain(s) | AdminCommand::Resume(s) | AdminCommand::Release(s) => Some(s),
            _ => None,
        }
    }
}

/// A station in the station report.
#[derive(Debug, Clone, Serialize)]
pub struct StationRow {
    pub name: String,
    pub location: String,
    pub type_id: u32,
    /// free, busy, quarantined, offline, drained.
    pub condition: String,
    /// Why it is quarantined or drained (may be empty).
    pub reason: String,
    /// What the station does, in one line ("burning exam-2025, copy 2 of 5, 40% (blank disc)").
    pub state: String,
    /// The principal holding it (empty if none).
    pub holder: String,
    pub burns_today: u32,
    pub verify_failures_today: u32,
}

impl From<&StationReport> for StationRow {
    fn from(s: &StationReport) -> Self {
        StationRow {
            name: s.name.clone(),
            location: s.location.clone(),
            type_id: s.type_id,
            condition: s.condition.word().to_owned(),
            reason: s.reason.clone(),
            state: s.state.describe(),
            holder: s.holder.clone(),
            burns_today: s.burns_today,
            verify_failures_today: s.verify_failures_today,
        }
    }
}

/// A waiting user in the queue report.
#[derive(Debug, Clone, Serialize)]
pub struct QueueRow {
    pub position: u32,
    pub user: String,
    pub type_id: u32,
    pub class: String,
    pub drives: u32,
    pub waited_seconds: u32,
    /// 0: no estimate.
    pub eta_seconds: u32,
    /// False while the user's client is away (the entry keeps its place for a grace time).
    pub connected: bool,
}

impl From<&QueueEntry> for QueueRow {
    fn from(q: &QueueEntry) -> Self {
        QueueRow {
            position: q.position,
            user: q.user.clone(),
            type_id: q.type_id,
            class: q.class.clone(),
            drives: q.drives,
            waited_seconds: q.waited_seconds,
            eta_seconds: q.eta_seconds,
            connected: q.connected,
        }
    }
}

/// A logged-in user.
#[derive(Debug, Clone, Serialize)]
pub struct WhoRow {
    pub user: String,
    pub connections: u32,
    pub stations: Vec<String>,
    pub session_id: String,
    pub held_seconds: u32,
}

impl From<&WhoEntry> for WhoRow {
    fn from(w: &WhoEntry) -> Self {
        WhoRow {
            user: w.user.clone(),
            connections: w.connections,
            stations: w.stations.clone(),
            session_id: w.session_id.clone(),
            held_seconds: w.held_seconds,
        }
    }
}

/// What an admin command printed; with --json `{"stations": […]}`, `{"queue": […]}`,
/// `{"who": […]}` or `{"done": {…}}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminReport {
    Stations(Vec<StationRow>),
    Queue(Vec<QueueRow>),
    Who(Vec<WhoRow>),
    Done {
        command: String,
        station: Option<String>,
        /// The master's words for what it did.
        result: String,
    },
}

fn seconds(s: u32) -> String {
    short_duration(Duration::from_secs(u64::from(s)))
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

impl Report for AdminReport {
    fn human(&self) -> String {
        match self {
            AdminReport::Stations(rows) if rows.is_empty() => {
                "the master has no stations configured".to_owned()
            }
            AdminReport::Stations(rows) => table(
                &[
                    "NAME",
                    "LOCATION",
                    "TYPE",
                    "CONDITION",
                    "STATE",
                    "HOLDER",
                    "BURNS TODAY",
                    "VERIFY FAILURES TODAY",
                ],
                &[2, 6, 7],
                rows.iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            or_dash(&s.location),
                            s.type_id.to_string(),
                            if s.reason.is_empty() {
                                s.condition.clone()
                            } else {
                                format!("{}: {}", s.condition, s.reason)
                            },
                            s.state.clone(),
                            or_dash(&s.holder),
                            s.burns_today.to_string(),
                            s.verify_failures_today.to_string(),
                        ]
                    })
                    .collect(),
            ),
            AdminReport::Queue(rows) if rows.is_empty() => "nobody is waiting".to_owned(),
            AdminReport::Queue(rows) => table(
                &[
                    "POS", "USER", "TYPE", "CLASS", "DRIVES", "WAITED", "ETA", "CLIENT",
                ],
                &[0, 2, 4],
                rows.iter()
                    .map(|q| {
                        vec![
                            q.position.to_string(),
                            q.user.clone(),
                            q.type_id.to_string(),
                            or_dash(&q.class),
                            q.drives.to_string(),
                            seconds(q.waited_seconds),
                            if q.eta_seconds == 0 {
                                "-".to_owned()
                            } else {
                                seconds(q.eta_seconds)
                            },
                            if q.connected {
                                "connected".to_owned()
                            } else {
                                "away (keeps its place)".to_owned()
                            },
                        ]
                    })
                    .collect(),
            ),
            AdminReport::Who(rows) if rows.is_empty() => "nobody is logged in".to_owned(),
            AdminReport::Who(rows) => table(
                &["USER", "CONNECTIONS", "STATIONS", "SESSION", "HELD"],
                &[1],
                rows.iter()
                    .map(|w| {
                        vec![
                            w.user.clone(),
                            w.connections.to_string(),
                            or_dash(&w.stations.join(", ")),
                            or_dash(&w.session_id),
                            if w.stations.is_empty() {
                                "-".to_owned()
                            } else {
                                seconds(w.held_seconds)
                            },
                        ]
                    })
                    .collect(),
            ),
            AdminReport::Done { result, .. } => result.clone(),
        }
    }
}

/// Sends `command` and reads the master's one answer.
pub async fn ask(
    master: &mut MasterConnection,
    command: &AdminCommand,
) -> Result<AdminReply, ClientError> {
    let wire = command.command();
    master.send(&wire).await?;
    master.reply::<AdminReply>(wire.word()).await
}

/// What the answer means for the user.
pub fn interpret(command: &AdminCommand, reply: AdminReply) -> Result<AdminReport, ClientError> {
    let unexpected = |word: &str| ClientError::Unexpected {
        peer: "the master",
        what: format!("{word} in answer to {}", command.command().word()),
    };
    match (command, reply) {
        (_, AdminReply::Refused(Reply::ErrDenied(reason))) => Err(ClientError::NotAdmin {
            what: command.what().to_owned(),
            station: command.station().map(str::to_owned),
            reason,
        }),
        (_, AdminReply::Refused(Reply::ErrInvCmd)) => Err(ClientError::OldMaster {
            what: format!(
                "`burnstand admin` needs {}, which this master does not know",
                command.command().word()
            ),
            advice: "ask the lab staff to update burnstand-master".into(),
        }),
        (_, AdminReply::Refused(other)) => Err(unexpected(other.word())),
        (AdminCommand::Stations, AdminReply::Stations(rows)) => Ok(AdminReport::Stations(
            rows.iter().map(StationRow::from).collect(),
        )),
        (AdminCommand::Queue, AdminReply::Queue(rows)) => Ok(AdminReport::Queue(
            rows.iter().map(QueueRow::from).collect(),
        )),
        (AdminCommand::Who, AdminReply::Who(rows)) => {
            Ok(AdminReport::Who(rows.iter().map(WhoRow::from).collect()))
        }
        (
            AdminCommand::QueueClear
            | AdminCommand::Drain(_)
            | AdminCommand::Resume(_)
            | AdminCommand::Release(_),
            AdminReply::Done(result),
        ) => Ok(AdminReport::Done {
            command: command.what().to_owned(),
            station: command.station().map(str::to_owned),
            result,
        }),
        (_, AdminReply::Stations(_)) => Err(unexpected("SLIST")),
        (_, AdminReply::Queue(_)) => Err(unexpected("QLIST")),
        (_, AdminReply::Who(_)) => Err(unexpected("WLIST")),
        (_, AdminReply::Done(_)) => Err(unexpected("DONE")),
    }
}

/// `burnstand admin …`: one command on a fresh connection, then close (no QUIT: the admin
/// may hold a reservation of their own in another burnstand).
pub async fn admin(
    settings: &Settings,
    command: &AdminCommand,
    out: &Output,
) -> Result<(), ClientError> {
    let ticket = Ticket::current()?;
    let mut master = MasterConnection::connect(settings, &ticket).await?;
    let reply = ask(&mut master, command).await;
    master.close();
    out.report(&interpret(command, reply?)?);
    Ok(())
}

pub mod push;

#[cfg(test)]
mod tests;
