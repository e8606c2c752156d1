//! The burner protocol: what a user's burner module and a burner station say to each other
//! once the master has opened the pass-through (the burner-farm design's "IF BURNER" dialogue).
//!
//! The burner-farm design sketches a tab-separated text protocol (`CAPAB`, `CAP`, `BURN`, `STATUS 50%`,
//! `STATUS MD5-pass/fail`, `Tray Open`, `AVAIL/EMPTY`, `WHATIS`/`INFO`, `ERROR`); the remote-laboratory design
//! asks every link to use TQDataStream where possible. So each message here keeps the burner-farm design's
//! tag word, as a `TQString`, followed by typed TQDataStream fields, one message per protected
//! block. [`Request`]s go from the module to the station, [`Event`]s from the station to the
//! module, either as a reply or pushed (progress, the verify result, tray and medium changes).
//! `docs/protocol.md` §6 specifies every message with hex examples; the tests of the
//! submodules are those examples.
//!
//! Decoding is "parse, don't validate": a decoded value is always meaningful (a percentage is
//! at most 100, a digest has its exact length, a copy count is in range), and anything else is
//! a precise [`Error`](crate::Error). No message carries image bytes: a station can describe
//! an image by its digests and burn it, but the protocol has no way to send one back.
//!
//! The module reads in three layers, each in its own file: `values.rs` (digests, percentages,
//! enum words and the range checks every decoder shares), `records.rs` (the typed bodies that
//! follow a tag word) and `messages.rs` (the tagged [`Request`]s and [`Event`]s themselves).

mod messages;
mod records;
mod values;

pub use messages::{Event, Request};
pub use records::{
    Capabilities, ErrorReport, ImageInfo, MediumInfo, Progress, Receipt, VerifyResult,
};
pub use values::{DriveKind, ErrorCode, Md5, MediumState, Percent, Phase, Sha256};

/// The burner protocol's bounds live with every other bound in [`crate::limits`]; they are
/// re-exported here, where callers of this protocol have always found them.
pub use crate::limits::{MAX_COPIES, MAX_IMAGE_ID_LEN, MAX_RECEIPT_LEN};

/// Fixed digests and byte helpers shared by the submodules' tests.
#[cfg(test)]
mod test_vectors {
    use super::{Event, Md5, Request, Sha256};
    use crate::datastream::{from_bytes, to_bytes};

    pub(super) fn hex(bytes: &[u8]) -> String {
        super::values::to_hex(bytes)
    }

    pub(super) fn unhex(s: &str) -> Vec<u8> {
        let clean: String = s.split_whitespace().collect();
        (0..clean.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
            .collect()
    }

    /// md5("") and sha256(""): well-known vectors, handy as fixed digests.
    pub(super) fn md5_empty() -> Md5 {
        Md5::from_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap()
    }
    pub(super) fn sha256_empty() -> Sha256 {
        Sha256::from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            .unwrap()
    }

    pub(super) fn round_trip_request(req: Request) {
        let bytes = to_bytes(&req);
        assert_eq!(from_bytes::<Request>(&bytes).unwrap(), req);
    }

    pub(super) fn round_trip_event(ev: Event) {
        let bytes = to_bytes(&ev);
        assert_eq!(from_bytes::<Event>(&bytes).unwrap(), ev);
    }
}
