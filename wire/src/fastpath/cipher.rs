//! RFC 3961 `encrypt`/`decrypt` of one key usage: AES-CBC-CS3 plus a truncated HMAC.
//!
//! * RFC 3962 (enctypes 17, 18): `C = AES-CTS(Ke, confounder | data)`,
//!   `H = HMAC-SHA1(Ki, confounder | data)[..12]` — MAC over the plaintext.
//! * RFC 8009 (enctypes 19, 20): same `C`, `H = HMAC-SHA-256/384(Ki, IV | C)[..16/24]` —
//!   encrypt-then-MAC, so a receiver checks `H` before it decrypts anything.
//!
//! The ciphertext is `C | H`. The IV is all zero: GSS wrap tokens carry no cipher state.
//! The checksum is compared in constant time (`Mac::verify_truncated_left`).

use aes::{Aes128, Aes256};
use cts::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, InnerIvInit, KeyInit};
use cts::{CbcCs3, Decrypt, Encrypt};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2_rfc8009::{Sha256, Sha384};

use super::{kdf, Enctype};
use crate::{Error, Result};

/// AES block size, and the size of a Kerberos confounder for the AES enctypes.
pub(crate) const BLOCK_LEN: usize = 16;
/// Length of the random confounder that starts every plaintext.
pub(crate) const CONFOUNDER_LEN: usize = BLOCK_LEN;
/// The longest checksum (HMAC-SHA-384-192).
pub(crate) const MAX_MAC_LEN: usize = 24;
/// The cipher state of GSS wrap tokens: an all-zero IV.
const ZERO_IV: [u8; BLOCK_LEN] = [0; BLOCK_LEN];

const SHORT: Error = Error::BadToken {
    why: "ciphertext shorter than one AES block",
};

/// An AES key schedule (both directions); zeroized on drop by the `aes` crate.
pub(crate) enum Aes {
    A128(Box<Aes128>),
    A256(Box<Aes256>),
}

impl Aes {
    /// A schedule for a 16- or 32-byte key (callers check lengths against the enctype
    /// first; this refuses anything else rather than trust them).
    pub(crate) fn new(key: &[u8]) -> Result<Aes> {
        let bad = || Error::KeyLength {
            enctype: 0,
            len: key.len(),
            expected: 32,
        };
        match key.len() {
            16 => Aes128::new_from_slice(key).map(|c| Aes::A128(Box::new(c))),
            32 => Aes256::new_from_slice(key).map(|c| Aes::A256(Box::new(c))),
            _ => return Err(bad()),
        }
        .map_err(|_| bad())
    }

    /// One raw AES block encryption (the `E` of RFC 3961 key derivation on one block).
    pub(crate) fn encrypt_block(&self, block: &mut [u8; BLOCK_LEN]) {
        let b: &mut aes::Block = block.into();
        match self {
            Aes::A128(c) => c.encrypt_block(b),
            Aes::A256(c) => c.encrypt_block(b),
        }
    }

    /// AES-CBC-CS3 with a zero IV, as Kerberos does it: one block is plain CBC (no swap), a
    /// multiple of the block size has its last two blocks swapped. `buf.len() >= 16`.
    pub(crate) fn cts_encrypt(&self, buf: &mut [u8]) -> Result<()> {
        match self {
            Aes::A128(c) => cts_encrypt(&**c, buf),
            Aes::A256(c) => cts_encrypt(&**c, buf),
        }
    }

    /// The inverse of [`cts_encrypt`](Self::cts_encrypt).
    pub(crate) fn cts_decrypt(&self, buf: &mut [u8]) -> Result<()> {
        match self {
            Aes::A128(c) => cts_decrypt(&**c, buf),
            Aes::A256(c) => cts_decrypt(&**c, buf),
        }
    }
}

fn one_block(buf: &mut [u8]) -> Option<&mut [u8; BLOCK_LEN]> {
    buf.try_into().ok()
}

fn cts_encrypt<C>(cipher: &C, buf: &mut [u8]) -> Result<()>
where
    C: BlockCipherEncrypt<BlockSize = cts::cipher::consts::U16>,
{
    // The `cts` crate treats a single block as a stolen tail; Kerberos encrypts it as plain
    // CBC (RFC 3962 §5: "if the input is exactly one block, plain CBC").
    if let Some(block) = one_block(buf) {
        cipher.encrypt_block(block.into());
        return Ok(());
    }
    CbcCs3::inner_iv_init(cipher, &ZERO_IV.into())
        .encrypt(buf)
        .map_err(|_| SHORT)
}

fn cts_decrypt<C>(cipher: &C, buf: &mut [u8]) -> Result<()>
where
    C: BlockCipherDecrypt<BlockSize = cts::cipher::consts::U16>,
{
    if let Some(block) = one_block(buf) {
        cipher.decrypt_block(block.into());
        return Ok(());
    }
    CbcCs3::inner_iv_init(cipher, &ZERO_IV.into())
        .decrypt(buf)
        .map_err(|_| SHORT)
}

/// A keyed HMAC state, cloned per message (saves hashing the key pads every time); zeroized
/// on drop by the digest crates.
pub(crate) enum KeyedMac {
    Sha1(Box<Hmac<Sha1>>),
    Sha256(Box<Hmac<Sha256>>),
    Sha384(Box<Hmac<Sha384>>),
}

impl KeyedMac {
    pub(crate) fn new(enctype: Enctype, key: &[u8]) -> KeyedMac {
        // HMAC takes keys of any length: `new_from_slice` cannot fail here.
        match enctype {
            Enctype::Aes128CtsHmacSha1_96 | Enctype::Aes256CtsHmacSha1_96 => {
                KeyedMac::Sha1(Box::new(hmac_of(key)))
            }
            Enctype::Aes128CtsHmacSha256_128 => KeyedMac::Sha256(Box::new(hmac_of(key))),
            Enctype::Aes256CtsHmacSha384_192 => KeyedMac::Sha384(Box::new(hmac_of(key))),
        }
    }

    /// The HMAC of the concatenated `parts`, truncated to `out.len()` bytes.
    pub(crate) fn tag(&self, parts: &[&[u8]], out: &mut [u8]) {
        match self {
            KeyedMac::Sha1(m) => tag_of(&**m, parts, out),
            KeyedMac::Sha256(m) => tag_of(&**m, parts, out),
            KeyedMac::Sha384(m) => tag_of(&**m, parts, out),
        }
    }

    /// Whether `tag` is the truncated HMAC of `parts`, in constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        match self {
            KeyedMac::Sha1(m) => verify_of(&**m, parts, tag),
            KeyedMac::Sha256(m) => verify_of(&**m, parts, tag),
            KeyedMac::Sha384(m) => verify_of(&**m, parts, tag),
        }
    }
}

fn hmac_of<M: Mac + KeyInit>(key: &[u8]) -> M {
    match <M as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts every key length; an empty key is hashed like any other.
        Err(_) => <M as KeyInit>::new(&Default::default()),
    }
}

fn tag_of<M: Mac + Clone>(keyed: &M, parts: &[&[u8]], out: &mut [u8]) {
    let mut m = keyed.clone();
    for p in parts {
        m.update(p);
    }
    let full = m.finalize().into_bytes();
    let n = out.len().min(full.len());
    out[..n].copy_from_slice(&full[..n]);
}

fn verify_of<M: Mac + Clone>(keyed: &M, parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut m = keyed.clone();
    for p in parts {
        m.update(p);
    }
    m.verify_truncated_left(tag).is_ok()
}

/// Ke and Ki of one key usage, ready to use.
pub(crate) struct UsageKeys {
    enctype: Enctype,
    ke: Aes,
    ki: KeyedMac,
}

impl UsageKeys {
    /// Derives Ke and Ki of `usage` from the base key (RFC 3961 DK or RFC 8009 KDF).
    pub(crate) fn derive(enctype: Enctype, base_key: &[u8], usage: u32) -> Result<UsageKeys> {
        let (ke, ki) = kdf::derive_ke_ki(enctype, base_key, usage)?;
        Ok(UsageKeys {
            enctype,
            ke: Aes::new(&ke)?,
            ki: KeyedMac::new(enctype, &ki),
        })
    }

    /// An independent copy, for tests that probe a context without consuming it.
    #[cfg(test)]
    pub(crate) fn clone_for_tests(&self) -> UsageKeys {
        UsageKeys {
            enctype: self.enctype,
            ke: match &self.ke {
                Aes::A128(c) => Aes::A128(c.clone()),
                Aes::A256(c) => Aes::A256(c.clone()),
            },
            ki: match &self.ki {
                KeyedMac::Sha1(m) => KeyedMac::Sha1(m.clone()),
                KeyedMac::Sha256(m) => KeyedMac::Sha256(m.clone()),
                KeyedMac::Sha384(m) => KeyedMac::Sha384(m.clone()),
            },
        }
    }

    fn is_rfc8009(&self) -> bool {
        matches!(
            self.enctype,
            Enctype::Aes128CtsHmacSha256_128 | Enctype::Aes256CtsHmacSha384_192
        )
    }

    /// Appends the RFC 3961 ciphertext of `confounder | parts...` (`C | H`) to `out`.
    /// Nothing is appended on error.
    pub(crate) fn encrypt_append(
        &self,
        out: &mut Vec<u8>,
        confounder: &[u8; CONFOUNDER_LEN],
        parts: &[&[u8]],
    ) -> Result<()> {
        let start = out.len();
        out.extend_from_slice(confounder);
        for p in parts {
            out.extend_from_slice(p);
        }
        let mut tag = [0u8; MAX_MAC_LEN];
        let tag = &mut tag[..self.enctype.mac_len()];
        let body = &mut out[start..];
        let done = if self.is_rfc8009() {
            self.ke
                .cts_encrypt(body)
                .map(|()| self.ki.tag(&[&ZERO_IV, body], tag))
        } else {
            self.ki.tag(&[body], tag);
            self.ke.cts_encrypt(body)
        };
        if let Err(e) = done {
            out.truncate(start);
            return Err(e);
        }
        out.extend_from_slice(tag);
        Ok(())
    }

    /// Checks and decrypts an RFC 3961 ciphertext `C | H` in place; returns the length of the
    /// plaintext (confounder included), which now starts `buf`. [`Error::Integrity`] when the
    /// checksum does not verify.
    pub(crate) fn decrypt_in_place(&self, buf: &mut [u8]) -> Result<usize> {
        let mac_len = self.enctype.mac_len();
        let Some(c_len) = buf
            .len()
            .checked_sub(mac_len)
            .filter(|&n| n >= CONFOUNDER_LEN)
        else {
            return Err(Error::BadToken {
                why: "ciphertext shorter than confounder and checksum",
            });
        };
        let (c, h) = buf.split_at_mut(c_len);
        if self.is_rfc8009() {
            if !self.ki.verify(&[&ZERO_IV, c], h) {
                return Err(Error::Integrity);
            }
            self.ke.cts_decrypt(c)?;
        } else {
            self.ke.cts_decrypt(c)?;
            if !self.ki.verify(&[c], h) {
                return Err(Error::Integrity);
            }
        }
        Ok(c_len)
    }
}
