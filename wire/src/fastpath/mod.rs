//! The RFC 4121 fast path: per-message protection of an established Kerberos context, in Rust.
//!
//! MIT establishes and checks the context (names, flags, expiry); after that, everything a
//! sealed session does is RFC 4121 Wrap tokens with one key and two sequence counters. Debian's
//! MIT build does that crypto without AES-NI or SHA-NI, which makes it the relay's bottleneck
//! (see `shared/notes/facts-rfc4121-fast-path.md`); RustCrypto uses both. So the context is
//! exported from MIT as a lucid context ([`LucidParams`]), and [`FastContext`] wraps and unwraps
//! exactly as MIT's `gss_wrap`/`gss_unwrap` do, for CFX contexts with the AES enctypes:
//!
//! * 17, 18: aes128/256-cts-hmac-sha1-96 (RFC 3961 simplified profile, RFC 3962),
//! * 19, 20: aes128-cts-hmac-sha256-128, aes256-cts-hmac-sha384-192 (RFC 8009).
//!
//! Anything else stays on MIT (the caller's choice, in [`crate::gss`]).
//!
//! # What is checked on unwrap
//!
//! In this order, and nothing is appended nor advanced on any failure:
//! 1. size and header shape: token id `05 04`, filler `FF`, no unknown flag bits
//!    ([`Error::BadToken`], [`Error::TooLarge`]); the `Sealed` flag ([`Error::NotSealed`]);
//!    the `SentByAcceptor` flag names the peer's role ([`Error::ReflectedToken`]); the
//!    `AcceptorSubkey` flag matches the context ([`Error::BadToken`]);
//! 2. the checksum (constant-time) and the encrypted header copy ([`Error::Integrity`]);
//! 3. the sequence number: exactly the next expected one ([`Error::ReplayedToken`],
//!    [`Error::TokenGap`]) — checked after the checksum, so only an authentic token can claim
//!    to be a replay.
//!
//! # Modules
//! `kdf` derives the per-usage keys, `cipher` is the RFC 3961 `encrypt`/`decrypt` of one
//! enctype, [`token`] the Wrap token layout, `sequence` the strict counters, and
//! [`self_test`] the known-answer test a daemon runs before it trusts this code.

mod cipher;
mod kdf;
mod sequence;
pub mod token;
mod vectors;

#[cfg(test)]
mod tests;

use std::fmt;

use zeroize::Zeroizing;

use crate::limits::{MAX_MESSAGE_LEN, MAX_WRAP_TOKEN_LEN};
use crate::protection::Protection;
use crate::{Error, Result};

use cipher::{UsageKeys, CONFOUNDER_LEN};
use sequence::Sequence;
use token::{flags, Header, HEADER_LEN};

pub use vectors::self_test;

/// RFC 4121 key usage of wrap tokens sent by the acceptor (KG-USAGE-ACCEPTOR-SEAL).
pub const KG_USAGE_ACCEPTOR_SEAL: u32 = 22;
/// RFC 4121 key usage of wrap tokens sent by the initiator (KG-USAGE-INITIATOR-SEAL).
pub const KG_USAGE_INITIATOR_SEAL: u32 = 24;

/// The Kerberos enctypes the fast path implements, by their IANA numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Enctype {
    /// aes128-cts-hmac-sha1-96 (RFC 3962).
    Aes128CtsHmacSha1_96 = 17,
    /// aes256-cts-hmac-sha1-96 (RFC 3962).
    Aes256CtsHmacSha1_96 = 18,
    /// aes128-cts-hmac-sha256-128 (RFC 8009).
    Aes128CtsHmacSha256_128 = 19,
    /// aes256-cts-hmac-sha384-192 (RFC 8009).
    Aes256CtsHmacSha384_192 = 20,
}

impl Enctype {
    /// All enctypes the fast path implements.
    pub const ALL: [Enctype; 4] = [
        Enctype::Aes128CtsHmacSha1_96,
        Enctype::Aes256CtsHmacSha1_96,
        Enctype::Aes128CtsHmacSha256_128,
        Enctype::Aes256CtsHmacSha384_192,
    ];

    /// The enctype with this IANA number, if the fast path implements it.
    pub fn from_number(n: i32) -> Option<Enctype> {
        Enctype::ALL.into_iter().find(|e| e.number() == n)
    }

    /// The IANA number (what MIT's lucid context carries).
    pub fn number(self) -> i32 {
        self as i32
    }

    /// Length of the session key (and of the AES key) in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Enctype::Aes128CtsHmacSha1_96 | Enctype::Aes128CtsHmacSha256_128 => 16,
            Enctype::Aes256CtsHmacSha1_96 | Enctype::Aes256CtsHmacSha384_192 => 32,
        }
    }

    /// Length of the truncated HMAC that ends each ciphertext, in bytes.
    pub fn mac_len(self) -> usize {
        match self {
            Enctype::Aes128CtsHmacSha1_96 | Enctype::Aes256CtsHmacSha1_96 => 12,
            Enctype::Aes128CtsHmacSha256_128 => 16,
            Enctype::Aes256CtsHmacSha384_192 => 24,
        }
    }

    /// What a sealed wrap token adds to the plaintext with EC = 0: header, confounder,
    /// encrypted header copy and checksum (60 bytes for the SHA-1 enctypes).
    pub fn wrap_overhead(self) -> usize {
        HEADER_LEN + CONFOUNDER_LEN + HEADER_LEN + self.mac_len()
    }

    /// MIT's name of the enctype, for logs and configuration (`aes256-cts-hmac-sha1-96`).
    pub fn name(self) -> &'static str {
        match self {
            Enctype::Aes128CtsHmacSha1_96 => "aes128-cts-hmac-sha1-96",
            Enctype::Aes256CtsHmacSha1_96 => "aes256-cts-hmac-sha1-96",
            Enctype::Aes128CtsHmacSha256_128 => "aes128-cts-hmac-sha256-128",
            Enctype::Aes256CtsHmacSha384_192 => "aes256-cts-hmac-sha384-192",
        }
    }
}

impl fmt::Display for Enctype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What MIT's lucid context v1 (protocol 1 = CFX) gives: everything needed, nothing more.
pub struct LucidParams {
    /// This side initiated the context.
    pub initiator: bool,
    /// The enctype of `key`.
    pub enctype: Enctype,
    /// The acceptor subkey if `acceptor_subkey`, else the context key.
    pub key: Zeroizing<Vec<u8>>,
    /// Tokens carry the AcceptorSubkey flag (0x04).
    pub acceptor_subkey: bool,
    /// Next sequence number to send.
    pub send_seq: u64,
    /// Next sequence number expected from the peer.
    pub recv_seq: u64,
}

impl fmt::Debug for LucidParams {
    /// Everything but the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LucidParams")
            .field("initiator", &self.initiator)
            .field("enctype", &self.enctype)
            .field("key", &format_args!("<{} bytes, hidden>", self.key.len()))
            .field("acceptor_subkey", &self.acceptor_subkey)
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .finish()
    }
}

/// One established CFX context, protecting messages in Rust.
///
/// The keys for both directions are derived once in [`FastContext::new`]; the base key is
/// dropped (zeroized) right there, and the derived AES key schedules and HMAC states zeroize
/// themselves on drop. `Debug` shows no key material.
pub struct FastContext {
    enctype: Enctype,
    initiator: bool,
    acceptor_subkey: bool,
    /// Keys of the usage of our own tokens (KG-USAGE-*-SEAL of our role).
    send: UsageKeys,
    /// Keys of the usage of the peer's tokens.
    recv: UsageKeys,
    seq: Sequence,
}

impl fmt::Debug for FastContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FastContext")
            .field("enctype", &self.enctype)
            .field("initiator", &self.initiator)
            .field("acceptor_subkey", &self.acceptor_subkey)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl FastContext {
    /// Derives the keys of both directions from a lucid context's key.
    ///
    /// Fails with [`Error::KeyLength`] when the key does not fit the enctype.
    pub fn new(params: LucidParams) -> Result<FastContext> {
        let LucidParams {
            initiator,
            enctype,
            key,
            acceptor_subkey,
            send_seq,
            recv_seq,
        } = params;
        if key.len() != enctype.key_len() {
            return Err(Error::KeyLength {
                enctype: enctype.number(),
                len: key.len(),
                expected: enctype.key_len(),
            });
        }
        let (send_usage, recv_usage) = if initiator {
            (KG_USAGE_INITIATOR_SEAL, KG_USAGE_ACCEPTOR_SEAL)
        } else {
            (KG_USAGE_ACCEPTOR_SEAL, KG_USAGE_INITIATOR_SEAL)
        };
        Ok(FastContext {
            enctype,
            initiator,
            acceptor_subkey,
            send: UsageKeys::derive(enctype, &key, send_usage)?,
            recv: UsageKeys::derive(enctype, &key, recv_usage)?,
            seq: Sequence::new(send_seq, recv_seq),
        })
    }

    /// The enctype of the context.
    pub fn enctype(&self) -> Enctype {
        self.enctype
    }

    /// Whether this side initiated the context.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Next sequence number this side will send (`None` once all are used).
    pub fn send_seq(&self) -> Option<u64> {
        self.seq.next_send()
    }

    /// Next sequence number expected from the peer (`None` once all are used).
    pub fn recv_seq(&self) -> Option<u64> {
        self.seq.next_recv()
    }

    /// Wrap token with confidentiality (Sealed flag), confounder from the OS RNG, appended to
    /// `out`. EC = 0 and RRC = 0, as MIT's `gss_wrap` sends for these enctypes.
    ///
    /// Refuses plaintext over [`MAX_MESSAGE_LEN`] ([`Error::TooLarge`]), and every wrap after
    /// sequence number `u64::MAX` ([`Error::SequenceExhausted`]). Nothing is appended on error.
    pub fn wrap_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut confounder = Zeroizing::new([0u8; CONFOUNDER_LEN]);
        getrandom::fill(&mut confounder[..]).map_err(|_| Error::Random)?;
        self.wrap_with(plaintext, &confounder, out)
    }

    /// [`wrap_into`](Self::wrap_into) with a given confounder, for the differential tests
    /// against MIT: with MIT's confounder the token must be byte-identical to MIT's. Never for
    /// production: a repeated confounder leaks whether two messages start alike.
    #[doc(hidden)]
    pub fn wrap_with_confounder_for_tests(
        &mut self,
        plaintext: &[u8],
        confounder: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let confounder: &[u8; CONFOUNDER_LEN] =
            confounder.try_into().map_err(|_| Error::BadToken {
                why: "a confounder is 16 bytes",
            })?;
        self.wrap_with(plaintext, confounder, out)
    }

    fn wrap_with(
        &mut self,
        plaintext: &[u8],
        confounder: &[u8; CONFOUNDER_LEN],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        if plaintext.len() > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge {
                what: "message",
                len: plaintext.len() as u64,
                limit: MAX_MESSAGE_LEN as u64,
            });
        }
        let seq = self.seq.next_send().ok_or(Error::SequenceExhausted)?;
        let header = Header {
            flags: self.own_flags(),
            ec: 0,
            rrc: 0,
            seq,
        }
        .encode();
        let start = out.len();
        out.reserve(plaintext.len() + self.enctype.wrap_overhead());
        out.extend_from_slice(&header);
        if let Err(e) = self
            .send
            .encrypt_append(out, confounder, &[plaintext, &header])
        {
            out.truncate(start);
            return Err(e);
        }
        self.seq.sent();
        debug_assert_eq!(
            out.len() - start,
            plaintext.len() + self.enctype.wrap_overhead()
        );
        Ok(())
    }

    /// Checks and decrypts one Wrap token, appending the plaintext to `out`.
    ///
    /// Accepts any RRC and any EC that fits, as RFC 4121 asks of a receiver. Nothing is
    /// appended and the expected sequence number does not move on error.
    pub fn unwrap_into(&mut self, token: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if token.len() > MAX_WRAP_TOKEN_LEN {
            return Err(Error::TooLarge {
                what: "wrap token",
                len: token.len() as u64,
                limit: MAX_WRAP_TOKEN_LEN as u64,
            });
        }
        let start = out.len();
        out.extend_from_slice(token);
        match self.unwrap_in_place(&mut out[start..]) {
            Ok(plain) => {
                out.copy_within(start + plain.start..start + plain.end, start);
                out.truncate(start + plain.len());
                Ok(())
            }
            Err(e) => {
                // RFC 3962 decrypts before the MAC can be checked: a token that fails it may
                // have left plaintext (of a replayed genuine token, say) behind. Wipe it.
                zeroize::Zeroize::zeroize(&mut out[start..]);
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Checks and decrypts one Wrap token in its own buffer and returns where the plaintext
    /// now is in `token`. On error the buffer holds garbage (possibly decrypted bytes: wipe it
    /// if it matters, as [`FastContext::unwrap_into`] does) and nothing advanced; on success
    /// the bytes outside the returned range are garbage too.
    pub fn unwrap_in_place(&mut self, token: &mut [u8]) -> Result<std::ops::Range<usize>> {
        if token.len() > MAX_WRAP_TOKEN_LEN {
            return Err(Error::TooLarge {
                what: "wrap token",
                len: token.len() as u64,
                limit: MAX_WRAP_TOKEN_LEN as u64,
            });
        }
        let header = Header::parse(token)?;
        self.check_flags(header.flags)?;
        let (header_bytes, body) = token.split_at_mut(HEADER_LEN);
        // The sender rotated the ciphertext right by RRC; any RRC is allowed, modulo length.
        if !body.is_empty() {
            let rrc = usize::from(header.rrc) % body.len();
            body.rotate_left(rrc);
        }
        let ec = usize::from(header.ec);
        // Smallest body: confounder, EC filler, header copy, checksum.
        let least = CONFOUNDER_LEN + ec + HEADER_LEN + self.enctype.mac_len();
        if body.len() < least {
            return Err(Error::BadToken {
                why: "too short for its EC, confounder, header copy and checksum",
            });
        }
        let decrypted_len = self.recv.decrypt_in_place(body)?;
        // decrypted: confounder | plaintext | EC filler | header copy (RRC = 0)
        let copy = &body[decrypted_len - HEADER_LEN..decrypted_len];
        if !token::copy_matches(header_bytes, copy) {
            return Err(Error::Integrity);
        }
        self.seq.check_recv(header.seq)?;
        self.seq.received();
        let plain_start = HEADER_LEN + CONFOUNDER_LEN;
        let plain_end = HEADER_LEN + decrypted_len - HEADER_LEN - ec;
        Ok(plain_start..plain_end)
    }

    /// Flags of our own tokens.
    fn own_flags(&self) -> u8 {
        let mut f = flags::SEALED;
        if !self.initiator {
            f |= flags::SENT_BY_ACCEPTOR;
        }
        if self.acceptor_subkey {
            f |= flags::ACCEPTOR_SUBKEY;
        }
        f
    }

    /// The flag checks that need no key: known bits only, Sealed, the peer's role, and the
    /// AcceptorSubkey flag of this context.
    fn check_flags(&self, f: u8) -> Result<()> {
        if f & !flags::KNOWN != 0 {
            return Err(Error::BadToken {
                why: "unknown flag bits set",
            });
        }
        if f & flags::SEALED == 0 {
            return Err(Error::NotSealed);
        }
        let from_acceptor = f & flags::SENT_BY_ACCEPTOR != 0;
        // The peer of an initiator is the acceptor, and the other way round.
        if from_acceptor != self.initiator {
            return Err(Error::ReflectedToken);
        }
        if (f & flags::ACCEPTOR_SUBKEY != 0) != self.acceptor_subkey {
            return Err(Error::BadToken {
                why: "AcceptorSubkey flag does not match the session",
            });
        }
        Ok(())
    }
}

impl Protection for FastContext {
    fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plaintext.len() + self.enctype.wrap_overhead());
        self.wrap_into(plaintext, &mut out)?;
        Ok(out)
    }

    fn open(&mut self, sealed: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(sealed.len());
        self.unwrap_into(sealed, &mut out)?;
        Ok(out)
    }

    // Straight into the caller's buffer: no intermediate Vec per message on the hot path.
    fn seal_into(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.wrap_into(plaintext, out)
    }

    fn open_into(&mut self, sealed: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.unwrap_into(sealed, out)
    }
}
