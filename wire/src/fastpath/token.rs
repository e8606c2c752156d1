//! The RFC 4121 §4.2.6.2 Wrap token layout.
//!
//! ```text
//! offset  0   1   2      3    4..6  6..8  8..16
//!        05  04  flags  FF    EC    RRC   SND_SEQ     (all big-endian)
//! ```
//! followed, for a sealed token, by `encrypt(confounder | plaintext | EC filler | header with
//! RRC = 0)` rotated right by RRC bytes. The offsets are public so that tests which tamper
//! with one field (EC, RRC, SND_SEQ, flags) name the field rather than a number.

use crate::{Error, Result};

/// Length of the token header (and of its encrypted copy).
pub const HEADER_LEN: usize = 16;

/// TOK_ID of a Wrap token.
pub const TOK_ID_WRAP: [u8; 2] = [0x05, 0x04];

/// The filler byte at offset 3.
pub const FILLER: u8 = 0xFF;

/// Offset of the flags byte.
pub const FLAGS_OFFSET: usize = 2;
/// Offset of the filler byte.
pub const FILLER_OFFSET: usize = 3;
/// Offset of the two-byte EC (extra count).
pub const EC_OFFSET: usize = 4;
/// Offset of the two-byte RRC (right rotation count).
pub const RRC_OFFSET: usize = 6;
/// Offset of the eight-byte SND_SEQ.
pub const SEQ_OFFSET: usize = 8;

/// The Flags bits of RFC 4121 §4.2.2.
pub mod flags {
    /// The token was sent by the context acceptor.
    pub const SENT_BY_ACCEPTOR: u8 = 0x01;
    /// The token is encrypted (confidentiality).
    pub const SEALED: u8 = 0x02;
    /// The acceptor subkey protects the token.
    pub const ACCEPTOR_SUBKEY: u8 = 0x04;
    /// All bits RFC 4121 defines; others are refused.
    pub const KNOWN: u8 = SENT_BY_ACCEPTOR | SEALED | ACCEPTOR_SUBKEY;
}

/// The fields of a Wrap token header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Flags byte ([`flags`]).
    pub flags: u8,
    /// Extra count: filler bytes before the encrypted header copy.
    pub ec: u16,
    /// Right rotation count of the encrypted part.
    pub rrc: u16,
    /// The sender's sequence number.
    pub seq: u64,
}

impl Header {
    /// The 16 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..2].copy_from_slice(&TOK_ID_WRAP);
        h[FLAGS_OFFSET] = self.flags;
        h[FILLER_OFFSET] = FILLER;
        h[EC_OFFSET..EC_OFFSET + 2].copy_from_slice(&self.ec.to_be_bytes());
        h[RRC_OFFSET..RRC_OFFSET + 2].copy_from_slice(&self.rrc.to_be_bytes());
        h[SEQ_OFFSET..].copy_from_slice(&self.seq.to_be_bytes());
        h
    }

    /// Reads the header at the start of `token`; checks token id and filler only.
    pub fn parse(token: &[u8]) -> Result<Header> {
        let h: &[u8; HEADER_LEN] = token
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(Error::BadToken {
                why: "shorter than a wrap token header",
            })?;
        if h[..2] != TOK_ID_WRAP {
            return Err(Error::BadToken {
                why: "token id is not 05 04 (not an RFC 4121 wrap token)",
            });
        }
        if h[FILLER_OFFSET] != FILLER {
            return Err(Error::BadToken {
                why: "filler byte is not FF",
            });
        }
        let [_, _, flags, _, e0, e1, r0, r1, s0, s1, s2, s3, s4, s5, s6, s7] = *h;
        Ok(Header {
            flags,
            ec: u16::from_be_bytes([e0, e1]),
            rrc: u16::from_be_bytes([r0, r1]),
            seq: u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
        })
    }
}

/// Whether the decrypted header copy equals the received header in every byte but RRC
/// (the sender encrypts the header with RRC = 0, then sets the real RRC outside).
///
/// Not constant-time: both values are public once the checksum verified.
pub(crate) fn copy_matches(header: &[u8], copy: &[u8]) -> bool {
    header.len() == HEADER_LEN
        && copy.len() == HEADER_LEN
        && header[..RRC_OFFSET] == copy[..RRC_OFFSET]
        && copy[RRC_OFFSET..SEQ_OFFSET] == [0, 0]
        && header[SEQ_OFFSET..] == copy[SEQ_OFFSET..]
}
