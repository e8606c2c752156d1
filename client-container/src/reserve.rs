//! Reserving a station on a container connection (protocol.md §5.10): LISTX, pick the type,
//! RESERVE (waiting in the queue when asked to), or LIST and BIND on a master that predates
//! the burner farm.
//!
//! ```text
//! client                                master
//! LISTX 1                      ──►
//!                              ◄──  LISTX 1 [types with counts]     (old master: ERRINVCMD → LIST, BIND)
//! RESERVE type "" 1 WAIT       ──►
//!                              ◄──  QUEUED 2 300 5                  zero or more, on each change
//!                              ◄──  RESERVED session [name, location]
//! Ctrl-C while queued: LEAVE   ──►
//!                              ◄──  LEFT                            (QUEUED may come first; RESERVED
//!                                                                    before LEFT: QUIT releases it)
//! ```
//!
//! Everything here takes the [`MasterConnection`] it works on, so a test can drive the steps
//! against a master of its own.

use std::time::Duration;

use burnstand_wire::command::Reply;
use burnstand_wire::command::{Command, StationType};
use burnstand_wire::datastream::from_bytes;
use burnstand_wire::farm::{flags, Reserve, ReserveReply, ReservedStation};

use crate::listing::{list_types, Listing};
use crate::master::MasterConnection;
use crate::queue::{busy_question, Position, QueueUi, WaitChoice};
use crate::reservation::select_type;
use crate::signals::Stop;
use crate::ClientError;

/// After LEAVE, how long to wait for LEFT.
pub const LEAVE_WAIT: Duration = Duration::from_secs(5);

/// How long a client that lost the master while queued keeps trying to come back. The
/// master keeps an away entry's place for its `queue.rejoin_grace` (2 minutes by default).
pub const REJOIN_FOR: Duration = Duration::from_secs(120);

/// First pause before reconnecting to rejoin the queue; doubled up to [`REJOIN_MAX_PAUSE`].
pub const REJOIN_FIRST_PAUSE: Duration = Duration::from_secs(1);

/// Longest pause between attempts to rejoin.
pub const REJOIN_MAX_PAUSE: Duration = Duration::from_secs(8);

/// What a lost queue wait needs to connect again.
#[derive(Clone, Copy)]
pub struct Rejoin<'a> {
    pub settings: &'a crate::config::Settings,
    pub ticket: &'a crate::ticket::Ticket,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// `--type`: a station type id or name.
    pub station_type: Option<String>,
    /// `--station`: one station by its configured name.
    pub station: Option<String>,
    pub wait: WaitChoice,
    /// How many stations to reserve for one job (`burn --copies N`): one by default, at most
    /// [`MAX_JOB_DRIVES`]; always one with `station`.
    pub drives: u32,
}

impl Default for Want {
    /// Any station of the only type, one drive, asking when all are busy.
    fn default() -> Self {
        Want {
            station_type: None,
            station: None,
            wait: WaitChoice::default(),
            drives: 1,
        }
    }
}

/// The most stations one RESERVE may ask for (protocol.md §5.10.3).
pub const MAX_JOB_DRIVES: u32 = 16;

impl Want {
    /// The `drives` RESERVE asks for: 1 ..= [`MAX_JOB_DRIVES`], and 1 for a named station.
    pub fn drives_to_ask(&self) -> u32 {
        if self.station.is_some() {
            1
        } else {
            self.drives.clamp(1, MAX_JOB_DRIVES)
        }
    }
}

/// A reservation RESERVE made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub session_id: String,
    pub stations: Vec<ReservedStation>,
}

/// What the container connection holds after [`reserve_station`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub station_type: StationType,
    /// From RESERVE; `None` after BIND (an old master), which names no station.
    pub reserved: Option<Reserved>,
}

/// How one RESERVE ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Reserved(Reserved),
    /// ERRUNAVAL: none free, and not waiting; with the master's request_delay (seconds), if
    /// it sent one.
    Busy {
        retry_in: Option<u32>,
    },
    /// ERRINVCMD: the master predates RESERVE; the connection is still in command mode.
    OldMaster,
    /// The connection was lost while queued (the master restarted, the network dropped):
    /// the master keeps the place for a while. A master shutting down says how long to stay
    /// away first (its request_delay, seconds).
    Lost {
        reason: String,
        retry_in: Option<u32>,
    },
    /// Stopped (Ctrl-C) while waiting: LEAVE was sent.
    Left {
        /// LEFT came within [`LEAVE_WAIT`].
        confirmed: bool,
        /// A station was reserved just before the LEAVE arrived, and QUIT released it (the
        /// connection is closed then).
        released: bool,
    },
}

/// The whole reservation on a fresh connection: LISTX (or LIST), the type `want` names,
/// RESERVE — with HOLD when `hold` — waiting or asking as `want.wait` says; BIND on an old
/// master (which cannot hold, queue or name a station).
///
/// On an error the connection holds nothing (close it without QUIT).
pub async fn reserve_station(
    master: &mut MasterConnection,
    want: &Want,
    hold: bool,
    ui: &mut dyn QueueUi,
    stop: &mut Stop,
    rejoin: Option<Rejoin<'_>>,
) -> Result<Got, ClientError> {
    let listing = list_types(master).await?;
    let station_type = select_type(&listing.types, want.station_type.as_deref())?.clone();
    if !listing.is_farm() {
        return bind_old(master, station_type, want, hold, ui).await;
    }
    let mut wait = want.wait == WaitChoice::Wait;
    loop {
        if wait {
            stop.arm_ctrl_c()?;
        }
        let request = Reserve {
            type_id: station_type.id,
            station: want.station.clone().unwrap_or_default(),
            drives: want.drives_to_ask(),
            flags: if wait { flags::WAIT } else { 0 } | if hold { flags::HOLD } else { 0 },
        };
        match reserve(master, &request, &station_type.name, ui, stop).await? {
            Step::Reserved(reserved) => {
                return Ok(Got {
                    station_type,
                    reserved: Some(reserved),
                })
            }
            Step::OldMaster => return bind_old(master, station_type, want, hold, ui).await,
            Step::Busy { retry_in } => {
                // Fresh counts for the question and the message; the first ones are a guess.
                let fresh = list_types(master).await.ok();
                let counts = fresh
                    .as_ref()
                    .and_then(|l| l.counts_of(station_type.id))
                    .or_else(|| listing.counts_of(station_type.id));
                let usable = counts.map_or(1, |c| c.total.saturating_sub(c.quarantined));
                if want.wait == WaitChoice::Ask && !wait && usable > 0 {
                    let question =
                        busy_question(&station_type.name, counts, want.station.as_deref());
                    if ui.ask(&question) == Some(true) {
                        wait = true;
                        continue;
                    }
                }
                return Err(busy_error(
                    &station_type,
                    &listing,
                    fresh.as_ref(),
                    want,
                    retry_in,
                ));
            }
            Step::Left {
                confirmed,
                released,
            } => return Err(left_error(confirmed, released)),
            Step::Lost { reason, retry_in } => {
                let Some(rejoin) = rejoin else {
                    return Err(ClientError::ConnectionLost(reason));
                };
                let first_pause = first_rejoin_pause(retry_in);
                ui.note(&match retry_in {
                    None => format!(
                        "lost the master while waiting ({reason}); reconnecting to keep your place in the queue"
                    ),
                    Some(seconds) => format!(
                        "the master closed the wait and asks you to come back in {seconds} s (it is restarting); reconnecting then to keep your place in the queue"
                    ),
                });
                *master = reconnect(rejoin, stop, first_pause).await?;
                wait = true;
            }
        }
    }
}

/// The first pause before reconnecting after a lost queue wait: the master's request_delay
/// if it sent one (never more than the protocol's bound), else [`REJOIN_FIRST_PAUSE`].
pub fn first_rejoin_pause(retry_in: Option<u32>) -> Duration {
    retry_in.map_or(REJOIN_FIRST_PAUSE, |seconds| {
        let bounded = seconds.min(burnstand_wire::limits::MAX_REQUEST_DELAY_SECS);
        Duration::from_secs(u64::from(bounded)).max(REJOIN_FIRST_PAUSE)
    })
}

/// Connects again after a lost queue wait, first after `first_pause`, then with back-off,
/// for at most [`REJOIN_FOR`] after that first pause; Ctrl-C stops trying.
async fn reconnect(
    rejoin: Rejoin<'_>,
    stop: &mut Stop,
    first_pause: Duration,
) -> Result<MasterConnection, ClientError> {
    let give_up = tokio::time::Instant::now() + first_pause + REJOIN_FOR;
    let mut pause = first_pause;
    loop {
        tokio::select! {
            () = stop.recv() => {
                return Err(ClientError::Interrupted(
                    "interrupted (Ctrl-C) while reconnecting: your place in the queue lapses".into(),
                ))
            }
            () = tokio::time::sleep(pause) => {}
        }
        match MasterConnection::connect(rejoin.settings, rejoin.ticket).await {
            Ok(mut master) => {
                // The same listing as the first time: the master may be another version now.
                if list_types(&mut master).await.is_ok() {
                    return Ok(master);
                }
            }
            Err(e) if tokio::time::Instant::now() >= give_up => return Err(e),
            Err(_) => {}
        }
        pause = (pause * 2).min(REJOIN_MAX_PAUSE.max(first_pause));
    }
}

fn busy_error(
    station_type: &StationType,
    first: &Listing,
    fresh: Option<&Listing>,
    want: &Want,
    retry_in: Option<u32>,
) -> ClientError {
    match &want.station {
        Some(station) => ClientError::StationBusy {
            station: station.clone(),
            type_name: station_type.name.clone(),
            retry_in,
        },
        None => ClientError::NoFreeStation {
            type_id: station_type.id,
            type_name: station_type.name.clone(),
            busy: fresh
                .and_then(|l| l.counts_of(station_type.id))
                .or_else(|| first.counts_of(station_type.id))
                .map(|c| c.busy),
            retry_in,
        },
    }
}

/// The Ctrl-C error after a queue wait.
pub fn left_error(confirmed: bool, released: bool) -> ClientError {
    let what = match (confirmed, released) {
        (_, true) => "left the queue; a station came free just then and was released again",
        (true, false) => "left the queue",
        (false, false) => "left the queue (the master did not confirm in time; it drops you when it reads the LEAVE or your connection is gone for long enough)",
    };
    ClientError::Interrupted(format!("interrupted (Ctrl-C): {what}"))
}

/// An old master: BIND, as before the burner farm; what only RESERVE can do is refused.
async fn bind_old(
    master: &mut MasterConnection,
    station_type: StationType,
    want: &Want,
    hold: bool,
    ui: &mut dyn QueueUi,
) -> Result<Got, ClientError> {
    if hold {
        return Err(ClientError::OldMaster {
            what: "`burnstand reserve` needs RESERVE, which this master does not know".into(),
            advice: "`burnstand burn`, `images`, `status` and `eject` still work: each reserves a station for itself".into(),
        });
    }
    if want.station.is_some() {
        return Err(ClientError::OldMaster {
            what: "--station needs RESERVE, which this master does not know".into(),
            advice: "leave out --station: burnstand then takes the first free station of the type"
                .into(),
        });
    }
    if want.wait == WaitChoice::Wait {
        ui.note("note: this master has no queue (it predates the burner farm): --wait cannot wait");
    }
    master.bind(&station_type).await?;
    Ok(Got {
        station_type,
        reserved: None,
    })
}

/// Sends `request` and follows the answers: RESERVED, a refusal, or QUEUED messages (shown
/// through `ui`) until RESERVED. `stop` (Ctrl-C) while waiting sends LEAVE.
pub async fn reserve(
    master: &mut MasterConnection,
    request: &Reserve,
    type_name: &str,
    ui: &mut dyn QueueUi,
    stop: &mut Stop,
) -> Result<Step, ClientError> {
    master.send(&Command::Reserve(request.clone())).await?;
    let mut queued = false;
    loop {
        // The first answer comes at once; after QUEUED the next may take hours.
        let received = tokio::select! {
            () = stop.recv() => return leave(master).await,
            bytes = async {
                if queued {
                    master.recv_bytes().await
                } else {
                    master.reply_bytes("RESERVE").await
                }
            } => bytes,
        };
        let bytes = match received {
            Ok(bytes) => bytes,
            Err(e @ (ClientError::ConnectionLost(_) | ClientError::Connection(_))) if queued => {
                return Ok(Step::Lost {
                    reason: e.to_string(),
                    retry_in: master.request_delay(),
                })
            }
            Err(e) => return Err(e),
        };
        match decode(&bytes)? {
            ReserveReply::Reserved {
                session_id,
                stations,
            } => {
                return Ok(Step::Reserved(Reserved {
                    session_id,
                    stations,
                }))
            }
            ReserveReply::Queued {
                position,
                eta_seconds,
                waiting,
            } => {
                queued = true;
                ui.queued(&Position {
                    position,
                    eta_seconds,
                    waiting,
                });
            }
            ReserveReply::Refused(Reply::ErrUnaval) if !queued => {
                return Ok(Step::Busy {
                    retry_in: master.request_delay(),
                })
            }
            ReserveReply::Refused(Reply::ErrInvCmd) if !queued => return Ok(Step::OldMaster),
            ReserveReply::Refused(Reply::ErrDenied(reason)) if queued => {
                return Err(ClientError::QueueEnded(reason))
            }
            ReserveReply::Refused(Reply::ErrDenied(reason)) => {
                // A full queue asks to come back later (DELAY before the ERRDENIED).
                let reason = match master.request_delay() {
                    Some(seconds) => format!(
                        "{reason} (the master asks you to try again in {seconds} s, not sooner)"
                    ),
                    None => reason,
                };
                return Err(ClientError::Denied {
                    type_name: type_name.to_owned(),
                    reason,
                });
            }
            other => {
                return Err(ClientError::Unexpected {
                    peer: "the master",
                    what: format!("{} in answer to RESERVE", word(&other)),
                })
            }
        }
    }
}

/// LEAVE, then wait (at most [`LEAVE_WAIT`]) for LEFT. A RESERVED that crossed the LEAVE is
/// released with QUIT.
pub async fn leave(master: &mut MasterConnection) -> Result<Step, ClientError> {
    if master.send(&Command::Leave).await.is_err() {
        return Ok(Step::Left {
            confirmed: false,
            released: false,
        });
    }
    let deadline = tokio::time::Instant::now() + LEAVE_WAIT;
    loop {
        let bytes = match tokio::time::timeout_at(deadline, master.recv_bytes()).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) | Err(_) => {
                return Ok(Step::Left {
                    confirmed: false,
                    released: false,
                })
            }
        };
        match decode(&bytes) {
            Ok(ReserveReply::Left) => {
                return Ok(Step::Left {
                    confirmed: true,
                    released: false,
                })
            }
            Ok(ReserveReply::Reserved { .. }) => {
                let released = master.send_quit().await.is_ok();
                return Ok(Step::Left {
                    confirmed: true,
                    released,
                });
            }
            // LEAVE when not (or no longer) queued: nothing to leave.
            Ok(ReserveReply::Refused(Reply::ErrInvCmd)) => {
                return Ok(Step::Left {
                    confirmed: true,
                    released: false,
                })
            }
            // QUEUED, or RESERVE's own answer that crossed the LEAVE: LEFT follows.
            Ok(_) | Err(_) => {}
        }
    }
}

fn decode(bytes: &[u8]) -> Result<ReserveReply, ClientError> {
    from_bytes::<ReserveReply>(bytes).map_err(|e| ClientError::Unexpected {
        peer: "the master",
        what: format!("an answer to RESERVE burnstand cannot read ({e})"),
    })
}

fn word(reply: &ReserveReply) -> &'static str {
    match reply {
        ReserveReply::Reserved { .. } => "RESERVED",
        ReserveReply::Queued { .. } => "QUEUED",
        ReserveReply::Left => "LEFT",
        ReserveReply::Refused(reply) => reply.word(),
    }
}
