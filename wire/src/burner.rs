//! The burner protocol: what a user's burner module and a burner station say to each other
//! once the master has opened the pass-through (seed 000's "IF BURNER" dialogue).
//!
//! Seed 000 sketches a tab-separated text protocol (`CAPAB`, `CAP`, `BURN`, `STATUS 50%`,
//! `STATUS MD5-pass/fail`, `Tray Open`, `AVAIL/EMPTY`, `WHATIS`/`INFO`, `ERROR`); seed 003
//! asks every link to use TQDataStream where possible. So each message here keeps the seed's
//! tag word, as a `TQString`, followed by typed TQDataStream fields, one message per protected
//! block. [`Request`]s go from the module to the station, [`Event`]s from the station to the
//! module, either as a reply or pushed (progress, the verify result, tray and medium changes).
//! `docs/protocol.md` §6 specifies every message with hex examples; the tests below are
//! those examples.
//!
//! Decoding is "parse, don't validate": a decoded value is always meaningful (a percentage is
//! at most 100, a digest has its exact length, a copy count is in range), and anything else is
//! a precise [`Error`]. No message carries image bytes: a station can describe an image by its
//! digests and burn it, but the protocol has no way to send one back.

use std::fmt;

use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::{Error, Result};

/// Most copies one BURN may ask for: a station burns them one after the other, so this only
/// bounds how long a single request can keep a drive.
pub const MAX_COPIES: u32 = 99;

/// Longest image id, in characters. Ids are catalog keys chosen by operators, never paths.
pub const MAX_IMAGE_ID_LEN: usize = 128;

// --- digests ----------------------------------------------------------------------------------

/// Writes `bytes` as lowercase hex into a `String`.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Parses exactly `N` bytes of lowercase hex. Upper case is refused so that every digest has
/// one spelling (logs, audit records and `md5sum` output all use lower case).
fn from_hex<const N: usize>(what: &'static str, s: &str) -> Result<[u8; N]> {
    let bytes = s.as_bytes();
    if bytes.len() != N * 2 {
        return Err(Error::InvalidValue {
            what,
            value: bytes.len() as u64,
        });
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(Error::InvalidValue {
            what,
            value: u64::from(c),
        }),
    };
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(out)
}

macro_rules! digest {
    ($(#[$doc:meta])* $name:ident, $len:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Parses lowercase hex of exactly the digest's length.
            pub fn from_hex(s: &str) -> Result<Self> {
                from_hex::<$len>($what, s).map($name)
            }

            /// Lowercase hex, as `md5sum`/`sha256sum` print it.
            pub fn to_hex(&self) -> String {
                to_hex(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        /// A `TQString` of lowercase hex digits.
        impl Encode for $name {
            fn encode(&self, w: &mut Writer) {
                w.write(self.to_hex().as_str());
            }
        }

        /// A `TQString` of exactly the digest's length in lowercase hex; anything else is
        /// [`Error::InvalidValue`] (the length, or the offending character's code).
        impl Decode for $name {
            const MIN_LEN: usize = 4 + 4 * $len;
            fn decode(r: &mut Reader<'_>) -> Result<Self> {
                let s: String = r.read()?;
                $name::from_hex(&s)
            }
        }
    };
}

digest!(
    /// An MD5 digest (16 bytes), on the wire as 32 lowercase hex digits in a `TQString`. Seed
    /// 000 names MD5 as the image hash and the verify check, so burns are verified with it.
    Md5,
    16,
    "md5 hex digest"
);

digest!(
    /// A SHA-256 digest (32 bytes), on the wire as 64 lowercase hex digits in a `TQString`: the
    /// collision-resistant name of an image in the catalog and the audit log.
    Sha256,
    32,
    "sha256 hex digest"
);

// --- small values -----------------------------------------------------------------------------

/// A percentage, 0 to 100 inclusive: `TQ_UINT8`. A byte above 100 is [`Error::InvalidValue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(u8);

impl Percent {
    /// Nothing done yet.
    pub const ZERO: Percent = Percent(0);
    /// Done.
    pub const FULL: Percent = Percent(100);

    /// `value` if it is at most 100.
    pub fn new(value: u8) -> Option<Percent> {
        (value <= 100).then_some(Percent(value))
    }

    /// `done` out of `total`, rounded down and clamped to 0..=100; a `total` of 0 is 0 %.
    pub fn of(done: u64, total: u64) -> Percent {
        if total == 0 {
            return Percent::ZERO;
        }
        let p = (u128::from(done) * 100 / u128::from(total)).min(100);
        Percent(u8::try_from(p).unwrap_or(100))
    }

    /// The value, 0..=100.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Encode for Percent {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.0);
    }
}

impl Decode for Percent {
    const MIN_LEN: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let v: u8 = r.read()?;
        Percent::new(v).ok_or(Error::InvalidValue {
            what: "percent",
            value: v.into(),
        })
    }
}

/// Declares a fieldless enum carried as a case-sensitive `TQString` word. An unknown word is
/// [`Error::UnknownWord`] with the word's length in characters (the error type carries
/// numbers, not peer text).
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The word on the wire.
            pub fn word(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }

            /// The value for a wire word, if it is one.
            pub fn from_word(word: &str) -> Option<Self> {
                match word {
                    $($word => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }

        impl Encode for $name {
            fn encode(&self, w: &mut Writer) {
                w.write(self.word());
            }
        }

        impl Decode for $name {
            const MIN_LEN: usize = 4;
            fn decode(r: &mut Reader<'_>) -> Result<Self> {
                let word: String = r.read()?;
                $name::from_word(&word).ok_or(Error::UnknownWord {
                    what: $what,
                    len: word.chars().count(),
                })
            }
        }
    };
}

word_enum!(
    /// What kind of discs the station's drive writes (seed 000: "CD/DVD burner").
    DriveKind, "drive kind" {
        /// CD-R/RW.
        Cd = "CD",
        /// DVD±R/RW (and CD).
        Dvd = "DVD",
        /// Blu-ray (and DVD, CD).
        Bd = "BD",
    }
);

word_enum!(
    /// The state of the medium in the drive, as far as the drive can tell.
    MediumState, "medium state" {
        /// A blank disc: ready to burn.
        Blank = "BLANK",
        /// A disc with data on it. Burnable only if the medium is rewritable (see
        /// [`MediumInfo::rewritable`]).
        Written = "WRITTEN",
        /// No disc in the drive.
        Absent = "ABSENT",
        /// The tray is open.
        TrayOpen = "TRAYOPEN",
        /// The drive could not tell (it is busy burning, or it did not answer).
        Unknown = "UNKNOWN",
    }
);

word_enum!(
    /// Which part of a burn a [`Progress`] report is about.
    Phase, "phase" {
        /// xorriso is writing the image to the disc.
        Writing = "WRITING",
        /// The station reads the disc back and computes its MD5.
        Verifying = "VERIFYING",
    }
);

word_enum!(
    /// The class of an [`ErrorReport`], for programs; people read its text.
    ErrorCode, "error code" {
        /// The request could not be decoded or is not allowed now.
        BadRequest = "BADREQUEST",
        /// No image with that id is offered to this user.
        UnknownImage = "UNKNOWNIMAGE",
        /// The user may not burn this image.
        Denied = "DENIED",
        /// The drive is held by another burn.
        Busy = "BUSY",
        /// No burnable disc is in the drive (no disc, tray open, a finished disc).
        NoMedium = "NOMEDIUM",
        /// The image does not fit on the disc.
        NoSpace = "NOSPACE",
        /// CANCEL while this session has no burn running.
        NotBurning = "NOTBURNING",
        /// The burn or the read-back failed.
        BurnFailed = "BURNFAILED",
        /// Tray or drive operation failed.
        DriveFailed = "DRIVEFAILED",
        /// The station cannot work right now (its audit log failed, it is shutting down).
        Unavailable = "UNAVAILABLE",
    }
);

/// Checks an image id: 1 to [`MAX_IMAGE_ID_LEN`] characters.
fn check_image_id(id: &str) -> Result<()> {
    let len = id.chars().count();
    if len == 0 {
        return Err(Error::InvalidValue {
            what: "image id length",
            value: 0,
        });
    }
    if len > MAX_IMAGE_ID_LEN {
        return Err(Error::TooLarge {
            what: "image id",
            len: len as u64,
            limit: MAX_IMAGE_ID_LEN as u64,
        });
    }
    Ok(())
}

/// Checks a copy count: 1 to [`MAX_COPIES`].
fn check_copies(copies: u32) -> Result<()> {
    if copies == 0 {
        return Err(Error::InvalidValue {
            what: "copies",
            value: 0,
        });
    }
    if copies > MAX_COPIES {
        return Err(Error::TooLarge {
            what: "copies",
            len: copies.into(),
            limit: MAX_COPIES.into(),
        });
    }
    Ok(())
}

/// Checks that `copy` (1-based) is one of `copies`.
fn check_copy(copy: u32, copies: u32) -> Result<()> {
    check_copies(copies)?;
    if copy == 0 || copy > copies {
        return Err(Error::InvalidValue {
            what: "copy number",
            value: copy.into(),
        });
    }
    Ok(())
}

// --- records ----------------------------------------------------------------------------------

/// One image the station offers to this user: `TQString id, TQString name, TQ_UINT64 size,
/// TQString sha256, TQString md5, bool restricted`.
///
/// `restricted` images may be burned but never read back; the protocol has no message that
/// carries image bytes, so for this protocol the flag is information for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub sha256: Sha256,
    pub md5: Md5,
    pub restricted: bool,
}

impl Encode for ImageInfo {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.id)
            .write(&self.name)
            .write(&self.size)
            .write(&self.sha256)
            .write(&self.md5)
            .write(&self.restricted);
    }
}

impl Decode for ImageInfo {
    const MIN_LEN: usize = 4 + 4 + 8 + Sha256::MIN_LEN + Md5::MIN_LEN + 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let id: String = r.read()?;
        check_image_id(&id)?;
        Ok(ImageInfo {
            id,
            name: r.read()?,
            size: r.read()?,
            sha256: r.read()?,
            md5: r.read()?,
            restricted: r.read()?,
        })
    }
}

/// The answer to CAPAB (seed 000 "CAP"): `TQString station_id, TQString friendly_name,
/// DriveKind drive, MediumState medium, TQValueList<ImageInfo> images`.
///
/// `station_id` is stable across restarts (seed 000: "something identifiable"), so displays
/// can follow a station even when its connection drops. `images` lists only what this
/// session's user may burn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub station_id: String,
    pub friendly_name: String,
    pub drive: DriveKind,
    pub medium: MediumState,
    pub images: Vec<ImageInfo>,
}

impl Encode for Capabilities {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.station_id)
            .write(&self.friendly_name)
            .write(&self.drive)
            .write(&self.medium)
            .write(&self.images);
    }
}

impl Decode for Capabilities {
    const MIN_LEN: usize = 4 * 5;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Capabilities {
            station_id: r.read()?,
            friendly_name: r.read()?,
            drive: r.read()?,
            medium: r.read()?,
            images: r.read()?,
        })
    }
}

/// The answer to WHATIS (seed 000 "INFO"): `MediumState state, TQString profile,
/// bool rewritable, TQ_UINT64 used_bytes, TQ_UINT64 free_bytes`.
///
/// `profile` is the drive's own description of the medium (e.g. "DVD+RW", "stdio file,
/// overwriteable"); sizes are what the drive reports, 0 when it cannot tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediumInfo {
    pub state: MediumState,
    pub profile: String,
    pub rewritable: bool,
    pub used_bytes: u64,
    pub free_bytes: u64,
}

impl MediumInfo {
    /// Whether a burn can start on this medium: blank, or written but rewritable.
    pub fn is_burnable(&self) -> bool {
        match self.state {
            MediumState::Blank => true,
            MediumState::Written => self.rewritable,
            MediumState::Absent | MediumState::TrayOpen | MediumState::Unknown => false,
        }
    }
}

impl Encode for MediumInfo {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.state)
            .write(&self.profile)
            .write(&self.rewritable)
            .write(&self.used_bytes)
            .write(&self.free_bytes);
    }
}

impl Decode for MediumInfo {
    const MIN_LEN: usize = 4 + 4 + 1 + 8 + 8;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(MediumInfo {
            state: r.read()?,
            profile: r.read()?,
            rewritable: r.read()?,
            used_bytes: r.read()?,
            free_bytes: r.read()?,
        })
    }
}

/// A progress report pushed during a burn (seed 000 "STATUS 50%"): `Phase phase,
/// TQ_UINT32 copy, TQ_UINT32 copies, TQ_UINT8 percent`. `copy` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    pub copy: u32,
    pub copies: u32,
    pub percent: Percent,
}

impl Encode for Progress {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.phase)
            .write(&self.copy)
            .write(&self.copies)
            .write(&self.percent);
    }
}

impl Decode for Progress {
    const MIN_LEN: usize = 4 + 4 + 4 + 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let phase = r.read()?;
        let copy = r.read()?;
        let copies = r.read()?;
        check_copy(copy, copies)?;
        Ok(Progress {
            phase,
            copy,
            copies,
            percent: r.read()?,
        })
    }
}

/// The end of one copy (seed 000 "STATUS MD5-pass/fail"): `TQ_UINT32 copy, TQ_UINT32 copies,
/// TQString image_id, bool passed, TQ_UINT64 bytes, TQString image_sha256, TQString image_md5,
/// TQString readback_md5`.
///
/// `readback_md5` is the MD5 of exactly `bytes` (the image's length) read back from the disc:
/// a disc is always larger than the image (padding, rounding to sectors), so hashing the
/// whole disc would never match. `passed` is `readback_md5 == image_md5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyResult {
    pub copy: u32,
    pub copies: u32,
    pub image_id: String,
    pub passed: bool,
    pub bytes: u64,
    pub image_sha256: Sha256,
    pub image_md5: Md5,
    pub readback_md5: Md5,
}

impl Encode for VerifyResult {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.copy)
            .write(&self.copies)
            .write(&self.image_id)
            .write(&self.passed)
            .write(&self.bytes)
            .write(&self.image_sha256)
            .write(&self.image_md5)
            .write(&self.readback_md5);
    }
}

impl Decode for VerifyResult {
    const MIN_LEN: usize = 4 + 4 + 4 + 1 + 8 + Sha256::MIN_LEN + 2 * Md5::MIN_LEN;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let copy = r.read()?;
        let copies = r.read()?;
        check_copy(copy, copies)?;
        let image_id: String = r.read()?;
        check_image_id(&image_id)?;
        Ok(VerifyResult {
            copy,
            copies,
            image_id,
            passed: r.read()?,
            bytes: r.read()?,
            image_sha256: r.read()?,
            image_md5: r.read()?,
            readback_md5: r.read()?,
        })
    }
}

/// An error a person can act on (seed 000 "ERROR"): `ErrorCode code, TQString text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    pub code: ErrorCode,
    pub text: String,
}

impl ErrorReport {
    /// An error with `code` and the human-readable `text`.
    pub fn new(code: ErrorCode, text: impl Into<String>) -> Self {
        ErrorReport {
            code,
            text: text.into(),
        }
    }
}

impl fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.text)
    }
}

impl Encode for ErrorReport {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.code).write(&self.text);
    }
}

impl Decode for ErrorReport {
    const MIN_LEN: usize = 4 + 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ErrorReport {
            code: r.read()?,
            text: r.read()?,
        })
    }
}

// --- messages ---------------------------------------------------------------------------------

/// A message from the burner module to the station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CAPAB`: what can you burn? Answered with [`Event::Cap`].
    Capab,
    /// `WHATIS`: what disc is in the drive? Answered with [`Event::Info`].
    WhatIs,
    /// `BURN TQString image_id, TQ_UINT32 copies`: burn `copies` discs of the image, one after
    /// the other. Answered with progress ([`Event::Status`]) and one [`Event::Verify`] per
    /// copy, or an [`Event::Error`].
    Burn { image_id: String, copies: u32 },
    /// `OPEN`: open the tray. Answered with [`Event::TrayOpen`] or an error.
    Open,
    /// `CANCEL`: stop this session's burn. Answered with [`Event::Cancelled`] once the burner
    /// process is gone, or an error if nothing was running.
    Cancel,
}

impl Request {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            Request::Capab => "CAPAB",
            Request::WhatIs => "WHATIS",
            Request::Burn { .. } => "BURN",
            Request::Open => "OPEN",
            Request::Cancel => "CANCEL",
        }
    }
}

impl Encode for Request {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        if let Request::Burn { image_id, copies } = self {
            w.write(image_id).write(copies);
        }
    }
}

/// An unknown tag word is [`Error::UnknownRequest`].
impl Decode for Request {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "CAPAB" => Ok(Request::Capab),
            "WHATIS" => Ok(Request::WhatIs),
            "BURN" => {
                let image_id: String = r.read()?;
                check_image_id(&image_id)?;
                let copies = r.read()?;
                check_copies(copies)?;
                Ok(Request::Burn { image_id, copies })
            }
            "OPEN" => Ok(Request::Open),
            "CANCEL" => Ok(Request::Cancel),
            _ => Err(Error::UnknownRequest),
        }
    }
}

/// A message from the station to the burner module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `CAP` + [`Capabilities`]: the answer to CAPAB.
    Cap(Capabilities),
    /// `INFO` + [`MediumInfo`]: the answer to WHATIS.
    Info(MediumInfo),
    /// `STATUS` + [`Progress`]: pushed while a burn runs; `WRITING 0 %` acknowledges a BURN.
    Status(Progress),
    /// `VERIFY` + [`VerifyResult`]: a copy is done, with its MD5 pass or fail.
    Verify(VerifyResult),
    /// `TRAYOPEN`: the tray was opened (after OPEN, or after a burn).
    TrayOpen,
    /// `AVAIL`: a burnable disc is in the drive. Pushed after a burn and while idle.
    Avail,
    /// `EMPTY`: no burnable disc is in the drive. Pushed after a burn and while idle.
    Empty,
    /// `CANCELLED`: the burn was stopped and its burner process is gone; the drive is free.
    Cancelled,
    /// `ERROR` + [`ErrorReport`].
    Error(ErrorReport),
    /// `RECEIPT` + [`Receipt`]: one copy's audit record, sent once it is durable.
    Receipt(Receipt),
}

impl Event {
    /// The tag word on the wire.
    pub fn word(&self) -> &'static str {
        match self {
            Event::Cap(_) => "CAP",
            Event::Info(_) => "INFO",
            Event::Status(_) => "STATUS",
            Event::Verify(_) => "VERIFY",
            Event::TrayOpen => "TRAYOPEN",
            Event::Avail => "AVAIL",
            Event::Empty => "EMPTY",
            Event::Cancelled => "CANCELLED",
            Event::Error(_) => "ERROR",
            Event::Receipt(_) => "RECEIPT",
        }
    }

    /// Shorthand for an [`Event::Error`].
    pub fn error(code: ErrorCode, text: impl Into<String>) -> Self {
        Event::Error(ErrorReport::new(code, text))
    }
}

impl Encode for Event {
    fn encode(&self, w: &mut Writer) {
        w.write(self.word());
        match self {
            Event::Cap(cap) => {
                w.write(cap);
            }
            Event::Info(info) => {
                w.write(info);
            }
            Event::Status(progress) => {
                w.write(progress);
            }
            Event::Verify(result) => {
                w.write(result);
            }
            Event::Error(report) => {
                w.write(report);
            }
            Event::Receipt(receipt) => {
                w.write(receipt);
            }
            Event::TrayOpen | Event::Avail | Event::Empty | Event::Cancelled => {}
        }
    }
}

/// Longest receipt line, in characters: the audit log's own bound on a record
/// (`burnstand_audit::MAX_RECORD_LEN`, 64 KiB), so every record the station can write fits,
/// and a receipt costs at most 128 KiB of UTF-16 in one message.
pub const MAX_RECEIPT_LEN: usize = 64 * 1024;

/// The receipt of one copy: `TQ_UINT64 seq, Sha256 hash, TQString line`.
///
/// `line` is the station's `burn.receipt` audit record exactly as written (JSON, without the
/// newline); `seq` is its place in the station's log and `hash` the SHA-256 of `line`, which
/// is the next record's `prev`. A user who keeps the line can later show that the station's
/// log holds it byte for byte (`burnstand audit verify LOG --receipt FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub seq: u64,
    pub hash: Sha256,
    pub line: String,
}

impl Encode for Receipt {
    fn encode(&self, w: &mut Writer) {
        w.write(&self.seq).write(&self.hash).write(&self.line);
    }
}

impl Decode for Receipt {
    const MIN_LEN: usize = 8 + Sha256::MIN_LEN + 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let seq = r.read()?;
        let hash = r.read()?;
        let line: String = r.read()?;
        if line.is_empty() {
            return Err(Error::EmptyReceipt);
        }
        let len = line.chars().count();
        if len > MAX_RECEIPT_LEN {
            return Err(Error::TooLarge {
                what: "receipt line",
                len: len as u64,
                limit: MAX_RECEIPT_LEN as u64,
            });
        }
        Ok(Receipt { seq, hash, line })
    }
}

/// An unknown tag word is [`Error::UnknownEvent`].
impl Decode for Event {
    const MIN_LEN: usize = 4;
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let word: String = r.read()?;
        match word.as_str() {
            "CAP" => Ok(Event::Cap(r.read()?)),
            "INFO" => Ok(Event::Info(r.read()?)),
            "STATUS" => Ok(Event::Status(r.read()?)),
            "VERIFY" => Ok(Event::Verify(r.read()?)),
            "TRAYOPEN" => Ok(Event::TrayOpen),
            "AVAIL" => Ok(Event::Avail),
            "EMPTY" => Ok(Event::Empty),
            "CANCELLED" => Ok(Event::Cancelled),
            "ERROR" => Ok(Event::Error(r.read()?)),
            "RECEIPT" => Ok(Event::Receipt(r.read()?)),
            _ => Err(Error::UnknownEvent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datastream::{from_bytes, to_bytes};

    fn hex(bytes: &[u8]) -> String {
        to_hex(bytes)
    }

    fn unhex(s: &str) -> Vec<u8> {
        let clean: String = s.split_whitespace().collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
            .collect()
    }

    /// md5("") and sha256(""): well-known vectors, handy as fixed digests.
    fn md5_empty() -> Md5 {
        Md5::from_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap()
    }
    fn sha256_empty() -> Sha256 {
        Sha256::from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            .unwrap()
    }

    fn round_trip_request(req: Request) {
        let bytes = to_bytes(&req);
        assert_eq!(from_bytes::<Request>(&bytes).unwrap(), req);
    }

    fn round_trip_event(ev: Event) {
        let bytes = to_bytes(&ev);
        assert_eq!(from_bytes::<Event>(&bytes).unwrap(), ev);
    }

    #[test]
    fn receipt_bytes_and_bounds() {
        let receipt = Receipt {
            seq: 5,
            hash: sha256_empty(),
            line: "{}".into(),
        };
        let bytes = to_bytes(&Event::Receipt(receipt.clone()));
        let expected = concat!(
            "0000000e 0052004500430045004900500054", // "RECEIPT"
            "0000000000000005",                      // seq 5
            "00000080",                              // hash: 64 hex characters…
        );
        let clean: String = expected.split_whitespace().collect();
        assert!(hex(&bytes).starts_with(&clean), "{}", hex(&bytes));
        assert!(hex(&bytes).ends_with("00000004007b007d"), "{}", hex(&bytes)); // "{}"
        round_trip_event(Event::Receipt(receipt.clone()));
        let with_line = |line: String| {
            to_bytes(&Event::Receipt(Receipt {
                line,
                ..receipt.clone()
            }))
        };
        assert!(matches!(
            from_bytes::<Event>(&with_line(String::new())),
            Err(Error::EmptyReceipt)
        ));
        assert!(matches!(
            from_bytes::<Event>(&with_line("x".repeat(MAX_RECEIPT_LEN + 1))),
            Err(Error::TooLarge {
                what: "receipt line",
                ..
            })
        ));
    }

    #[test]
    fn capab_bytes() {
        // "CAPAB" as a TQString: 10 bytes of UTF-16BE.
        assert_eq!(
            hex(&to_bytes(&Request::Capab)),
            "0000000a00430041005000410042"
        );
        assert_eq!(
            hex(&to_bytes(&Request::Cancel)),
            "0000000c00430041004e00430045004c"
        );
    }

    #[test]
    fn tag_only_messages_bytes() {
        let h = |e: &Event| hex(&to_bytes(e));
        assert_eq!(
            hex(&to_bytes(&Request::WhatIs)),
            "0000000c005700480041005400490053"
        );
        assert_eq!(hex(&to_bytes(&Request::Open)), "00000008004f00500045004e");
        assert_eq!(
            h(&Event::TrayOpen),
            "000000100054005200410059004f00500045004e"
        );
        assert_eq!(h(&Event::Avail), "0000000a0041005600410049004c");
        assert_eq!(h(&Event::Empty), "0000000a0045004d005000540059");
        assert_eq!(
            h(&Event::Cancelled),
            "0000001200430041004e00430045004c004c00450044"
        );
    }

    #[test]
    fn info_bytes() {
        let info = Event::Info(MediumInfo {
            state: MediumState::Blank,
            profile: "DVD+RW".into(),
            rewritable: true,
            used_bytes: 0,
            free_bytes: 4_700_372_992,
        });
        let expected = [
            "00000008",
            "0049004e0046004f",                 // "INFO"
            "0000000a0042004c0041004e004b",     // "BLANK"
            "0000000c004400560044002b00520057", // "DVD+RW"
            "01",                               // rewritable
            "0000000000000000",                 // used
            "00000001182a0000",                 // free: 4,700,372,992 (a DVD±R)
        ]
        .concat();
        assert_eq!(hex(&to_bytes(&info)), expected);
        round_trip_event(info);
    }

    #[test]
    fn burn_bytes() {
        let burn = Request::Burn {
            image_id: "exam".into(),
            copies: 2,
        };
        let expected = concat!(
            "00000008",
            "004200550052004e", // "BURN"
            "00000008",
            "006500780061006d", // "exam"
            "00000002",         // copies
        );
        assert_eq!(hex(&to_bytes(&burn)), expected);
        assert_eq!(from_bytes::<Request>(&unhex(expected)).unwrap(), burn);
    }

    #[test]
    fn status_bytes() {
        let status = Event::Status(Progress {
            phase: Phase::Writing,
            copy: 1,
            copies: 1,
            percent: Percent::new(50).unwrap(),
        });
        let expected = concat!(
            "0000000c",
            "005300540041005400550053", // "STATUS"
            "0000000e",
            "00570052004900540049004e0047", // "WRITING"
            "00000001",
            "00000001", // copy 1 of 1
            "32",       // 50 %
        );
        assert_eq!(hex(&to_bytes(&status)), expected);
        assert_eq!(from_bytes::<Event>(&unhex(expected)).unwrap(), status);
    }

    #[test]
    fn digests_are_lowercase_hex_tqstrings() {
        let bytes = to_bytes(&md5_empty());
        assert_eq!(&bytes[..4], &[0, 0, 0, 64]);
        assert_eq!(hex(&bytes[4..8]), "00640034"); // "d4"
        assert_eq!(from_bytes::<Md5>(&bytes).unwrap(), md5_empty());
        assert_eq!(md5_empty().to_string(), "d41d8cd98f00b204e9800998ecf8427e");
        // Upper case, wrong length and non-hex are refused with the precise reason.
        assert!(matches!(
            Md5::from_hex("D41D8CD98F00B204E9800998ECF8427E"),
            Err(Error::InvalidValue {
                what: "md5 hex digest",
                value: 0x44
            })
        ));
        assert!(matches!(
            from_bytes::<Md5>(&to_bytes("d41d")),
            Err(Error::InvalidValue {
                what: "md5 hex digest",
                value: 4
            })
        ));
        assert!(matches!(
            Sha256::from_hex(&"g".repeat(64)),
            Err(Error::InvalidValue {
                what: "sha256 hex digest",
                value: 0x67
            })
        ));
    }

    #[test]
    fn verify_bytes() {
        let verify = Event::Verify(VerifyResult {
            copy: 1,
            copies: 1,
            image_id: "a".into(),
            passed: true,
            bytes: 4_697_620_480,
            image_sha256: sha256_empty(),
            image_md5: md5_empty(),
            readback_md5: md5_empty(),
        });
        let bytes = to_bytes(&verify);
        let md5_field = hex(&to_bytes(&md5_empty()));
        let sha_field = hex(&to_bytes(&sha256_empty()));
        let want = [
            "0000000c005600450052004900460059", // "VERIFY"
            "0000000100000001",                 // copy 1 of 1
            "000000020061",                     // "a"
            "01",                               // passed
            "0000000118000000",                 // 4.7 GB
            &sha_field,
            &md5_field,
            &md5_field,
        ]
        .concat();
        assert_eq!(hex(&bytes), want);
        round_trip_event(verify);
    }

    #[test]
    fn error_bytes() {
        let err = Event::error(ErrorCode::Busy, "x");
        let expected = concat!(
            "0000000a",
            "004500520052004f0052", // "ERROR"
            "00000008",
            "0042005500530059", // "BUSY"
            "00000002",
            "0078", // "x"
        );
        assert_eq!(hex(&to_bytes(&err)), expected);
        round_trip_event(err);
    }

    #[test]
    fn every_message_round_trips() {
        round_trip_request(Request::Capab);
        round_trip_request(Request::WhatIs);
        round_trip_request(Request::Burn {
            image_id: "💿 exam".into(),
            copies: MAX_COPIES,
        });
        round_trip_request(Request::Open);
        round_trip_request(Request::Cancel);
        let image = ImageInfo {
            id: "exam-2025".into(),
            name: "Exam 2025".into(),
            size: 3_377_152,
            sha256: sha256_empty(),
            md5: md5_empty(),
            restricted: true,
        };
        for drive in DriveKind::ALL {
            for medium in MediumState::ALL {
                round_trip_event(Event::Cap(Capabilities {
                    station_id: "st-1".into(),
                    friendly_name: "Lab 2".into(),
                    drive: *drive,
                    medium: *medium,
                    images: vec![image.clone(), image.clone()],
                }));
            }
        }
        round_trip_event(Event::Info(MediumInfo {
            state: MediumState::Written,
            profile: "DVD+RW".into(),
            rewritable: true,
            used_bytes: 1,
            free_bytes: u64::MAX,
        }));
        for phase in Phase::ALL {
            round_trip_event(Event::Status(Progress {
                phase: *phase,
                copy: 2,
                copies: 3,
                percent: Percent::FULL,
            }));
        }
        for ev in [
            Event::TrayOpen,
            Event::Avail,
            Event::Empty,
            Event::Cancelled,
        ] {
            round_trip_event(ev);
        }
        for code in ErrorCode::ALL {
            round_trip_event(Event::error(*code, "text"));
        }
    }

    #[test]
    fn percent_above_100_is_invalid() {
        let mut bytes = to_bytes(&Event::Status(Progress {
            phase: Phase::Verifying,
            copy: 1,
            copies: 1,
            percent: Percent::FULL,
        }));
        *bytes.last_mut().unwrap() = 101;
        assert!(matches!(
            from_bytes::<Event>(&bytes),
            Err(Error::InvalidValue {
                what: "percent",
                value: 101
            })
        ));
        assert_eq!(Percent::new(101), None);
        assert_eq!(Percent::of(1, 3).get(), 33);
        assert_eq!(Percent::of(5, 3), Percent::FULL);
        assert_eq!(Percent::of(5, 0), Percent::ZERO);
        assert_eq!(Percent::of(u64::MAX, u64::MAX), Percent::FULL);
    }

    #[test]
    fn copies_and_ids_are_bounded() {
        let zero = to_bytes(&Request::Burn {
            image_id: "a".into(),
            copies: 0,
        });
        assert!(matches!(
            from_bytes::<Request>(&zero),
            Err(Error::InvalidValue {
                what: "copies",
                value: 0
            })
        ));
        let many = to_bytes(&Request::Burn {
            image_id: "a".into(),
            copies: MAX_COPIES + 1,
        });
        assert!(matches!(
            from_bytes::<Request>(&many),
            Err(Error::TooLarge { what: "copies", .. })
        ));
        let empty = to_bytes(&Request::Burn {
            image_id: String::new(),
            copies: 1,
        });
        assert!(matches!(
            from_bytes::<Request>(&empty),
            Err(Error::InvalidValue {
                what: "image id length",
                value: 0
            })
        ));
        let long = to_bytes(&Request::Burn {
            image_id: "x".repeat(MAX_IMAGE_ID_LEN + 1),
            copies: 1,
        });
        assert!(matches!(
            from_bytes::<Request>(&long),
            Err(Error::TooLarge {
                what: "image id",
                ..
            })
        ));
        // A progress report for copy 3 of 2 is nonsense.
        let mut w = Writer::new();
        w.write("STATUS")
            .write(&Phase::Writing)
            .write(&3u32)
            .write(&2u32)
            .write(&Percent::ZERO);
        assert!(matches!(
            from_bytes::<Event>(&w.into_bytes()),
            Err(Error::InvalidValue {
                what: "copy number",
                value: 3
            })
        ));
    }

    #[test]
    fn unknown_words_are_precise_errors() {
        assert!(matches!(
            from_bytes::<Request>(&to_bytes("capab")),
            Err(Error::UnknownRequest)
        ));
        assert!(matches!(
            from_bytes::<Request>(&to_bytes("GET")),
            Err(Error::UnknownRequest)
        ));
        assert!(matches!(
            from_bytes::<Event>(&to_bytes("DATA")),
            Err(Error::UnknownEvent)
        ));
        let mut w = Writer::new();
        w.write("ERROR").write("OOPS").write("text");
        assert!(matches!(
            from_bytes::<Event>(&w.into_bytes()),
            Err(Error::UnknownWord {
                what: "error code",
                len: 4
            })
        ));
        // Requests without their fields, or with extra bytes, are refused.
        assert!(matches!(
            from_bytes::<Request>(&to_bytes("BURN")),
            Err(Error::Truncated { .. })
        ));
        let mut bytes = to_bytes(&Request::WhatIs);
        bytes.push(0);
        assert!(matches!(
            from_bytes::<Request>(&bytes),
            Err(Error::TrailingData { extra: 1 })
        ));
    }

    #[test]
    fn burnable_media() {
        let info = |state, rewritable| MediumInfo {
            state,
            profile: String::new(),
            rewritable,
            used_bytes: 0,
            free_bytes: 0,
        };
        assert!(info(MediumState::Blank, false).is_burnable());
        assert!(info(MediumState::Written, true).is_burnable());
        assert!(!info(MediumState::Written, false).is_burnable());
        assert!(!info(MediumState::Absent, true).is_burnable());
        assert!(!info(MediumState::TrayOpen, true).is_burnable());
    }
}
