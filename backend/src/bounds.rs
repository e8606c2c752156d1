//! Why the station's two largest outputs always fit their bounds, by construction.
//!
//! **CAP** (one protocol message, at most [`MAX_MESSAGE_LEN`] bytes): every text in it is
//! bounded in characters, a character takes at most two UTF-16 units (4 bytes) on the wire,
//! and the catalog offers at most [`MAX_IMAGES`] images. [`MAX_CAP_LEN`] adds it up; a
//! compile-time assertion keeps it under the message bound.
//!
//! | CAP part | bound | worst case on the wire |
//! |---|---|---|
//! | `station_id` | [`MAX_STATION_ID_LEN`] = 128 characters | 516 bytes |
//! | `friendly_name` | [`MAX_FRIENDLY_NAME_LEN`] = 256 characters | 1,028 bytes |
//! | per image: id, name | [`MAX_IMAGE_ID_LEN`] = 128, [`MAX_IMAGE_NAME_LEN`] = 256 characters | 516 + 1,028 bytes |
//! | per image: size, digests, flag | fixed | 209 bytes |
//! | images | [`MAX_IMAGES`] = 512 | 512 × 1,753 bytes |
//!
//! **`burn.receipt`** (one audit record, at most [`burnstand_audit::MAX_RECORD_LEN`] = 64 KiB):
//! every free-text field is bounded — the user's name and the session id by
//! [`MAX_IDENTITY_FIELD_LEN`] characters (checked when the identity block arrives), the user's
//! exported name by as many bytes (written as hex), the station id, image id and image name as
//! above — and a character takes at most 6 bytes of JSON (`\u0001`). That is under 20 KB, so
//! "receipt too long to log" cannot happen; the test below writes a receipt with every field at
//! its bound, in the widest characters, to a real log.

use burnstand_wire::burner::MAX_IMAGE_ID_LEN;
use burnstand_wire::limits::MAX_MESSAGE_LEN;

use crate::catalog::MAX_IMAGES;
use crate::config::{MAX_FRIENDLY_NAME_LEN, MAX_STATION_ID_LEN};
use crate::image::MAX_IMAGE_NAME_LEN;
#[cfg(doc)]
use crate::session::MAX_IDENTITY_FIELD_LEN;

/// Bytes of a `TQString` of at most `chars` characters: a 4-byte length and at most two
/// UTF-16 units (4 bytes) per character.
const fn qstring_max(chars: usize) -> usize {
    4 + 4 * chars
}

/// Bytes of a `TQString` of `chars` ASCII characters (hex digests, enum words): one UTF-16
/// unit each.
const fn ascii_qstring(chars: usize) -> usize {
    4 + 2 * chars
}

/// The longest enum word on the wire (`TRAYOPEN`, `UNKNOWN`, `DVD`, …), with room to spare.
const MAX_WORD_LEN: usize = 16;

/// The most bytes one image takes in CAP: id, name, size, SHA-256 and MD5 (hex strings),
/// the restricted flag.
pub const MAX_IMAGE_INFO_LEN: usize = qstring_max(MAX_IMAGE_ID_LEN)
    + qstring_max(MAX_IMAGE_NAME_LEN)
    + 8
    + ascii_qstring(64)
    + ascii_qstring(32)
    + 1;

/// The most bytes a CAP message takes: its tag, station id, friendly name, drive kind, medium
/// state, the image count and [`MAX_IMAGES`] images.
pub const MAX_CAP_LEN: usize = ascii_qstring(3)
    + qstring_max(MAX_STATION_ID_LEN)
    + qstring_max(MAX_FRIENDLY_NAME_LEN)
    + 2 * ascii_qstring(MAX_WORD_LEN)
    + 4
    + MAX_IMAGES * MAX_IMAGE_INFO_LEN;

const _: () = assert!(
    MAX_CAP_LEN <= MAX_MESSAGE_LEN,
    "CAP could exceed one message: lower MAX_IMAGES or the name bounds"
);

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::time::{Duration, UNIX_EPOCH};

    use burnstand_audit::{AuditLog, MAX_RECORD_LEN};
    use burnstand_wire::burner::{
        Capabilities, DriveKind, Event, ImageInfo, Md5, MediumState, Sha256,
    };
    use burnstand_wire::datastream::to_bytes;

    use super::*;
    use crate::image::{Digests, FileKey, Image};
    use crate::receipt::{burn_receipt, CopyOutcome, CopyResult, Who};
    use crate::session::MAX_IDENTITY_FIELD_LEN;

    /// `n` copies of a character that takes two UTF-16 units on the wire.
    fn wide(n: usize) -> String {
        std::iter::repeat_n('\u{1D11E}', n).collect()
    }

    /// `n` copies of a character that takes six bytes in JSON.
    fn escaped(n: usize) -> String {
        std::iter::repeat_n('\u{1}', n).collect()
    }

    #[test]
    fn cap_with_every_field_at_its_bound_fits_one_message() {
        let image = ImageInfo {
            id: wide(MAX_IMAGE_ID_LEN),
            name: wide(MAX_IMAGE_NAME_LEN),
            size: u64::MAX,
            sha256: Sha256([0xff; 32]),
            md5: Md5([0xff; 16]),
            restricted: true,
        };
        let image_len = to_bytes(&image).len();
        assert_eq!(
            image_len, MAX_IMAGE_INFO_LEN,
            "the per-image bound is exact"
        );
        let cap = Event::Cap(Capabilities {
            station_id: wide(MAX_STATION_ID_LEN),
            friendly_name: wide(MAX_FRIENDLY_NAME_LEN),
            drive: DriveKind::Dvd,
            medium: MediumState::TrayOpen,
            images: vec![image; MAX_IMAGES],
        });
        let len = to_bytes(&cap).len();
        assert!(len <= MAX_CAP_LEN, "{len} > {MAX_CAP_LEN}");
        assert!(len <= MAX_MESSAGE_LEN, "{len} > {MAX_MESSAGE_LEN}");
    }

    #[test]
    fn a_receipt_with_every_field_at_its_bound_fits_the_audit_log() {
        let who = Who {
            station: escaped(MAX_STATION_ID_LEN),
            conn: u64::MAX,
            peer: SocketAddr::from(([255, 255, 255, 255], u16::MAX)),
            master: escaped(MAX_IDENTITY_FIELD_LEN),
            master_exported: vec![0xff; MAX_IDENTITY_FIELD_LEN],
            user: escaped(MAX_IDENTITY_FIELD_LEN),
            user_exported: vec![0xff; MAX_IDENTITY_FIELD_LEN],
            session_id: escaped(MAX_IDENTITY_FIELD_LEN),
            client: escaped(MAX_IDENTITY_FIELD_LEN),
        };
        let key = FileKey {
            dev: u64::MAX,
            ino: u64::MAX,
            size: u64::MAX,
            mtime_ns: i64::MIN,
            ctime_ns: i64::MIN,
        };
        let image = Image {
            id: escaped(MAX_IMAGE_ID_LEN),
            name: escaped(MAX_IMAGE_NAME_LEN),
            path: PathBuf::from("/srv/images/x"),
            size: u64::MAX,
            digests: Digests {
                sha256: Sha256([0xff; 32]),
                md5: Md5([0xff; 16]),
                bytes: u64::MAX,
            },
            restricted: true,
            key,
            owner: None,
        };
        let outcome = CopyOutcome {
            copy: u32::MAX,
            copy_id: "ffffffff-ffff-4fff-bfff-ffffffffffff",
            copies: u32::MAX,
            result: CopyResult::VerifyFailed,
            readback_md5: Some(Md5([0xff; 16])),
            start: UNIX_EPOCH,
            end: UNIX_EPOCH + Duration::from_secs(253_402_300_799), // 9999-12-31T23:59:59Z
        };
        let event = burn_receipt(&who, &image, DriveKind::Dvd.word(), &outcome);
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(dir.path().join("audit.log")).unwrap();
        let appended = log.append(&event).expect("the largest receipt is logged");
        assert!(appended.line.len() <= MAX_RECORD_LEN);
        // With room to spare: the bounds above, not luck, keep it in.
        assert!(
            appended.line.len() < MAX_RECORD_LEN / 2,
            "{}",
            appended.line.len()
        );
    }
}
