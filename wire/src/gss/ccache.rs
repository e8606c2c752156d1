//! The KDC's clock as MIT krb5 records it in a FILE credential cache: the operators' tools
//! (`burnstand doctor`, `burnstand-station doctor`) use it to measure clock skew.
//!
//! Why this and not a ticket's times: when MIT's `kinit` (or any initial-credentials request)
//! gets the KDC's reply, it stores `KDC time − local time` as the cache's *time offset*
//! (`kdc_timesync`, on by default) in the header of a version-4 FILE cache. That is exactly the
//! skew a Kerberos acceptor on this host will hold against every authenticator (it checks them
//! against its own clock with MIT's default tolerance of 300 s), measured by MIT itself, with no
//! locale-dependent `klist` output to parse. A cache written with `kdc_timesync = 0` carries no
//! offset, and other cache types (KEYRING, KCM) have no such header: then the skew is unknown.
//!
//! Layout (MIT's "ccache file format"): 2 bytes version (0x05 0x04), a big-endian `u16` header
//! length, then tagged fields `u16 tag, u16 length, value`; tag 1 is `i32 seconds, i32
//! microseconds`. Example header with an offset of −2 s (the KDC's clock is behind):
//!
//! ```text
//! 05 04  00 0c  00 01 00 08  ff ff ff fe  00 00 00 00
//! ```

use std::io::Read;
use std::path::Path;

/// The ccache file format version that has a header (MIT's version 4).
const VERSION_WITH_HEADER: [u8; 2] = [0x05, 0x04];
/// Header tag of the KDC time offset.
const TAG_KDC_TIME_OFFSET: u16 = 1;
/// Length of the KDC time offset field: two 32-bit integers.
const KDC_TIME_OFFSET_LEN: usize = 8;
/// Most bytes read from a cache file: the version, the header length and the longest header
/// a `u16` length can announce (about 64 KiB; the credentials after it are never read).
pub const MAX_CCACHE_HEADER_READ: u64 = 4 + u16::MAX as u64;

/// What a credential cache says about the KDC's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdcClock {
    /// `KDC time − local time` when the cache's tickets were obtained, in microseconds
    /// (negative: the KDC's clock is behind this host's).
    Offset { micros: i64 },
    /// A version-4 cache without the offset: krb5.conf says `kdc_timesync = 0`.
    NotRecorded,
    /// Not a version-4 FILE cache (an older format, or not a cache at all).
    Unknown,
}

impl KdcClock {
    /// The offset in whole seconds, rounded towards zero, if recorded.
    pub fn seconds(&self) -> Option<i64> {
        match self {
            KdcClock::Offset { micros } => Some(micros / 1_000_000),
            _ => None,
        }
    }
}

/// Reads the KDC time offset from the start of a FILE ccache's bytes (sans-I/O: `bytes` may be
/// cut anywhere; a cut header is [`KdcClock::Unknown`]).
pub fn kdc_clock(bytes: &[u8]) -> KdcClock {
    let Some(rest) = bytes.strip_prefix(&VERSION_WITH_HEADER) else {
        return KdcClock::Unknown;
    };
    let Some((len, rest)) = split_u16(rest) else {
        return KdcClock::Unknown;
    };
    let Some(mut header) = rest.get(..usize::from(len)) else {
        return KdcClock::Unknown;
    };
    while let Some((tag, after_tag)) = split_u16(header) {
        let Some((field_len, after_len)) = split_u16(after_tag) else {
            return KdcClock::Unknown;
        };
        let Some(value) = after_len.get(..usize::from(field_len)) else {
            return KdcClock::Unknown;
        };
        if tag == TAG_KDC_TIME_OFFSET && value.len() == KDC_TIME_OFFSET_LEN {
            let (secs, usecs) = value.split_at(4);
            let secs = i32::from_be_bytes([secs[0], secs[1], secs[2], secs[3]]);
            let usecs = i32::from_be_bytes([usecs[0], usecs[1], usecs[2], usecs[3]]);
            return KdcClock::Offset {
                micros: i64::from(secs) * 1_000_000 + i64::from(usecs),
            };
        }
        header = &after_len[usize::from(field_len)..];
    }
    KdcClock::NotRecorded
}

fn split_u16(bytes: &[u8]) -> Option<(u16, &[u8])> {
    match bytes {
        [a, b, rest @ ..] => Some((u16::from_be_bytes([*a, *b]), rest)),
        _ => None,
    }
}

/// The cache file of a ccache name: `FILE:/path` or a bare path; `None` for other types
/// (`KEYRING:`, `KCM:`, `MEMORY:`, `DIR:`), whose header cannot be read as a file.
pub fn file_of_ccache_name(name: &str) -> Option<&Path> {
    let path = match name.split_once(':') {
        Some(("FILE", path)) => path,
        Some((kind, _)) if !kind.contains('/') => return None,
        _ => name,
    };
    (!path.is_empty()).then(|| Path::new(path))
}

/// [`kdc_clock`] of the cache file at `path`, reading at most [`MAX_CCACHE_HEADER_READ`] bytes.
pub fn kdc_clock_of_file(path: &Path) -> std::io::Result<KdcClock> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_CCACHE_HEADER_READ)
        .read_to_end(&mut bytes)?;
    Ok(kdc_clock(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_of_a_version_4_header_is_read() {
        let bytes = [
            0x05, 0x04, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x08, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        ];
        assert_eq!(kdc_clock(&bytes), KdcClock::Offset { micros: -2_000_000 });
        assert_eq!(kdc_clock(&bytes).seconds(), Some(-2));
    }

    #[test]
    fn other_tags_are_skipped() {
        let bytes = [
            0x05, 0x04, 0x00, 0x12, 0x00, 0x07, 0x00, 0x02, 0xaa, 0xbb, 0x00, 0x01, 0x00, 0x08,
            0x00, 0x00, 0x01, 0x2c, 0x00, 0x00, 0x01, 0xf4,
        ];
        assert_eq!(
            kdc_clock(&bytes),
            KdcClock::Offset {
                micros: 300_000_500
            }
        );
    }

    #[test]
    fn no_offset_or_a_cut_header_is_said() {
        // kdc_timesync = 0: an empty header.
        assert_eq!(
            kdc_clock(&[0x05, 0x04, 0x00, 0x00, 0x00]),
            KdcClock::NotRecorded
        );
        // Version 3 has no header.
        assert_eq!(kdc_clock(&[0x05, 0x03, 0x00, 0x00]), KdcClock::Unknown);
        // A header longer than the bytes, and a field cut short.
        assert_eq!(
            kdc_clock(&[0x05, 0x04, 0x00, 0x0c, 0x00]),
            KdcClock::Unknown
        );
        assert_eq!(
            kdc_clock(&[0x05, 0x04, 0x00, 0x04, 0x00, 0x01, 0x00, 0x08]),
            KdcClock::Unknown
        );
        assert_eq!(kdc_clock(b""), KdcClock::Unknown);
    }

    #[test]
    fn only_file_caches_have_a_file() {
        assert_eq!(
            file_of_ccache_name("FILE:/tmp/krb5cc_0"),
            Some(Path::new("/tmp/krb5cc_0"))
        );
        assert_eq!(
            file_of_ccache_name("/tmp/krb5cc_0"),
            Some(Path::new("/tmp/krb5cc_0"))
        );
        assert_eq!(file_of_ccache_name("KEYRING:persistent:0"), None);
        assert_eq!(file_of_ccache_name("KCM:"), None);
        assert_eq!(file_of_ccache_name("FILE:"), None);
    }
}
