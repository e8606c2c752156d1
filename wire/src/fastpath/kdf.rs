//! Key derivation: Ke and Ki of one key usage from the session key.
//!
//! * RFC 3961 simplified profile (enctypes 17, 18): `DK(key, usage | 0xAA / 0x55)`, where
//!   DK n-folds the five-byte constant to one AES block and encrypts it with the base key,
//!   again and again, until there are key-length bytes ("random-to-key" is the identity for
//!   AES).
//! * RFC 8009 (enctypes 19, 20): `KDF-HMAC-SHA2(key, usage | 0xAA / 0x55, bits)`, one HMAC
//!   (SP 800-108 counter mode with a single block): Ke is 128/256 bits, Ki 128/192.
//!
//! Derived keys are returned in [`Zeroizing`] buffers, so no copy outlives its use.

use hmac::{Hmac, KeyInit, Mac};
use sha2_rfc8009::{Sha256, Sha384};
use zeroize::{Zeroize, Zeroizing};

use super::cipher::{Aes, BLOCK_LEN};
use super::Enctype;
use crate::{Error, Result};

/// A derived key, wiped when dropped.
pub(crate) type DerivedKey = Zeroizing<Vec<u8>>;

/// Last byte of the constant that derives the encryption key Ke.
pub(crate) const KE_SUFFIX: u8 = 0xAA;
/// Last byte of the constant that derives the integrity key Ki.
pub(crate) const KI_SUFFIX: u8 = 0x55;
/// Last byte of the constant that derives the checksum key Kc (not used by wrap tokens;
/// kept for the known-answer tests, which publish Kc too).
pub(crate) const KC_SUFFIX: u8 = 0x99;

/// Ke and Ki of `usage`.
pub(crate) fn derive_ke_ki(
    enctype: Enctype,
    base_key: &[u8],
    usage: u32,
) -> Result<(DerivedKey, DerivedKey)> {
    Ok((
        derive(enctype, base_key, usage, KE_SUFFIX)?,
        derive(enctype, base_key, usage, KI_SUFFIX)?,
    ))
}

/// The key of `usage | suffix` (Ke, Ki or Kc).
pub(crate) fn derive(
    enctype: Enctype,
    base_key: &[u8],
    usage: u32,
    suffix: u8,
) -> Result<DerivedKey> {
    if base_key.len() != enctype.key_len() {
        return Err(Error::KeyLength {
            enctype: enctype.number(),
            len: base_key.len(),
            expected: enctype.key_len(),
        });
    }
    let mut label = [0u8; 5];
    label[..4].copy_from_slice(&usage.to_be_bytes());
    label[4] = suffix;
    match enctype {
        Enctype::Aes128CtsHmacSha1_96 | Enctype::Aes256CtsHmacSha1_96 => {
            dk_aes(base_key, &label, enctype.key_len())
        }
        Enctype::Aes128CtsHmacSha256_128 => Ok(kdf_hmac_sha2::<Hmac<Sha256>>(base_key, &label, 16)),
        Enctype::Aes256CtsHmacSha384_192 => {
            let len = if suffix == KE_SUFFIX { 32 } else { 24 };
            Ok(kdf_hmac_sha2::<Hmac<Sha384>>(base_key, &label, len))
        }
    }
}

/// RFC 3961 §5.1 DK with AES: `k-truncate(E(n-fold(c)) | E(E(n-fold(c))) | ...)`.
fn dk_aes(base_key: &[u8], constant: &[u8], len: usize) -> Result<DerivedKey> {
    let aes = Aes::new(base_key)?;
    let mut block = Zeroizing::new([0u8; BLOCK_LEN]);
    block.copy_from_slice(&nfold(constant, BLOCK_LEN));
    let mut out = Zeroizing::new(Vec::with_capacity(len + BLOCK_LEN));
    while out.len() < len {
        aes.encrypt_block(&mut block);
        out.extend_from_slice(&block[..]);
    }
    out.truncate(len);
    Ok(out)
}

/// RFC 8009 §3 `KDF-HMAC-SHA2(key, label, k) = k-truncate(HMAC(key, 00000001 | label | 00 | k))`
/// with `k` in bits; one HMAC output covers every key length used here.
fn kdf_hmac_sha2<M: Mac + KeyInit>(key: &[u8], label: &[u8], len: usize) -> DerivedKey {
    let mut mac = match <M as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => <M as KeyInit>::new(&Default::default()),
    };
    mac.update(&1u32.to_be_bytes());
    mac.update(label);
    mac.update(&[0]);
    let bits = u32::try_from(len * 8).unwrap_or(u32::MAX);
    mac.update(&bits.to_be_bytes());
    let mut full = mac.finalize().into_bytes();
    let key = Zeroizing::new(full[..len.min(full.len())].to_vec());
    full.as_mut_slice().zeroize();
    key
}

/// RFC 3961 §5.1 n-fold: stretches or folds `input` to `out_len` bytes.
///
/// Take `lcm(len(input), out_len)` bytes made of copies of the input, copy `k` rotated right
/// by `13·k` bits, cut them into `out_len`-byte pieces and add those with one's-complement
/// (end-around carry) addition.
pub(crate) fn nfold(input: &[u8], out_len: usize) -> Vec<u8> {
    if input.is_empty() || out_len == 0 {
        return vec![0; out_len];
    }
    let in_len = input.len();
    let total = lcm(in_len, out_len);
    // Column sums of the pieces, least significant byte last; carried afterwards.
    let mut sums = vec![0u64; out_len];
    for copy in 0..total / in_len {
        let rotation = (13 * copy) % (in_len * 8);
        for i in 0..in_len {
            sums[(copy * in_len + i) % out_len] += u64::from(rotated_byte(input, rotation, i));
        }
    }
    loop {
        let mut carry = 0u64;
        for s in sums.iter_mut().rev() {
            let v = *s + carry;
            *s = v & 0xff;
            carry = v >> 8;
        }
        if carry == 0 {
            break;
        }
        // End-around carry: 2^(8·out_len) ≡ 1 in one's-complement arithmetic.
        if let Some(last) = sums.last_mut() {
            *last += carry;
        }
    }
    sums.into_iter().map(|s| (s & 0xff) as u8).collect()
}

/// Byte `index` of `input` rotated right by `rotation` bits (big-endian bit order).
fn rotated_byte(input: &[u8], rotation: usize, index: usize) -> u8 {
    let bits = input.len() * 8;
    let mut b = 0u8;
    for bit in 0..8 {
        let src = (index * 8 + bit + bits - rotation) % bits;
        let v = (input[src / 8] >> (7 - src % 8)) & 1;
        b |= v << (7 - bit);
    }
    b
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}
