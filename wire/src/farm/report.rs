//! The admin reports (`docs/protocol.md` §5.10.4): the station report (the burner-farm
//! design's SREPORT / SLIST), the queue report (QREPORT / QLIST) and who is logged in
//! (WHO / WLIST), and the admin commands' replies.

use super::StationState;
use crate::command::Reply;
use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::limits::{MAX_FARM_TEXT_LEN, MAX_REPORT_ROWS};
use crate::link::bounded;
use crate::{Error, Result};

/// How the master sees a station (its own view, on top of what the station reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// Up, healthy, not reserved: the next BIND or queue head may get it.
    Free,
    /// Reserved by a user.
    Busy,
    /// Left out of BIND: missed heartbeats, a drive error, verify failures in a row, a
    /// station id conflict. The report's `reason` says which; it comes back by itself.
    Quarantined,
    /// No control link.
    Offline,
    /// An admin drained it: the running reservation goes on, no new one is made.
    Drained,
}

impl Condition {
    const ALL: [Condition; 5] = [
        Condition::Free,
        Condition::Busy,
        Condition::Quarantined,
        Condition::Offline,
        Condition::Drained,
    ];

    /// The code on the wire.
    pub fn code(self) -> u32 {
        match self {
            Condition::Free => 0,
            Condition::Busy => 1,
            Condition::Quarantined => 2,
            Condition::Offline => 3,
            Condition::Drained => 4,
        }
    }

    /// The word people read.
    pub fn word(self) -> &'static str {
        match self {
            Condition::Free => "free",
            Condition::Busy => "busy",
            Condition::Quarantined => "quarantined",
            Condition::Offline => "offline",
            Condition::Drained => "drained",
        }
    }
}

impl Encode for Condition {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.code());
    }
}

impl Decode for Condition {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let code: u32 = r.read()?;
        Condition::ALL
            .into_iter()
            .find(|c| c.code() == code)
            .ok_or(Error::InvalidValue {
                what: "condition",
                value: u64::from(code),
            })
    }
}

fn text(r: &mut Reader<'_>, what: &'static str) -> Result<String> {
    bounded(what, r.read()?, MAX_FARM_TEXT_LEN)
}

/// One station in the station report: `TQString name, TQString location, TQ_UINT32 type_id,
/// Condition condition, TQString reason, StationState state, TQString holder, TQ_UINT32
/// burns_today, TQ_UINT32 verify_failures_today`.
///
/// `reason` says why a station is quarantined or drained; `holder` is the principal holding
/// its reservation (empty if none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationReport {
    pub name: String,
    pub location: String,
    pub type_id: u32,
    pub condition: Condition,
    pub reason: String,
    pub state: StationState,
    pub holder: String,
    pub burns_today: u32,
    pub verify_failures_today: u32,
}

impl Encode for StationReport {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.name)
            .write(&self.location)
            .write(&self.type_id)
            .write(&self.condition)
            .write(&self.reason)
            .write(&self.state)
            .write(&self.holder)
            .write(&self.burns_today)
            .write(&self.verify_failures_today);
    }
}

impl Decode for StationReport {
    const MIN_LEN: usize = 4 * 5 + StationState::MIN_LEN + 4 * 3;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(StationReport {
            name: text(r, "station name")?,
            location: text(r, "location")?,
            type_id: r.read()?,
            condition: r.read()?,
            reason: text(r, "reason")?,
            state: r.read()?,
            holder: text(r, "holder")?,
            burns_today: r.read()?,
            verify_failures_today: r.read()?,
        })
    }
}

/// One waiting user in the queue report: `TQ_UINT32 position, TQString user, TQ_UINT32
/// type_id, TQString class, TQ_UINT32 drives, TQ_UINT32 waited_seconds, TQ_UINT32
/// eta_seconds, bool connected`.
///
/// `connected` is false for an entry whose client is away (after a master restart, or a lost
/// connection) and that keeps its place for the rejoin grace time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub position: u32,
    pub user: String,
    pub type_id: u32,
    pub class: String,
    pub drives: u32,
    pub waited_seconds: u32,
    pub eta_seconds: u32,
    pub connected: bool,
}

impl Encode for QueueEntry {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.position)
            .write(&self.user)
            .write(&self.type_id)
            .write(&self.class)
            .write(&self.drives)
            .write(&self.waited_seconds)
            .write(&self.eta_seconds)
            .write(&self.connected);
    }
}

impl Decode for QueueEntry {
    const MIN_LEN: usize = 4 * 7 + 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(QueueEntry {
            position: r.read()?,
            user: text(r, "user")?,
            type_id: r.read()?,
            class: text(r, "class")?,
            drives: r.read()?,
            waited_seconds: r.read()?,
            eta_seconds: r.read()?,
            connected: r.read()?,
        })
    }
}

/// One logged-in user: `TQString user, TQ_UINT32 connections, TQStringList stations,
/// TQString session_id, TQ_UINT32 held_seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoEntry {
    pub user: String,
    pub connections: u32,
    /// Names of the stations the user's reservation holds (empty without one).
    pub stations: Vec<String>,
    pub session_id: String,
    /// How long the reservation has been held (0 without one).
    pub held_seconds: u32,
}

impl Encode for WhoEntry {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.user)
            .write(&self.connections)
            .write(&self.stations)
            .write(&self.session_id)
            .write(&self.held_seconds);
    }
}

impl Decode for WhoEntry {
    const MIN_LEN: usize = 4 * 5;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let user = text(r, "user")?;
        let connections = r.read()?;
        let stations: Vec<String> = r.read()?;
        let stations = stations
            .into_iter()
            .map(|s| bounded("station name", s, MAX_FARM_TEXT_LEN))
            .collect::<Result<_>>()?;
        Ok(WhoEntry {
            user,
            connections,
            stations,
            session_id: text(r, "session id")?,
            held_seconds: r.read()?,
        })
    }
}

/// What the master answers an admin command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminReply {
    /// `SLIST TQValueList<StationReport>`, the answer to SREPORT.
    Stations(Vec<StationReport>),
    /// `QLIST TQValueList<QueueEntry>`, the answer to QREPORT, in queue order.
    Queue(Vec<QueueEntry>),
    /// `WLIST TQValueList<WhoEntry>`, the answer to WHO.
    Who(Vec<WhoEntry>),
    /// `DONE TQString what`: an action was taken (and audited); `what` says what it did.
    Done(String),
    /// ERRDENIED (not an admin; unknown station), ERRINVCMD.
    Refused(Reply),
}

fn rows<T>(rows: Vec<T>) -> Result<Vec<T>> {
    if rows.len() > MAX_REPORT_ROWS {
        return Err(Error::TooLarge {
            what: "report",
            len: rows.len() as u64,
            limit: MAX_REPORT_ROWS as u64,
        });
    }
    Ok(rows)
}

impl Encode for AdminReply {
    fn encode(&self, w: &mut Writer) {
        match self {
            AdminReply::Stations(rows) => {
                w.write("SLIST").write(rows);
            }
            AdminReply::Queue(rows) => {
                w.write("QLIST").write(rows);
            }
            AdminReply::Who(rows) => {
                w.write("WLIST").write(rows);
            }
            AdminReply::Done(what) => {
                w.write("DONE").write(what);
            }
            AdminReply::Refused(reply) => {
                w.write(reply);
            }
        }
    }
}

impl Decode for AdminReply {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut peek = r.clone();
        let word: String = peek.read()?;
        let reply = match word.as_str() {
            "SLIST" => AdminReply::Stations(rows(peek.read()?)?),
            "QLIST" => AdminReply::Queue(rows(peek.read()?)?),
            "WLIST" => AdminReply::Who(rows(peek.read()?)?),
            "DONE" => AdminReply::Done(text(&mut peek, "result")?),
            _ => return Ok(AdminReply::Refused(r.read()?)),
        };
        *r = peek;
        Ok(reply)
    }
}
