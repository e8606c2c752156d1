//! Known answers: RFC 3961 n-fold, RFC 3962 AES-CTS, RFC 3961 DK with AES and MIT's
//! known ciphertexts (enctypes 17, 18), RFC 8009 key derivation and encryption (19, 20),
//! whole wrap tokens (checked against MIT), and a wrap/unwrap round trip per enctype.
//!
//! [`self_test`] runs all of them in about half a millisecond of CPU (release build), so a
//! daemon runs it at start and keeps the fast path off if anything differs. The unit tests run each group on
//! its own for a precise failure.
//!
//! Sources: RFC 3961 appendix A.1 (n-fold), RFC 3962 appendix B (AES-CTS with the key
//! "chicken teriyaki"), MIT krb5's `t_derive.c` and `t_decrypt.c` (DK with AES, known
//! ciphertexts of enctypes 17 and 18), RFC 8009 appendix A; the whole-token examples were
//! made here and checked with MIT's `krb5_c_decrypt` (see [`WRAP_TOKENS`]).

use super::cipher::{Aes, UsageKeys, CONFOUNDER_LEN};
use super::{kdf, Enctype, FastContext, LucidParams};
use crate::{Error, Result};
use zeroize::Zeroizing;

/// RFC 3961 A.1: (input, output length in bytes, n-fold of input).
pub(crate) const NFOLD: &[(&str, usize, &str)] = &[
    ("012345", 8, "be072631276b1955"),
    ("password", 7, "78a07b6caf85fa"),
    ("Rough Consensus, and Running Code", 8, "bb6ed30870b7f0e0"),
    ("password", 21, "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"),
    (
        "MASSACHVSETTS INSTITVTE OF TECHNOLOGY",
        24,
        "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b",
    ),
    ("Q", 21, "518a54a215a8452a518a54a215a8452a518a54a215"),
    ("ba", 21, "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"),
    ("kerberos", 8, "6b65726265726f73"),
    ("kerberos", 16, "6b65726265726f737b9b5b2b93132b93"),
    ("kerberos", 21, "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4"),
    (
        "kerberos",
        32,
        "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4",
    ),
];

/// RFC 3962 appendix B: the AES-128 key "chicken teriyaki", IV zero.
pub(crate) const CTS_KEY: &str = "636869636b656e207465726979616b69";
/// RFC 3962 appendix B plaintext; the vectors use its first 17, 31, 32, 47, 48, 64 bytes.
pub(crate) const CTS_PLAIN: &[u8] =
    b"I would like the General Gau's Chicken, please, and wonton soup.";
/// RFC 3962 appendix B: (plaintext length, ciphertext).
pub(crate) const CTS: &[(usize, &str)] = &[
    (17, "c6353568f2bf8cb4d8a580362da7ff7f97"),
    (31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"),
    (32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"),
    (
        47,
        "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5",
    ),
    (
        48,
        "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8",
    ),
    (
        64,
        "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8",
    ),
];

/// Derived keys of usage 2: (enctype, base key, Kc, Ke, Ki). AES-SHA1 from MIT `t_derive.c`
/// (RFC 3961 DK), AES-SHA2 from RFC 8009 appendix A.
pub(crate) const DERIVE: &[(Enctype, &str, &str, &str, &str)] = &[
    (
        Enctype::Aes128CtsHmacSha1_96,
        "42263c6e89f4fc28b8df68ee09799f15",
        "34280a382bc92769b2da2f9ef066854b",
        "5b14fc4e250e14ddf9dccf1af6674f53",
        "4ed31063621684f09ae8d89991af3e8f",
    ),
    (
        Enctype::Aes256CtsHmacSha1_96,
        "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161",
        "bfab388bdcb238e9f9c98d6a878304f04d30c82556375ac507a7a852790f4674",
        "c7cfd9cd75fe793a586a542d87e0d1396f1134a104bb1a9190b8c90ada3ddf37",
        "97151b4c76945063e2eb0529dc067d97d7bba90776d8126d91f34f3101aea8ba",
    ),
    (
        Enctype::Aes128CtsHmacSha256_128,
        "3705d96080c17728a0e800eab6e0d23c",
        "b31a018a48f54776f403e9a396325dc3",
        "9b197dd1e8c5609d6e67c3e37c62c72e",
        "9fda0e56ab2d85e1569a688696c26a6c",
    ),
    (
        Enctype::Aes256CtsHmacSha384_192,
        "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52",
        "ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d",
        "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49",
        "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f",
    ),
];

/// One known encryption: the confounder is the first 16 bytes of the decrypted ciphertext,
/// so re-encrypting with it must give the same bytes.
pub(crate) struct Encryption {
    pub(crate) enctype: Enctype,
    pub(crate) key: &'static str,
    pub(crate) usage: u32,
    pub(crate) plain: &'static [u8],
    pub(crate) cipher: &'static str,
}

const fn enc(
    enctype: Enctype,
    key: &'static str,
    usage: u32,
    plain: &'static [u8],
    cipher: &'static str,
) -> Encryption {
    Encryption {
        enctype,
        key,
        usage,
        plain,
        cipher,
    }
}

const AES128_8009: &str = "3705d96080c17728a0e800eab6e0d23c";
const AES256_8009: &str = "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52";
const P6: &[u8] = &[0, 1, 2, 3, 4, 5];
const P16: &[u8] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const P21: &[u8] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
];

/// Known ciphertexts: MIT `t_decrypt.c` (17, 18), RFC 8009 appendix A (19, 20).
pub(crate) const ENCRYPTIONS: &[Encryption] = &[
    enc(Enctype::Aes128CtsHmacSha1_96, "5a5c0f0ba54f3828b2195e66ca24a289", 0, b"",
        "49ff8e11c173d9583a3254fbe7b1f1df36c538e8416784a1672e6676"),
    enc(Enctype::Aes128CtsHmacSha1_96, "98450e3f3baa13f5c99beb936981b06f", 1, b"1",
        "f86742f537b35dc2174a4dbaa920faf9042090b065e1ebb1cad9a65394"),
    enc(Enctype::Aes128CtsHmacSha1_96, "9062430c8cda3388922e6d6a509f5b7a", 2, b"9 bytesss",
        "68fb9679601f45c78857b2bf820fd6e53eca8d42fd4b1d7024a09205abb7cd2ec26c355d2f"),
    enc(Enctype::Aes128CtsHmacSha1_96, "033ee6502c54fd23e27791e987983827", 3, b"13 bytes byte",
        "ec366d0327a933bf49330e650e49bc6b974637fe80bf532fe51795b4809718e6194724db948d1fd637"),
    enc(Enctype::Aes128CtsHmacSha1_96, "dceeb70b3de76562e689226c76429148", 4,
        b"30 bytes bytes bytes bytes byt",
        "c96081032d5d8eeb7e32b4089f789d0faa481dea74c0f97cbf3146ddfcf8e800156ecb532fc203e30ff600b63b350939fece510f02d7ff1e7bac"),
    enc(Enctype::Aes256CtsHmacSha1_96,
        "17f275f2954f2ed1f90c377ba7f4d6a369aa0136e0bf0c927ad6133c693759a9", 0, b"",
        "e5094c55ee7b38262e2b044280b069379a95bf95bd8376fb3281b435"),
    enc(Enctype::Aes256CtsHmacSha1_96,
        "b9477e1ff0329c0050e20ce6c72d2dff27e8fe541ab0954429a9cb5b4f7b1e2a", 1, b"1",
        "406150b97aeb76d43b36b62cc1ecdfbe6f40e95755e0beb5c27825f3a4"),
    enc(Enctype::Aes256CtsHmacSha1_96,
        "b1ae4cd8462aff1677053cc9279aac30b796fb81ce21474dd3ddbcfea4ec76d7", 2, b"9 bytesss",
        "09957aa25fcaf88f7b39e4406e633012d5fea21853f6478da7065caef41fd454a40824eec5"),
    enc(Enctype::Aes256CtsHmacSha1_96,
        "e5a72be9b7926c1225bafef9c1872e7ba4cdb2b17893d84abd90acdd8764d966", 3, b"13 bytes byte",
        "d8f1aafeec84587cc3e700a774e56651a6d693e174ec4473b5e6d96f80297a653fb818ad893e719f96"),
    enc(Enctype::Aes256CtsHmacSha1_96,
        "f1c795e9248a09338d82c3f8d5b567040b0110736845041347235b1404231398", 4,
        b"30 bytes bytes bytes bytes byt",
        "d1137a4d634cfece924dbc3bf6790648bd5cff7de0e7b99460211d0daef3d79a295c688858f3b34b9cbd6eebae81daf6b734d4d498b6714f1c1d"),
    enc(Enctype::Aes128CtsHmacSha256_128, AES128_8009, 2, b"",
        "ef85fb890bb8472f4dab20394dca781dad877eda39d50c870c0d5a0a8e48c718"),
    enc(Enctype::Aes128CtsHmacSha256_128, AES128_8009, 2, P6,
        "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e52d16ed4421dfdf8976c"),
    enc(Enctype::Aes128CtsHmacSha256_128, AES128_8009, 2, P16,
        "3517d640f50ddc8ad3628722b3569d2ae07493fa8263254080ea65c1008e8fc295fb4852e7d83e1e7c48c37eebe6b0d3"),
    enc(Enctype::Aes128CtsHmacSha256_128, AES128_8009, 2, P21,
        "720f73b18d9859cd6ccb4346115cd336c70f58edc0c4437c5573544c31c813bce1e6d072c186b39a413c2f92ca9b8334a287ffcbfc"),
    enc(Enctype::Aes256CtsHmacSha384_192, AES256_8009, 2, b"",
        "41f53fa5bfe7026d91faf9be959195a058707273a96a40f0a01960621ac612748b9bbfbe7eb4ce3c"),
    enc(Enctype::Aes256CtsHmacSha384_192, AES256_8009, 2, P6,
        "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f69eab7b6092237526ea0d1f61cb20d69d10f2"),
    enc(Enctype::Aes256CtsHmacSha384_192, AES256_8009, 2, P16,
        "bc47ffec7998eb91e8115cf8d19dac4bbbe2e163e87dd37f49beca92027764f68cf51f14d798c2273f35df574d1f932e40c4ff255b36a266"),
    enc(Enctype::Aes256CtsHmacSha384_192, AES256_8009, 2, P21,
        "40013e2df58e8751957d2878bcd2d6fe101ccfd556cb1eae79db3c3ee86429f2b2a602ac86fef6ecb647d6295fae077a1feb517508d2c16b4192e01f62"),
];

/// Whole sealed wrap tokens: key `00 01 02 ..` of the enctype's length, AcceptorSubkey set,
/// SND_SEQ 0x2a, confounder `a0 a1 .. af`, plaintext "burnstand"; (enctype, sent by the
/// initiator, token). MIT krb5 1.20.1's `krb5_c_decrypt` of each token's body with key
/// usage 24 (initiator) / 22 (acceptor) gives confounder | "burnstand" | the token's header,
/// as RFC 4121 §4.2.4 says; `docs/protocol.md` can quote them as examples.
pub(crate) const WRAP_TOKENS: &[(Enctype, bool, &str)] = &[
    (
        Enctype::Aes128CtsHmacSha1_96,
        true,
        "050406ff00000000000000000000002a1e3d2273790a0afab7989e8dc021d626c545ba6fa35488a8e5bb04d1964594f8514fe8be27789bb7defea04e70bea334dec22dd9fb",
    ),
    (
        Enctype::Aes128CtsHmacSha1_96,
        false,
        "050407ff00000000000000000000002ac6508a821164bed2640a7d97ca5d6d30fa57ba02cdbdde433183ca1cf407cd315499b8f183235f41d9860b3bf764ac8ee3ce4673c0",
    ),
    (
        Enctype::Aes256CtsHmacSha1_96,
        true,
        "050406ff00000000000000000000002a6eb423060d1cf7120591a44def5b99fd22f8b737b99e5eb009ed9041910def6667a9b923501fba17e2713c21faa4574d73c032ff46",
    ),
    (
        Enctype::Aes256CtsHmacSha1_96,
        false,
        "050407ff00000000000000000000002aee8250219338148c6212c18d776bd20f29e800b6e771e00c796de9d992bedf2d18e62b3188cf0908cd2b763c3336d797055627a7eb",
    ),
    (
        Enctype::Aes128CtsHmacSha256_128,
        true,
        "050406ff00000000000000000000002aeed41419ba263353b8d2f273c4cec670ac5c1c6f173c7e2759f2f555969442a62e78123a22acc94e915479700db579606c9b5a5c4b155ad83d",
    ),
    (
        Enctype::Aes128CtsHmacSha256_128,
        false,
        "050407ff00000000000000000000002a52439cd3f12ce697446b3ef6c9d32a47a3e022da0f42776910d158033fe2c5322f47926c227e81b6a8d7ed2db55408dfb76b5cd455e826f5bd",
    ),
    (
        Enctype::Aes256CtsHmacSha384_192,
        true,
        "050406ff00000000000000000000002a001317e0d8235cc9803f488329176dc3ff4df8392879660ffb00ffcadc787c2f30745c020c88772e5347be091ddc6ced8ccca6eb8ce0529c002e064808ccfa567f",
    ),
    (
        Enctype::Aes256CtsHmacSha384_192,
        false,
        "050407ff00000000000000000000002aba8a3bf4e5b6c3a82b1bcb3e81d12437825a91f6e28277b72dcbfc8ea20ffb55c7fc8b1d123569eed7b45012031002dcb8624152e0f25ab5c18341062f9c4d5a0b",
    ),
];

/// The plaintext of [`WRAP_TOKENS`].
pub(crate) const WRAP_PLAIN: &[u8] = b"burnstand";
/// The sequence number of [`WRAP_TOKENS`].
pub(crate) const WRAP_SEQ: u64 = 0x2a;
/// The confounder of [`WRAP_TOKENS`].
pub(crate) const WRAP_CONFOUNDER: [u8; CONFOUNDER_LEN] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];

/// Decodes lower- or upper-case hex; `None` on anything else (never panics).
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let pairs = s.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

fn fail(what: &'static str) -> Error {
    Error::SelfTest { what }
}

fn hex_of(s: &str, what: &'static str) -> Result<Vec<u8>> {
    unhex(s).ok_or(fail(what))
}

/// RFC 3961 n-fold vectors.
pub(crate) fn check_nfold() -> Result<()> {
    for &(input, len, expected) in NFOLD {
        if kdf::nfold(input.as_bytes(), len) != hex_of(expected, "n-fold")? {
            return Err(fail("n-fold (RFC 3961 A.1)"));
        }
    }
    Ok(())
}

/// RFC 3962 AES-CTS vectors, both ways.
pub(crate) fn check_cts() -> Result<()> {
    let aes = Aes::new(&hex_of(CTS_KEY, "AES-CTS")?)?;
    for &(len, expected) in CTS {
        let expected = hex_of(expected, "AES-CTS")?;
        let plain = CTS_PLAIN.get(..len).ok_or(fail("AES-CTS"))?;
        let mut buf = plain.to_vec();
        aes.cts_encrypt(&mut buf)?;
        if buf != expected {
            return Err(fail("AES-CTS encryption (RFC 3962 B)"));
        }
        aes.cts_decrypt(&mut buf)?;
        if buf != plain {
            return Err(fail("AES-CTS decryption (RFC 3962 B)"));
        }
    }
    Ok(())
}

/// DK / KDF-HMAC-SHA2 vectors for Kc, Ke, Ki of usage 2.
pub(crate) fn check_derive() -> Result<()> {
    for &(enctype, base, kc, ke, ki) in DERIVE {
        let base = Zeroizing::new(hex_of(base, "key derivation")?);
        for (suffix, expected) in [
            (kdf::KC_SUFFIX, kc),
            (kdf::KE_SUFFIX, ke),
            (kdf::KI_SUFFIX, ki),
        ] {
            if *kdf::derive(enctype, &base, 2, suffix)? != hex_of(expected, "key derivation")? {
                return Err(fail(match enctype {
                    Enctype::Aes128CtsHmacSha1_96 | Enctype::Aes256CtsHmacSha1_96 => {
                        "key derivation DK (RFC 3961 with AES)"
                    }
                    _ => "key derivation KDF-HMAC-SHA2 (RFC 8009 A)",
                }));
            }
        }
    }
    Ok(())
}

/// Known ciphertexts: each decrypts to its plaintext, and re-encrypts byte-identically with
/// the confounder it carries; a flipped bit fails the checksum.
pub(crate) fn check_encryptions() -> Result<()> {
    for v in ENCRYPTIONS {
        let what = match v.enctype {
            Enctype::Aes128CtsHmacSha1_96 | Enctype::Aes256CtsHmacSha1_96 => {
                "encryption (RFC 3962, MIT t_decrypt)"
            }
            _ => "encryption (RFC 8009 A)",
        };
        let key = Zeroizing::new(hex_of(v.key, what)?);
        let keys = UsageKeys::derive(v.enctype, &key, v.usage)?;
        let cipher = hex_of(v.cipher, what)?;
        let mut buf = cipher.clone();
        let n = keys.decrypt_in_place(&mut buf).map_err(|_| fail(what))?;
        let (confounder, plain) = buf[..n].split_at(CONFOUNDER_LEN);
        if plain != v.plain {
            return Err(fail(what));
        }
        let confounder: [u8; CONFOUNDER_LEN] = confounder.try_into().map_err(|_| fail(what))?;
        let mut again = Vec::new();
        keys.encrypt_append(&mut again, &confounder, &[v.plain])?;
        if again != cipher {
            return Err(fail(what));
        }
        let mut tampered = cipher.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        if !matches!(keys.decrypt_in_place(&mut tampered), Err(Error::Integrity)) {
            return Err(fail(what));
        }
    }
    Ok(())
}

/// The known wrap tokens: re-made byte for byte, and opened by the peer.
pub(crate) fn check_wrap_tokens() -> Result<()> {
    const WHAT: &str = "wrap token layout (RFC 4121, cross-checked with MIT)";
    for &(enctype, initiator, expected) in WRAP_TOKENS {
        let expected = hex_of(expected, WHAT)?;
        let key: Vec<u8> = (0..enctype.key_len()).map(|i| i as u8).collect();
        let side = |initiator| {
            FastContext::new(LucidParams {
                initiator,
                enctype,
                key: Zeroizing::new(key.clone()),
                acceptor_subkey: true,
                send_seq: WRAP_SEQ,
                recv_seq: WRAP_SEQ,
            })
        };
        let mut token = Vec::new();
        side(initiator)?.wrap_with_confounder_for_tests(
            WRAP_PLAIN,
            &WRAP_CONFOUNDER,
            &mut token,
        )?;
        if token != expected {
            return Err(fail(WHAT));
        }
        let mut plain = Vec::new();
        side(!initiator)?
            .unwrap_into(&expected, &mut plain)
            .map_err(|_| fail(WHAT))?;
        if plain != WRAP_PLAIN {
            return Err(fail(WHAT));
        }
    }
    Ok(())
}

/// A wrap/unwrap round trip per enctype, both directions, and a refused tampered token.
pub(crate) fn check_round_trips() -> Result<()> {
    for enctype in Enctype::ALL {
        let key: Vec<u8> = (0..enctype.key_len()).map(|i| i as u8 ^ 0x5c).collect();
        let params = |initiator| LucidParams {
            initiator,
            enctype,
            key: Zeroizing::new(key.clone()),
            acceptor_subkey: true,
            send_seq: 7,
            recv_seq: 7,
        };
        let mut initiator = FastContext::new(params(true))?;
        let mut acceptor = FastContext::new(params(false))?;
        round_trip(&mut initiator, &mut acceptor)?;
        round_trip(&mut acceptor, &mut initiator)?;
    }
    Ok(())
}

fn round_trip(from: &mut FastContext, to: &mut FastContext) -> Result<()> {
    const WHAT: &str = "wrap/unwrap round trip";
    let message = b"burnstand fast-path self-test, 37 B";
    let mut token = Vec::new();
    from.wrap_into(message, &mut token)?;
    let mut tampered = token.clone();
    if let Some(b) = tampered.get_mut(40) {
        *b ^= 0x80;
    }
    if to.unwrap_into(&tampered, &mut Vec::new()).is_ok() {
        return Err(fail(WHAT));
    }
    let mut plain = Vec::new();
    to.unwrap_into(&token, &mut plain).map_err(|_| fail(WHAT))?;
    if plain != message {
        return Err(fail(WHAT));
    }
    Ok(())
}

/// Known-answer tests (RFC 3961/3962/8009 vectors, MIT's known ciphertexts, a wrap/unwrap
/// round trip per enctype), cheap enough to run at daemon start: a daemon refuses to use the
/// fast path if this fails. The error names the group that failed ([`Error::SelfTest`]).
pub fn self_test() -> Result<()> {
    check_nfold()?;
    check_cts()?;
    check_derive()?;
    check_encryptions()?;
    check_wrap_tokens()?;
    check_round_trips()
}
