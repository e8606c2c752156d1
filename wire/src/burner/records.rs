//! The burner protocol's records (`docs/protocol.md` §6.3): the typed bodies that follow an
//! event's tag word. Each decoder checks its fields' ranges, so a decoded record is always
//! meaningful.

use std::fmt;

use super::values::{
    check_copy, check_image_id, DriveKind, ErrorCode, Md5, MediumState, Percent, Phase, Sha256,
};
use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::limits::MAX_RECEIPT_LEN;
use crate::{Error, Result};

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

/// The answer to CAPAB (the burner-farm design's "CAP"): `TQString station_id, TQString friendly_name,
/// DriveKind drive, MediumState medium, TQValueList<ImageInfo> images`.
///
/// `station_id` is stable across restarts (burner-farm design: "something identifiable"), so displays
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

/// The answer to WHATIS (the burner-farm design's "INFO"): `MediumState state, TQString profile,
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

/// A progress report pushed during a burn (the burner-farm design's "STATUS 50%"): `Phase phase,
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

/// The end of one copy (the burner-farm design's "STATUS MD5-pass/fail"): `TQ_UINT32 copy, TQ_UINT32 copies,
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

/// An error a person can act on (the burner-farm design's "ERROR"): `ErrorCode code, TQString text`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::burner::test_vectors::*;
    use crate::burner::Event;
    use crate::datastream::{from_bytes, to_bytes};

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
