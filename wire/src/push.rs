//! Image push (`docs/protocol.md` §5.11): an admin sends a disc image to one station or to
//! every station of a type, streamed through the master in protected blocks.
//!
//! Two legs, each its own GSSAPI session, so every byte is sealed per link and the master
//! re-seals each block for each station (it never forwards a token):
//!
//! ```text
//! client ──PUSH [PushRequest]──► master ──link opening PUSH [PushOpen]──► station
//!        ◄──PUSHSTART from, targets──     ◄──PUSHREADY offset────────────
//!        ──DATA offset, bytes …──────►    ──DATA offset, bytes … (re-sealed)──►
//!        ◄──PUSHDONE targets──────────    ◄──PUSHED file | PUSHFAIL reason──
//! ```
//!
//! The image is never whole in memory: each `DATA` carries at most [`PUSH_CHUNK_LEN`] bytes,
//! and a receiver holds one chunk (plus, at the master, one queued chunk per station).
//! **Resume**: a station keeps the bytes of an interrupted push, keyed by the announced
//! SHA-256 and size, and answers a later push of the same image with the offset it has;
//! the client then sends from the smallest offset of all stations, and the master passes
//! each station only the bytes at or after its own offset.
//!
//! Everything here is sans-I/O: encoders, decoders with named bounds, and their errors.

use crate::burner::{Md5, Sha256};
use crate::command::Reply;
use crate::datastream::{ByteArray, Decode, Encode, Reader, Writer};
use crate::limits::{MAX_EXPORTED_NAME_LEN, MAX_FARM_TEXT_LEN, MAX_IMAGE_ID_LEN, MAX_MESSAGE_LEN};
use crate::link::bounded;
use crate::{Error, Result};

/// The push sub-protocol version this build speaks (in `PUSH` and in the station opening).
/// A receiver refuses any other with [`Error::UnsupportedVersion`].
pub const PUSH_VERSION: u32 = 1;

/// Image bytes in one `DATA` message: 512 KiB. With the word, the offset and the byte
/// array's length (28 bytes) a `DATA` stays far under [`MAX_MESSAGE_LEN`]; it bounds what a
/// receiver holds of the image at once (one chunk per link, plus one queued per station at
/// the master).
pub const PUSH_CHUNK_LEN: usize = 512 * 1024;

/// Bytes of a `DATA` message around its chunk: `TQString "DATA"` (12), `TQ_UINT64 offset`
/// (8), the `TQByteArray` length (4).
pub const DATA_OVERHEAD: usize = 12 + 8 + 4;

const _: () = assert!(PUSH_CHUNK_LEN + DATA_OVERHEAD <= MAX_MESSAGE_LEN);

/// Most stations one push reaches (a whole type): bounds the reply lists and the master's
/// queued chunks (two of [`PUSH_CHUNK_LEN`] per station: 64 MiB at most for one push).
pub const MAX_PUSH_TARGETS: usize = 64;

/// Longest shown name of a pushed image, in characters (the station's sidecar bound).
pub const MAX_PUSH_NAME_LEN: usize = 256;

/// Largest image a push may announce: 1 TiB. Stations bound it further by their
/// `[push] max_image_size`; this only refuses absurd sizes before anyone opens a file.
pub const MAX_PUSH_SIZE: u64 = 1 << 40;

/// Checks a pushed image's id. It becomes a file name in the station's catalog, so only
/// `A–Z a–z 0–9 . _ -`, not starting with a dot (dot files are the catalog's own: partial
/// pushes), 1 to [`MAX_IMAGE_ID_LEN`] characters.
pub fn check_push_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_IMAGE_ID_LEN
        && !id.starts_with('.')
        && !id.ends_with(".toml")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "pushed image id",
            value: id.len() as u64,
        })
    }
}

/// What is pushed: `TQString id, TQString name, bool restricted, bool replace,
/// TQ_UINT64 size, Sha256 sha256, Md5 md5`. `id` is the catalog id and file name
/// ([`check_push_id`]); `name`, `id` and `restricted` go into the sidecar; `replace` lets the
/// push replace a published image of the same id. The digests are the client's: the station
/// publishes only bytes that have both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushImage {
    pub id: String,
    pub name: String,
    pub restricted: bool,
    pub replace: bool,
    pub size: u64,
    pub sha256: Sha256,
    pub md5: Md5,
}

impl Encode for PushImage {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.id)
            .write(&self.name)
            .write(&self.restricted)
            .write(&self.replace)
            .write(&self.size)
            .write(&self.sha256)
            .write(&self.md5);
    }
}

impl Decode for PushImage {
    const MIN_LEN: usize = 4 + 4 + 1 + 1 + 8 + Sha256::MIN_LEN + Md5::MIN_LEN;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let id: String = r.read()?;
        check_push_id(&id)?;
        let name = bounded("image name", r.read()?, MAX_PUSH_NAME_LEN)?;
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(Error::InvalidValue {
                what: "image name",
                value: name.chars().count() as u64,
            });
        }
        let restricted = r.read()?;
        let replace = r.read()?;
        let size: u64 = r.read()?;
        if size == 0 || size > MAX_PUSH_SIZE {
            return Err(Error::InvalidValue {
                what: "image size",
                value: size,
            });
        }
        Ok(PushImage {
            id,
            name,
            restricted,
            replace,
            size,
            sha256: r.read()?,
            md5: r.read()?,
        })
    }
}

/// `PUSH TQ_UINT32 version, TQString station, TQ_UINT32 type_id, PushImage`: push to the
/// station named `station`, or (empty name) to every station of type `type_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    pub version: u32,
    pub station: String,
    pub type_id: u32,
    pub image: PushImage,
}

impl Encode for PushRequest {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.version)
            .write(&self.station)
            .write(&self.type_id)
            .write(&self.image);
    }
}

impl Decode for PushRequest {
    const MIN_LEN: usize = 4 + 4 + 4 + PushImage::MIN_LEN;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let version = push_version(r)?;
        Ok(PushRequest {
            version,
            station: bounded("station name", r.read()?, MAX_FARM_TEXT_LEN)?,
            type_id: r.read()?,
            image: r.read()?,
        })
    }
}

fn push_version(r: &mut Reader<'_>) -> Result<u32> {
    let version: u32 = r.read()?;
    if version != PUSH_VERSION {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: PUSH_VERSION,
        });
    }
    Ok(version)
}

/// The station link's `PUSH` opening (after the station's hello, like `SESSION`):
/// `TQ_UINT32 version, TQString user, TQByteArray user_exported, bool admin, PushImage`.
/// `admin` is the master's word that `user` is in its admin group; the station trusts it as
/// it trusts the identity block, and applies its `[push]` rules for admins or users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOpen {
    pub version: u32,
    pub user: String,
    pub user_exported: Vec<u8>,
    pub admin: bool,
    pub image: PushImage,
}

impl Encode for PushOpen {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.version)
            .write(&self.user)
            .write(&ByteArray(self.user_exported.clone()))
            .write(&self.admin)
            .write(&self.image);
    }
}

impl Decode for PushOpen {
    const MIN_LEN: usize = 4 + 4 + 4 + 1 + PushImage::MIN_LEN;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let version = push_version(r)?;
        let user = bounded("user", r.read()?, MAX_FARM_TEXT_LEN)?;
        let ByteArray(user_exported) = r.read()?;
        if user_exported.len() > MAX_EXPORTED_NAME_LEN {
            return Err(Error::TooLarge {
                what: "exported name",
                len: user_exported.len() as u64,
                limit: MAX_EXPORTED_NAME_LEN as u64,
            });
        }
        Ok(PushOpen {
            version,
            user,
            user_exported,
            admin: r.read()?,
            image: r.read()?,
        })
    }
}

/// `DATA TQ_UINT64 offset, TQByteArray bytes`: the image's bytes at `offset`, 1 to
/// [`PUSH_CHUNK_LEN`] of them. Chunks follow each other without gap or overlap; a receiver
/// checks `offset` against what it has (the sequence protection already forbids reordering,
/// this catches a sender's own mistake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushData {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl PushData {
    /// Encodes a chunk without taking ownership (the master sends one chunk to many
    /// stations).
    pub fn encode_slice(offset: u64, bytes: &[u8]) -> Vec<u8> {
        let mut w = Writer::with_capacity(DATA_OVERHEAD + bytes.len());
        PushData::write_parts(&mut w, offset, bytes);
        w.into_bytes()
    }

    fn write_parts(w: &mut Writer, offset: u64, bytes: &[u8]) {
        // A chunk is at most PUSH_CHUNK_LEN bytes, so its length always fits a u32.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        w.write("DATA").write(&offset).write(&len);
        w.put_bytes(bytes);
    }

    /// The offset just after this chunk.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.bytes.len() as u64)
    }
}

impl Encode for PushData {
    fn encode(&self, w: &mut Writer) {
        PushData::write_parts(w, self.offset, &self.bytes);
    }
}

impl PushData {
    /// Reads a `DATA` message without copying its bytes: the offset and the image's bytes,
    /// borrowed from `message` (the master forwards them, the station writes them). The same
    /// checks as decoding a [`PushData`], and nothing may follow the bytes.
    pub fn parse(message: &[u8]) -> Result<(u64, &[u8])> {
        let mut r = Reader::new(message);
        let parts = PushData::read_parts(&mut r)?;
        r.finish()?;
        Ok(parts)
    }

    fn read_parts<'a>(r: &mut Reader<'a>) -> Result<(u64, &'a [u8])> {
        let word: String = r.read()?;
        if word != "DATA" {
            return Err(Error::UnknownWord {
                what: "push message",
                len: word.chars().count(),
            });
        }
        let offset: u64 = r.read()?;
        let len: u32 = r.read()?;
        let len = len as usize;
        if len == 0 || len > PUSH_CHUNK_LEN {
            return Err(Error::TooLarge {
                what: "push chunk",
                len: len as u64,
                limit: PUSH_CHUNK_LEN as u64,
            });
        }
        Ok((offset, r.take(len)?))
    }
}

impl Decode for PushData {
    const MIN_LEN: usize = DATA_OVERHEAD;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let (offset, bytes) = PushData::read_parts(r)?;
        Ok(PushData {
            offset,
            bytes: bytes.to_vec(),
        })
    }
}

/// The station's answers on a push link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StationPushReply {
    /// `PUSHREADY TQ_UINT64 offset`: send the image from `offset` (0, or what an interrupted
    /// push left, checked by re-hashing it).
    Ready { offset: u64 },
    /// `PUSHED TQString file`: the image is in the catalog as `file` (after the last chunk,
    /// or at once when that very image is published under that id already).
    Stored { file: String },
    /// `PUSHFAIL TQString reason`: refused or failed; nothing was published.
    Failed { reason: String },
    /// `ERRINVCMD`: a station that does not know this link opening (a future one's answer
    /// to an opening newer than itself).
    Unknown,
}

impl Encode for StationPushReply {
    fn encode(&self, w: &mut Writer) {
        match self {
            StationPushReply::Ready { offset } => {
                w.write("PUSHREADY").write(offset);
            }
            StationPushReply::Stored { file } => {
                w.write("PUSHED").write(file);
            }
            StationPushReply::Failed { reason } => {
                w.write("PUSHFAIL").write(reason);
            }
            StationPushReply::Unknown => {
                w.write(&Reply::ErrInvCmd);
            }
        }
    }
}

impl Decode for StationPushReply {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "PUSHREADY" => Ok(StationPushReply::Ready { offset: r.read()? }),
            "PUSHED" => Ok(StationPushReply::Stored {
                file: bounded("file name", r.read()?, MAX_FARM_TEXT_LEN)?,
            }),
            "PUSHFAIL" => Ok(StationPushReply::Failed {
                reason: bounded("push failure", r.read()?, MAX_FARM_TEXT_LEN)?,
            }),
            "ERRINVCMD" => Ok(StationPushReply::Unknown),
            _ => Err(Error::UnknownReply),
        }
    }
}

/// What became of one station: `TQString station, TQ_UINT32 state, TQ_UINT64 offset,
/// TQString text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    pub station: String,
    pub state: TargetState,
    /// Where this station resumed (bytes it already had).
    pub offset: u64,
    /// Ready / stored: the file name; refused / failed: why.
    pub text: String,
}

/// A station's state in a push (`TQ_UINT32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// 0: takes the bytes from `offset`.
    Ready,
    /// 1: the image is published.
    Stored,
    /// 2: refused or failed; nothing published.
    Failed,
}

impl TargetState {
    fn code(self) -> u32 {
        match self {
            TargetState::Ready => 0,
            TargetState::Stored => 1,
            TargetState::Failed => 2,
        }
    }
}

impl Encode for PushTarget {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.station)
            .write(&self.state.code())
            .write(&self.offset)
            .write(&self.text);
    }
}

impl Decode for PushTarget {
    const MIN_LEN: usize = 4 + 4 + 8 + 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let station = bounded("station name", r.read()?, MAX_FARM_TEXT_LEN)?;
        let code: u32 = r.read()?;
        let state = match code {
            0 => TargetState::Ready,
            1 => TargetState::Stored,
            2 => TargetState::Failed,
            _ => {
                return Err(Error::InvalidValue {
                    what: "push target state",
                    value: u64::from(code),
                })
            }
        };
        Ok(PushTarget {
            station,
            state,
            offset: r.read()?,
            text: bounded("push target text", r.read()?, MAX_FARM_TEXT_LEN)?,
        })
    }
}

fn targets(r: &mut Reader<'_>) -> Result<Vec<PushTarget>> {
    let targets: Vec<PushTarget> = r.read()?;
    if targets.is_empty() || targets.len() > MAX_PUSH_TARGETS {
        return Err(Error::InvalidValue {
            what: "push targets",
            value: targets.len() as u64,
        });
    }
    Ok(targets)
}

/// The master's answers to `PUSH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushReply {
    /// `PUSHSTART TQ_UINT64 from, TQValueList<PushTarget>`: send `DATA` from `from` to the
    /// end (the smallest offset of the ready stations); each target is ready (with its
    /// offset) or failed already.
    Start { from: u64, targets: Vec<PushTarget> },
    /// `PUSHDONE TQValueList<PushTarget>`: each station stored or failed; the master's
    /// `image.push` record is durable. Sent right after PUSH when no station is ready.
    Done { targets: Vec<PushTarget> },
    /// ERRDENIED (not an admin, no such station or type), ERRINVCMD (an old master).
    Refused(Reply),
}

impl Encode for PushReply {
    fn encode(&self, w: &mut Writer) {
        match self {
            PushReply::Start { from, targets } => {
                w.write("PUSHSTART").write(from).write(targets);
            }
            PushReply::Done { targets } => {
                w.write("PUSHDONE").write(targets);
            }
            PushReply::Refused(reply) => {
                w.write(reply);
            }
        }
    }
}

impl Decode for PushReply {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let mut peek = r.clone();
        let word: String = peek.read()?;
        match word.as_str() {
            "PUSHSTART" => {
                *r = peek;
                Ok(PushReply::Start {
                    from: r.read()?,
                    targets: targets(r)?,
                })
            }
            "PUSHDONE" => {
                *r = peek;
                Ok(PushReply::Done {
                    targets: targets(r)?,
                })
            }
            _ => Ok(PushReply::Refused(r.read()?)),
        }
    }
}

#[cfg(test)]
mod tests;
