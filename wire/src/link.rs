//! The master–station link: the station's hello, what the master opens the link for (a user
//! session or the control link), and the control link's messages (copy grants, receipts,
//! reconciliation).
//!
//! The master is always the GSSAPI initiator towards a station (`docs/protocol.md` §4.4, §5.4).
//! Link protocol **version 2** replaced version 1's bare `OK` and its identity block with a
//! prior-burn list: copies are now counted by the master alone, from grants it hands out over
//! the control link (§5.9). A version-1 station answers the master's first read with a bare
//! `OK`, which decodes here as [`Error::UnsupportedVersion`] `{ found: 1 }`: the master names
//! the station and says it must be upgraded.
//!
//! Every message is one TQDataStream message in one protected block, starting with a `TQString`
//! tag word like the burner protocol (§6).

use crate::burner::{Receipt, Sha256};
use crate::command::Identity;
use crate::datastream::{ByteArray, Decode, Encode, Reader, Writer};
use crate::farm::StationState;
use crate::push::PushOpen;
use crate::{Error, Result};

/// The master–station link protocol this build speaks. Version 3 added the station's live
/// state (`WATCH` / `STATE`, §5.10.1); version 4 the station's policy digest (`POLICY`,
/// §5.9.1). Nothing else changed, so this master still serves version-2 and -3 stations
/// (without live state, without a digest), and asks only a version-4 station for its digest.
pub const LINK_VERSION: u32 = 4;

/// The first link version whose stations answer the master's `POLICY` with their digest.
pub const POLICY_LINK_VERSION: u32 = 4;

/// The oldest link protocol this build's master still accepts from a station.
pub const MIN_LINK_VERSION: u32 = 2;

/// The link's bounds live with every other bound in [`crate::limits`]; they are re-exported
/// here, where the link's callers have always found them.
pub use crate::limits::{
    COPY_ID_LEN, MAX_EXPORTED_NAME_LEN, MAX_HEARTBEAT_MS, MAX_LINK_TEXT_LEN, MAX_STATION_ID_LEN,
    MIN_HEARTBEAT_MS,
};

pub(crate) fn bounded(what: &'static str, s: String, limit: usize) -> Result<String> {
    let len = s.chars().count();
    if len > limit {
        return Err(Error::TooLarge {
            what,
            len: len as u64,
            limit: limit as u64,
        });
    }
    Ok(s)
}

/// A copy id: exactly 36 characters of lower-case hex digits and hyphens in UUID layout.
fn copy_id(s: String) -> Result<String> {
    let ok = s.len() == COPY_ID_LEN
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    if ok {
        Ok(s)
    } else {
        Err(Error::InvalidValue {
            what: "copy id",
            value: s.len() as u64,
        })
    }
}

/// The station's first message on every link, right after the GSSAPI handshake.
///
/// `TQString "OK", TQ_UINT32 version, TQString station_id`, or `TQString "ERRNOTAVL"` when the
/// station cannot serve (its drive or audit log is unusable). A bare `OK` is a version-1
/// station: [`Error::UnsupportedVersion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationHello {
    Ready { version: u32, station_id: String },
    NotAvailable,
}

impl StationHello {
    /// The hello this build sends.
    pub fn ready(station_id: &str) -> StationHello {
        StationHello::Ready {
            version: LINK_VERSION,
            station_id: station_id.to_owned(),
        }
    }
}

impl Encode for StationHello {
    fn encode(&self, w: &mut Writer) {
        match self {
            StationHello::Ready {
                version,
                station_id,
            } => {
                w.write("OK").write(version).write(station_id);
            }
            StationHello::NotAvailable => {
                w.write("ERRNOTAVL");
            }
        }
    }
}

impl Decode for StationHello {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "ERRNOTAVL" => Ok(StationHello::NotAvailable),
            "OK" if r.remaining() == 0 => Err(Error::UnsupportedVersion {
                found: 1,
                supported: LINK_VERSION,
            }),
            "OK" => {
                let version: u32 = r.read()?;
                if !(MIN_LINK_VERSION..=LINK_VERSION).contains(&version) {
                    return Err(Error::UnsupportedVersion {
                        found: version,
                        supported: LINK_VERSION,
                    });
                }
                let station_id: String = r.read()?;
                if station_id.is_empty() {
                    return Err(Error::InvalidValue {
                        what: "station id",
                        value: 0,
                    });
                }
                let station_id = bounded("station id", station_id, MAX_STATION_ID_LEN)?;
                Ok(StationHello::Ready {
                    version,
                    station_id,
                })
            }
            _ => Err(Error::UnknownReply),
        }
    }
}

/// What the master opens a link for, its first message after the station's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOpen {
    /// `TQString "SESSION"` + [`Identity`]: a user's module connection; pass-through follows.
    Session(Identity),
    /// `TQString "CONTROL"`: the master's control link (grants, receipts, reconciliation).
    Control,
    /// `TQString "PUSH"` + [`PushOpen`]: an image push (§5.11); the push sub-protocol
    /// follows. A station that does not know it closes the link (before this build) or
    /// answers `ERRINVCMD` (this build, to any opening it does not know).
    Push(Box<PushOpen>),
}

impl Encode for LinkOpen {
    fn encode(&self, w: &mut Writer) {
        match self {
            LinkOpen::Session(identity) => {
                w.write("SESSION").write(identity);
            }
            LinkOpen::Control => {
                w.write("CONTROL");
            }
            LinkOpen::Push(open) => {
                w.write("PUSH").write(&**open);
            }
        }
    }
}

impl Decode for LinkOpen {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "SESSION" => Ok(LinkOpen::Session(r.read()?)),
            "CONTROL" => Ok(LinkOpen::Control),
            "PUSH" => Ok(LinkOpen::Push(Box::new(r.read()?))),
            _ => Err(Error::UnknownCommand),
        }
    }
}

/// A station's request for permission to burn one copy (`GRANTREQ`).
///
/// `TQString copy_id, TQString session_id, TQString user, TQByteArray user_exported,
/// TQString image_id, TQString image_name, Sha256 sha256, TQ_UINT32 copy, TQ_UINT32 copies`.
/// `copy_id` is the copy's UUID, made by the station; the grant, the station's `burn.start`
/// and the copy's receipt all carry it, and quotas count it once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    pub copy_id: String,
    pub session_id: String,
    pub user: String,
    pub user_exported: Vec<u8>,
    pub image_id: String,
    pub image_name: String,
    pub sha256: Sha256,
    pub copy: u32,
    pub copies: u32,
}

impl Encode for GrantRequest {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.copy_id)
            .write(&self.session_id)
            .write(&self.user)
            .write(&ByteArray(self.user_exported.clone()))
            .write(&self.image_id)
            .write(&self.image_name)
            .write(&self.sha256)
            .write(&self.copy)
            .write(&self.copies);
    }
}

impl Decode for GrantRequest {
    const MIN_LEN: usize = 6 * 4 + Sha256::MIN_LEN + 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let copy_id = copy_id(r.read()?)?;
        let session_id = bounded("session id", r.read()?, MAX_LINK_TEXT_LEN)?;
        let user = bounded("user", r.read()?, MAX_LINK_TEXT_LEN)?;
        let ByteArray(user_exported) = r.read()?;
        if user_exported.is_empty() || user_exported.len() > MAX_EXPORTED_NAME_LEN {
            return Err(Error::TooLarge {
                what: "exported name",
                len: user_exported.len() as u64,
                limit: MAX_EXPORTED_NAME_LEN as u64,
            });
        }
        let image_id = bounded("image id", r.read()?, MAX_LINK_TEXT_LEN)?;
        let image_name = bounded("image name", r.read()?, MAX_LINK_TEXT_LEN)?;
        let sha256 = r.read()?;
        let copy: u32 = r.read()?;
        let copies: u32 = r.read()?;
        if copy == 0 || copy > copies {
            return Err(Error::InvalidValue {
                what: "copy number",
                value: u64::from(copy),
            });
        }
        Ok(GrantRequest {
            copy_id,
            session_id,
            user,
            user_exported,
            image_id,
            image_name,
            sha256,
            copy,
            copies,
        })
    }
}

/// Station → master on the control link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationMessage {
    /// `GRANTREQ` + [`GrantRequest`]: may this copy be burned?
    GrantRequest(GrantRequest),
    /// `RECEIPT` + [`Receipt`]: a `burn.receipt` the station wrote (pushed as it is written,
    /// and during a [`MasterMessage::Sync`]).
    Receipt(Receipt),
    /// `SYNCED TQ_UINT64 head_seq, Sha256 head_hash`: every receipt after the asked position
    /// was sent; the station's log ends at record `head_seq`, whose line hashes to `head_hash`
    /// (zeros for an empty log). The master's next SYNC starts there. The
    /// station's log ends at `head_seq`.
    Synced { head_seq: u64, head_hash: Sha256 },
    /// `PONG`: the answer to [`MasterMessage::Ping`].
    Pong,
    /// `STATE` + [`StationState`] (link version 3): what the station is doing, sent after
    /// WATCH, whenever it changes, and every heartbeat interval.
    State(StationState),
    /// `FINISHED TQString session_id` (link version 3): the answer to FINISH, once no copy of
    /// the session runs (at once if none did); no other copy of it will start.
    Finished { session_id: String },
    /// `POLICY Sha256 digest` (link version 4): the SHA-256 of the station's policy file, the
    /// answer to the master's `POLICY`, sent again on that link after each reload.
    Policy { digest: Sha256 },
}

impl StationMessage {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            StationMessage::GrantRequest(_) => "GRANTREQ",
            StationMessage::Receipt(_) => "RECEIPT",
            StationMessage::Synced { .. } => "SYNCED",
            StationMessage::Pong => "PONG",
            StationMessage::State(_) => "STATE",
            StationMessage::Finished { .. } => "FINISHED",
            StationMessage::Policy { .. } => "POLICY",
        }
    }
}

impl Encode for StationMessage {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        match self {
            StationMessage::GrantRequest(request) => {
                w.write(request);
            }
            StationMessage::Receipt(receipt) => {
                w.write(receipt);
            }
            StationMessage::Synced {
                head_seq,
                head_hash,
            } => {
                w.write(head_seq).write(head_hash);
            }
            StationMessage::Pong => {}
            StationMessage::State(state) => {
                w.write(state);
            }
            StationMessage::Finished { session_id } => {
                w.write(session_id);
            }
            StationMessage::Policy { digest } => {
                w.write(digest);
            }
        }
    }
}

impl Decode for StationMessage {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "GRANTREQ" => Ok(StationMessage::GrantRequest(r.read()?)),
            "RECEIPT" => Ok(StationMessage::Receipt(r.read()?)),
            "SYNCED" => Ok(StationMessage::Synced {
                head_seq: r.read()?,
                head_hash: r.read()?,
            }),
            "PONG" => Ok(StationMessage::Pong),
            "STATE" => Ok(StationMessage::State(r.read()?)),
            "FINISHED" => Ok(StationMessage::Finished {
                session_id: bounded("session id", r.read()?, MAX_LINK_TEXT_LEN)?,
            }),
            "POLICY" => Ok(StationMessage::Policy { digest: r.read()? }),
            _ => Err(Error::UnknownReply),
        }
    }
}

/// Master → station on the control link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterMessage {
    /// `GRANT TQString copy_id`: burn it; the copy is counted from now on.
    Grant { copy_id: String },
    /// `NOGRANT TQString copy_id, TQString reason`: do not burn it; `reason` is for the user.
    NoGrant { copy_id: String, reason: String },
    /// `SYNC TQ_UINT64 after_seq, Sha256 after_hash`: send every `burn.receipt` after the
    /// record `after_seq` (whose hash the master has as `after_hash`), then SYNCED. If the
    /// station's record `after_seq` does not have that hash (the log was replaced) or
    /// `after_seq` is 0, it sends every receipt its log holds.
    Sync { after_seq: u64, after_hash: Sha256 },
    /// `PING`: the link is alive; answered with PONG.
    Ping,
    /// `WATCH TQ_UINT32 heartbeat_ms` (link version 3): report your state now, on every
    /// change, and at least every `heartbeat_ms` milliseconds.
    Watch { heartbeat_ms: u32 },
    /// `FINISH TQString session_id` (link version 3): an admin released the station; let the
    /// session's running copy finish and start no other.
    Finish { session_id: String },
    /// `POLICY` (link version 4): report your policy digest now and after every reload, so
    /// the master can tell whether you run its policy. Sent only to a station whose hello
    /// says 4 or more (an older one does not know the word and would drop the link).
    Policy,
}

impl MasterMessage {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            MasterMessage::Grant { .. } => "GRANT",
            MasterMessage::NoGrant { .. } => "NOGRANT",
            MasterMessage::Sync { .. } => "SYNC",
            MasterMessage::Ping => "PING",
            MasterMessage::Watch { .. } => "WATCH",
            MasterMessage::Finish { .. } => "FINISH",
            MasterMessage::Policy => "POLICY",
        }
    }
}

impl Encode for MasterMessage {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        match self {
            MasterMessage::Grant { copy_id } => {
                w.write(copy_id);
            }
            MasterMessage::NoGrant { copy_id, reason } => {
                w.write(copy_id).write(reason);
            }
            MasterMessage::Sync {
                after_seq,
                after_hash,
            } => {
                w.write(after_seq).write(after_hash);
            }
            MasterMessage::Ping => {}
            MasterMessage::Watch { heartbeat_ms } => {
                w.write(heartbeat_ms);
            }
            MasterMessage::Finish { session_id } => {
                w.write(session_id);
            }
            MasterMessage::Policy => {}
        }
    }
}

impl Decode for MasterMessage {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "GRANT" => Ok(MasterMessage::Grant {
                copy_id: copy_id(r.read()?)?,
            }),
            "NOGRANT" => Ok(MasterMessage::NoGrant {
                copy_id: copy_id(r.read()?)?,
                reason: bounded("grant refusal", r.read()?, MAX_LINK_TEXT_LEN)?,
            }),
            "SYNC" => Ok(MasterMessage::Sync {
                after_seq: r.read()?,
                after_hash: r.read()?,
            }),
            "PING" => Ok(MasterMessage::Ping),
            "POLICY" => Ok(MasterMessage::Policy),
            "FINISH" => Ok(MasterMessage::Finish {
                session_id: bounded("session id", r.read()?, MAX_LINK_TEXT_LEN)?,
            }),
            "WATCH" => match r.read::<u32>()? {
                ms if (MIN_HEARTBEAT_MS..=MAX_HEARTBEAT_MS).contains(&ms) => {
                    Ok(MasterMessage::Watch { heartbeat_ms: ms })
                }
                ms => Err(Error::InvalidValue {
                    what: "heartbeat",
                    value: u64::from(ms),
                }),
            },
            _ => Err(Error::UnknownCommand),
        }
    }
}

#[cfg(test)]
mod tests;
