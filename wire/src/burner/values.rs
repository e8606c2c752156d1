//! The burner protocol's values (`docs/protocol.md` §6.1): digests as lowercase hex, the
//! percentage, the enum words, and the range checks on image ids and copy numbers that every
//! record and message decoder shares.

use std::fmt;

use crate::datastream::{Decode, Encode, Reader, Writer};
use crate::limits::{MAX_COPIES, MAX_IMAGE_ID_LEN};
use crate::{Error, Result};

// --- digests ----------------------------------------------------------------------------------

/// Writes `bytes` as lowercase hex into a `String`.
pub(super) fn to_hex(bytes: &[u8]) -> String {
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
    /// What kind of discs the station's drive writes (burner-farm design: "CD/DVD burner").
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
        /// [`MediumInfo::rewritable`](super::MediumInfo::rewritable)).
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
    /// Which part of a burn a [`Progress`](super::Progress) report is about.
    Phase, "phase" {
        /// xorriso is writing the image to the disc.
        Writing = "WRITING",
        /// The station reads the disc back and computes its MD5.
        Verifying = "VERIFYING",
    }
);

word_enum!(
    /// The class of an [`ErrorReport`](super::ErrorReport), for programs; people read its text.
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
pub(super) fn check_image_id(id: &str) -> Result<()> {
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
pub(super) fn check_copies(copies: u32) -> Result<()> {
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
pub(super) fn check_copy(copy: u32, copies: u32) -> Result<()> {
    check_copies(copies)?;
    if copy == 0 || copy > copies {
        return Err(Error::InvalidValue {
            what: "copy number",
            value: copy.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::burner::test_vectors::*;
    use crate::burner::{Event, Progress};
    use crate::datastream::{from_bytes, to_bytes};

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
}
