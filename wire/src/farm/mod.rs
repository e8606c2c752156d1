//! The burner farm's extensions of command mode (`docs/protocol.md` §5.10): LIST with counts,
//! RESERVE (one or several stations, a named one, waiting in the queue, held across
//! commands), and the admin reports.
//!
//! Every extension is a new command word, so the nucleus (§4) stays as it is: an old master
//! answers a new word with ERRINVCMD and the client falls back to LIST / BIND; an old client
//! never sends one. Replies to the new words are their own types here, so no old decoder
//! ever sees a new reply word.

mod report;
mod state;

pub use report::{AdminReply, Condition, QueueEntry, StationReport, WhoEntry};
pub use state::{Activity, Medium, StationState};

use crate::command::{Reply, StationType};
use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::limits::{MAX_FARM_TEXT_LEN, MAX_JOB_DRIVES};
use crate::link::bounded;
use crate::{Error, Result};

/// The LISTX version this build speaks. The client asks with the highest it knows; the master
/// answers with the highest it knows that is not higher. Version 2 added the notes that say
/// why stations are out of use.
pub const LISTX_VERSION: u32 = 2;

/// Most notes per station type in a LISTX reply (one per station that is out; more are cut,
/// the counts still tell).
pub const MAX_LIST_NOTES: usize = 64;

/// One station type with its counts (LISTX version 1): `StationType type, TQ_UINT32 total,
/// TQ_UINT32 free, TQ_UINT32 busy, TQ_UINT32 quarantined, TQ_UINT32 queued`.
///
/// `total = free + busy + quarantined` (offline stations count as quarantined); `queued` is
/// the number of users waiting for this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedType {
    pub record: StationType,
    pub total: u32,
    pub free: u32,
    pub busy: u32,
    pub quarantined: u32,
    pub queued: u32,
    /// Version 2: why stations are out of use, one line each ("dvd-1: no heartbeat for
    /// 16s"); empty in version 1.
    pub notes: Vec<String>,
}

impl ListedType {
    fn encode_version(&self, w: &mut Writer, version: u32) {
        w.write(self);
        if version >= 2 {
            w.write(&self.notes);
        }
    }

    fn decode_version(r: &mut Reader<'_>, version: u32) -> Result<Self> {
        let mut listed: ListedType = r.read()?;
        if version >= 2 {
            let notes: Vec<String> = r.read()?;
            if notes.len() > MAX_LIST_NOTES {
                return Err(Error::TooLarge {
                    what: "list notes",
                    len: notes.len() as u64,
                    limit: MAX_LIST_NOTES as u64,
                });
            }
            listed.notes = notes
                .into_iter()
                .map(|n| bounded("list note", n, MAX_FARM_TEXT_LEN))
                .collect::<Result<_>>()?;
        }
        Ok(listed)
    }
}

impl Encode for ListedType {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.record)
            .write(&self.total)
            .write(&self.free)
            .write(&self.busy)
            .write(&self.quarantined)
            .write(&self.queued);
    }
}

impl Decode for ListedType {
    const MIN_LEN: usize = StationType::MIN_LEN + 5 * 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let listed = ListedType {
            record: r.read()?,
            total: r.read()?,
            free: r.read()?,
            busy: r.read()?,
            quarantined: r.read()?,
            queued: r.read()?,
            notes: Vec::new(),
        };
        let sum = u64::from(listed.free) + u64::from(listed.busy) + u64::from(listed.quarantined);
        if sum != u64::from(listed.total) {
            return Err(Error::InvalidValue {
                what: "station count",
                value: u64::from(listed.total),
            });
        }
        Ok(listed)
    }
}

/// The answer to `LISTX`: `TQString "LISTX", TQ_UINT32 version, TQValueList<ListedType>`,
/// each type in that version's layout (version 2 appends `TQStringList notes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListX {
    pub version: u32,
    pub types: Vec<ListedType>,
}

impl Encode for ListX {
    fn encode(&self, w: &mut Writer) {
        w.write("LISTX").write(&self.version);
        w.write(&u32::try_from(self.types.len()).unwrap_or(u32::MAX));
        for listed in &self.types {
            listed.encode_version(w, self.version);
        }
    }
}

impl Decode for ListX {
    const MIN_LEN: usize = 4 + 4 + 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        if word != "LISTX" {
            return Err(Error::UnknownReply);
        }
        let version: u32 = r.read()?;
        if version == 0 || version > LISTX_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: LISTX_VERSION,
            });
        }
        let count: u32 = r.read()?;
        // Each type takes at least its fixed fields: a lying count fails on the bytes.
        if count > crate::limits::MAX_LIST_LEN
            || count as usize > r.remaining() / ListedType::MIN_LEN.max(1)
        {
            return Err(Error::TooLarge {
                what: "station types",
                len: u64::from(count),
                limit: u64::from(crate::limits::MAX_LIST_LEN),
            });
        }
        let types = (0..count)
            .map(|_| ListedType::decode_version(r, version))
            .collect::<Result<_>>()?;
        Ok(ListX { version, types })
    }
}

/// RESERVE's flags.
pub mod flags {
    /// Wait in the queue when no station is free (else ERRUNAVAL at once).
    pub const WAIT: u32 = 1;
    /// Hold the reservation across commands: no idle timeout, it ends with QUIT, the loss of
    /// this connection, or the ticket (`burnstand reserve`).
    pub const HOLD: u32 = 2;
    /// Every flag this build knows; a RESERVE with any other bit is not a command.
    pub const KNOWN: u32 = WAIT | HOLD;
}

/// `RESERVE TQ_UINT32 type_id, TQString station, TQ_UINT32 drives, TQ_UINT32 flags`: reserve
/// `drives` stations of the type (a job's copies spread over them; at least one is enough),
/// or the station named `station` (then `drives` is 1), for this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserve {
    pub type_id: u32,
    /// A station's configured name, or empty for any station of the type.
    pub station: String,
    pub drives: u32,
    pub flags: u32,
}

impl Reserve {
    /// Whether the client waits in the queue.
    pub fn waits(&self) -> bool {
        self.flags & flags::WAIT != 0
    }

    /// Whether the reservation is held across commands.
    pub fn holds(&self) -> bool {
        self.flags & flags::HOLD != 0
    }
}

impl Encode for Reserve {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.type_id)
            .write(&self.station)
            .write(&self.drives)
            .write(&self.flags);
    }
}

impl Decode for Reserve {
    const MIN_LEN: usize = 4 * 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let type_id = r.read()?;
        let station = bounded("station name", r.read()?, MAX_FARM_TEXT_LEN)?;
        let drives: u32 = r.read()?;
        let flags: u32 = r.read()?;
        if drives == 0 || drives > MAX_JOB_DRIVES || (!station.is_empty() && drives != 1) {
            return Err(Error::InvalidValue {
                what: "drive count",
                value: u64::from(drives),
            });
        }
        if flags & !flags::KNOWN != 0 {
            return Err(Error::InvalidValue {
                what: "reserve flags",
                value: u64::from(flags),
            });
        }
        Ok(Reserve {
            type_id,
            station,
            drives,
            flags,
        })
    }
}

/// A station a RESERVE got: `TQString name, TQString location`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedStation {
    pub name: String,
    pub location: String,
}

impl Encode for ReservedStation {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.name).write(&self.location);
    }
}

impl Decode for ReservedStation {
    const MIN_LEN: usize = 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ReservedStation {
            name: bounded("station name", r.read()?, MAX_FARM_TEXT_LEN)?,
            location: bounded("location", r.read()?, MAX_FARM_TEXT_LEN)?,
        })
    }
}

/// What the master sends after RESERVE, and while the client waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveReply {
    /// `RESERVED TQString session_id, TQValueList<ReservedStation>`: the reservation is made
    /// (one to `drives` stations); this is now the container connection.
    Reserved {
        session_id: String,
        stations: Vec<ReservedStation>,
    },
    /// `QUEUED TQ_UINT32 position, TQ_UINT32 eta_seconds, TQ_UINT32 waiting`: in the queue
    /// (position 1 is next); sent when it is joined and whenever the position or the
    /// estimate changes. `eta_seconds` 0 means no estimate yet.
    Queued {
        position: u32,
        eta_seconds: u32,
        waiting: u32,
    },
    /// `LEFT`: the answer to LEAVE; the client is out of the queue and in command mode.
    Left,
    /// One of the nucleus's refusals: ERRUNAVAL (none free and no WAIT, or no healthy station
    /// of the type at all), ERRDENIED (policy, or the queue was cleared), ERRINVCMD.
    Refused(Reply),
}

impl Encode for ReserveReply {
    fn encode(&self, w: &mut Writer) {
        match self {
            ReserveReply::Reserved {
                session_id,
                stations,
            } => {
                w.write("RESERVED").write(session_id).write(stations);
            }
            ReserveReply::Queued {
                position,
                eta_seconds,
                waiting,
            } => {
                w.write("QUEUED")
                    .write(position)
                    .write(eta_seconds)
                    .write(waiting);
            }
            ReserveReply::Left => {
                w.write("LEFT");
            }
            ReserveReply::Refused(reply) => {
                w.write(reply);
            }
        }
    }
}

impl Decode for ReserveReply {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut peek = r.clone();
        let word: String = peek.read()?;
        match word.as_str() {
            "RESERVED" => {
                *r = peek;
                let session_id = bounded("session id", r.read()?, MAX_FARM_TEXT_LEN)?;
                let stations: Vec<ReservedStation> = r.read()?;
                if stations.is_empty() || stations.len() > MAX_JOB_DRIVES as usize {
                    return Err(Error::InvalidValue {
                        what: "reserved stations",
                        value: stations.len() as u64,
                    });
                }
                Ok(ReserveReply::Reserved {
                    session_id,
                    stations,
                })
            }
            "QUEUED" => {
                *r = peek;
                let position: u32 = r.read()?;
                let eta_seconds = r.read()?;
                let waiting: u32 = r.read()?;
                if position == 0 || position > waiting {
                    return Err(Error::InvalidValue {
                        what: "queue position",
                        value: u64::from(position),
                    });
                }
                Ok(ReserveReply::Queued {
                    position,
                    eta_seconds,
                    waiting,
                })
            }
            "LEFT" => {
                *r = peek;
                Ok(ReserveReply::Left)
            }
            _ => Ok(ReserveReply::Refused(r.read()?)),
        }
    }
}

#[cfg(test)]
mod tests;
