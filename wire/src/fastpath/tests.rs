//! Unit tests of the fast path: known answers, round trips, and refusals.
//!
//! The differential tests against MIT live in `wire/tests/it/` (they need a realm); these
//! check the RFC vectors and the token rules with two Rust ends.

use super::cipher::CONFOUNDER_LEN;
use super::token::{flags, Header, EC_OFFSET, FLAGS_OFFSET, HEADER_LEN, RRC_OFFSET, SEQ_OFFSET};
use super::vectors;
use super::*;
use crate::limits::MAX_MESSAGE_LEN;
use proptest::prelude::*;

// --- known answers ---------------------------------------------------------------------------

#[test]
fn nfold_matches_rfc_3961() {
    vectors::check_nfold().unwrap();
}

#[test]
fn aes_cts_matches_rfc_3962() {
    vectors::check_cts().unwrap();
}

#[test]
fn key_derivation_matches_mit_and_rfc_8009() {
    vectors::check_derive().unwrap();
}

#[test]
fn encryption_matches_mit_and_rfc_8009() {
    vectors::check_encryptions().unwrap();
}

#[test]
fn wrap_tokens_match_the_known_tokens() {
    vectors::check_wrap_tokens().unwrap();
}

#[test]
fn self_test_passes() {
    self_test().unwrap();
}

#[test]
fn key_usages_follow_the_sender() {
    // Derive by hand what each side should use and check a token of one side opens only with
    // the peer usage's keys: the initiator seals with 24, the acceptor with 22.
    let key = key_for(Enctype::Aes256CtsHmacSha1_96, 1);
    let (mut init, _) = pair_with(Enctype::Aes256CtsHmacSha1_96, &key, true, 0);
    let mut token = Vec::new();
    init.wrap_into(b"usage", &mut token).unwrap();
    let keys24 = cipher::UsageKeys::derive(Enctype::Aes256CtsHmacSha1_96, &key, 24).unwrap();
    let keys22 = cipher::UsageKeys::derive(Enctype::Aes256CtsHmacSha1_96, &key, 22).unwrap();
    let mut body = token[HEADER_LEN..].to_vec();
    assert!(matches!(
        keys22.decrypt_in_place(&mut body),
        Err(Error::Integrity)
    ));
    let mut body = token[HEADER_LEN..].to_vec();
    let n = keys24.decrypt_in_place(&mut body).unwrap();
    assert_eq!(&body[CONFOUNDER_LEN..n - HEADER_LEN], b"usage");
}

// --- helpers -----------------------------------------------------------------------------------

/// A key of the enctype's length, different per `seed`.
fn key_for(enctype: Enctype, seed: u8) -> Vec<u8> {
    (0..enctype.key_len())
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn params(enctype: Enctype, key: &[u8], initiator: bool, subkey: bool, seq: u64) -> LucidParams {
    LucidParams {
        initiator,
        enctype,
        key: Zeroizing::new(key.to_vec()),
        acceptor_subkey: subkey,
        send_seq: seq,
        recv_seq: seq,
    }
}

/// (initiator, acceptor) of one context.
fn pair_with(enctype: Enctype, key: &[u8], subkey: bool, seq: u64) -> (FastContext, FastContext) {
    (
        FastContext::new(params(enctype, key, true, subkey, seq)).unwrap(),
        FastContext::new(params(enctype, key, false, subkey, seq)).unwrap(),
    )
}

fn pair(enctype: Enctype) -> (FastContext, FastContext) {
    pair_with(enctype, &key_for(enctype, 7), true, 0)
}

fn wrap(ctx: &mut FastContext, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ctx.wrap_into(plaintext, &mut out).unwrap();
    out
}

fn unwrap(ctx: &mut FastContext, token: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ctx.unwrap_into(token, &mut out).map(|()| out)
}

fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A sealed token the way any RFC 4121 sender may make it: chosen EC (filler bytes), RRC
/// and flags. Uses the sender's keys, so it is authentic.
fn custom_token(
    sender: &mut FastContext,
    plaintext: &[u8],
    ec: u16,
    rrc: u16,
    flag_bits: u8,
) -> Vec<u8> {
    let seq = sender.seq.next_send().unwrap();
    let inner = Header {
        flags: flag_bits,
        ec,
        rrc: 0,
        seq,
    }
    .encode();
    let outer = Header {
        rrc,
        ..Header::parse(&inner).unwrap()
    }
    .encode();
    let filler = vec![0x58; usize::from(ec)];
    let mut token = outer.to_vec();
    sender
        .send
        .encrypt_append(
            &mut token,
            &[0x42; CONFOUNDER_LEN],
            &[plaintext, &filler, &inner],
        )
        .unwrap();
    let body_len = token.len() - HEADER_LEN;
    token[HEADER_LEN..].rotate_right(usize::from(rrc) % body_len);
    sender.seq.sent();
    token
}

const EDGE_LENGTHS: [usize; 10] = [0, 1, 15, 16, 17, 31, 32, 33, 64 * 1024, MAX_MESSAGE_LEN];

// --- round trips -------------------------------------------------------------------------------

#[test]
fn every_enctype_round_trips_every_edge_length_both_ways_with_and_without_subkey() {
    for enctype in Enctype::ALL {
        for subkey in [false, true] {
            let (mut init, mut acc) = pair_with(enctype, &key_for(enctype, 3), subkey, 1000);
            for len in EDGE_LENGTHS {
                let m = message(len);
                let token = wrap(&mut init, &m);
                assert_eq!(
                    token.len(),
                    len + enctype.wrap_overhead(),
                    "{enctype} {len}"
                );
                assert_eq!(unwrap(&mut acc, &token).unwrap(), m, "{enctype} {len} i->a");
                let token = wrap(&mut acc, &m);
                assert_eq!(
                    unwrap(&mut init, &token).unwrap(),
                    m,
                    "{enctype} {len} a->i"
                );
            }
            assert_eq!(init.send_seq(), Some(1000 + EDGE_LENGTHS.len() as u64));
            assert_eq!(acc.recv_seq(), Some(1000 + EDGE_LENGTHS.len() as u64));
        }
    }
}

#[test]
fn tokens_have_mits_layout() {
    for enctype in Enctype::ALL {
        for (subkey, acceptor_flag) in [(false, 0), (true, flags::ACCEPTOR_SUBKEY)] {
            let (mut init, mut acc) = pair_with(enctype, &key_for(enctype, 9), subkey, 0x0102);
            let t = wrap(&mut init, b"abc");
            assert_eq!(&t[..2], &[0x05, 0x04]);
            assert_eq!(t[FLAGS_OFFSET], flags::SEALED | acceptor_flag);
            assert_eq!(t[3], 0xFF);
            assert_eq!(&t[EC_OFFSET..RRC_OFFSET], &[0, 0], "EC = 0");
            assert_eq!(&t[RRC_OFFSET..SEQ_OFFSET], &[0, 0], "RRC = 0");
            assert_eq!(&t[SEQ_OFFSET..HEADER_LEN], &0x0102u64.to_be_bytes());
            let t = wrap(&mut acc, b"abc");
            assert_eq!(
                t[FLAGS_OFFSET],
                flags::SEALED | flags::SENT_BY_ACCEPTOR | acceptor_flag
            );
        }
    }
}

#[test]
fn tokens_are_randomized_by_the_confounder() {
    let (mut a, _) = pair(Enctype::Aes128CtsHmacSha256_128);
    let (mut b, _) = pair(Enctype::Aes128CtsHmacSha256_128);
    assert_ne!(wrap(&mut a, b"same"), wrap(&mut b, b"same"));
}

#[test]
fn a_rewrap_with_the_recovered_confounder_is_byte_identical() {
    for enctype in Enctype::ALL {
        let key = key_for(enctype, 5);
        let (mut sender, mut receiver) = pair_with(enctype, &key, true, 42);
        let (mut again, _) = pair_with(enctype, &key, true, 42);
        let m = message(100);
        let token = wrap(&mut sender, &m);
        let mut opened = token.clone();
        let plain = receiver.unwrap_in_place(&mut opened).unwrap();
        assert_eq!(&opened[plain.clone()], &m[..]);
        let confounder = &opened[plain.start - CONFOUNDER_LEN..plain.start];
        let mut rewrapped = Vec::new();
        again
            .wrap_with_confounder_for_tests(&m, confounder, &mut rewrapped)
            .unwrap();
        assert_eq!(rewrapped, token, "{enctype}");
    }
}

#[test]
fn any_ec_and_rrc_a_sender_chooses_is_accepted() {
    for enctype in Enctype::ALL {
        let (mut init, mut acc) = pair(enctype);
        let f = flags::SEALED | flags::ACCEPTOR_SUBKEY;
        let m = message(40);
        let overhead = enctype.wrap_overhead() - HEADER_LEN;
        for (ec, rrc) in [
            (0, 0),
            (0, 28),
            (5, 0),
            (16, 16 + enctype.mac_len() as u16),
            (3, 1000),
            (0, u16::MAX),
            // RRC a multiple of the body length: no rotation at all.
            (0, (m.len() + overhead) as u16),
        ] {
            let t = custom_token(&mut init, &m, ec, rrc, f);
            assert_eq!(
                unwrap(&mut acc, &t).unwrap(),
                m,
                "{enctype} EC {ec} RRC {rrc}"
            );
        }
    }
}

#[test]
fn unwrap_in_place_and_unwrap_into_agree() {
    let (mut init, mut acc) = pair(Enctype::Aes256CtsHmacSha384_192);
    let m = message(1000);
    let mut t = wrap(&mut init, &m);
    let range = acc.unwrap_in_place(&mut t).unwrap();
    assert_eq!(&t[range], &m[..]);
    let mut out = b"kept".to_vec();
    let t = wrap(&mut init, &m);
    acc.unwrap_into(&t, &mut out).unwrap();
    assert_eq!(&out[..4], b"kept");
    assert_eq!(&out[4..], &m[..]);
}

#[test]
fn protection_seal_and_open_are_wrap_and_unwrap() {
    let (mut init, mut acc) = pair(Enctype::Aes128CtsHmacSha1_96);
    let sealed = init.seal(b"over the seam").unwrap();
    assert_eq!(acc.open(&sealed).unwrap(), b"over the seam");
    assert!(matches!(
        acc.open(&sealed),
        Err(Error::ReplayedToken { .. })
    ));
}

// --- refusals ----------------------------------------------------------------------------------

/// Checks that `token` is refused with an error `expect` accepts, that nothing was appended,
/// and that the context did not advance (the next genuine token still opens).
fn assert_refused(
    receiver: &mut FastContext,
    token: &[u8],
    genuine: &[u8],
    expect: impl Fn(&Error) -> bool,
    what: &str,
) {
    let before = receiver.recv_seq();
    let mut out = b"prefix".to_vec();
    let err = receiver.unwrap_into(token, &mut out).unwrap_err();
    assert!(expect(&err), "{what}: unexpected {err:?}");
    assert_eq!(out, b"prefix", "{what}: appended on error");
    assert_eq!(receiver.recv_seq(), before, "{what}: advanced on error");
    // The genuine token is still the next one.
    let mut probe = receiver_clone_state(receiver);
    assert!(
        unwrap(&mut probe, genuine).is_ok(),
        "{what}: genuine token no longer opens"
    );
}

/// A context with the same keys and counters as `ctx` (to probe without consuming).
fn receiver_clone_state(ctx: &FastContext) -> FastContext {
    FastContext {
        enctype: ctx.enctype,
        initiator: ctx.initiator,
        acceptor_subkey: ctx.acceptor_subkey,
        send: cipher::UsageKeys::clone_for_tests(&ctx.send),
        recv: cipher::UsageKeys::clone_for_tests(&ctx.recv),
        seq: ctx.seq,
    }
}

/// Which error a refusal test expects.
type Expect = fn(&Error) -> bool;

fn integrity(e: &Error) -> bool {
    matches!(e, Error::Integrity)
}

#[test]
fn tampered_header_ciphertext_and_mac_are_refused() {
    for enctype in Enctype::ALL {
        let (mut init, mut acc) = pair(enctype);
        let genuine = wrap(&mut init, &message(50));
        let mac_start = genuine.len() - enctype.mac_len();
        let cases: Vec<(usize, u8, &str, Expect)> = vec![
            (0, 0x01, "token id", |e| matches!(e, Error::BadToken { .. })),
            (1, 0x10, "token id", |e| matches!(e, Error::BadToken { .. })),
            (FLAGS_OFFSET, flags::SEALED, "Sealed flag", |e| {
                matches!(e, Error::NotSealed)
            }),
            (
                FLAGS_OFFSET,
                flags::SENT_BY_ACCEPTOR,
                "direction flag",
                |e| matches!(e, Error::ReflectedToken),
            ),
            (FLAGS_OFFSET, flags::ACCEPTOR_SUBKEY, "subkey flag", |e| {
                matches!(e, Error::BadToken { .. })
            }),
            (FLAGS_OFFSET, 0x80, "reserved flag", |e| {
                matches!(e, Error::BadToken { .. })
            }),
            (3, 0x01, "filler", |e| matches!(e, Error::BadToken { .. })),
            (EC_OFFSET + 1, 0x01, "EC", integrity),
            (EC_OFFSET, 0x40, "EC beyond the token", |e| {
                matches!(e, Error::BadToken { .. })
            }),
            (RRC_OFFSET + 1, 0x01, "RRC", integrity),
            (RRC_OFFSET + 1, 0x05, "RRC", integrity),
            (SEQ_OFFSET + 7, 0x01, "SND_SEQ", integrity),
            (SEQ_OFFSET, 0x80, "SND_SEQ", integrity),
            (HEADER_LEN, 0x01, "confounder", integrity),
            (HEADER_LEN + 40, 0x80, "ciphertext", integrity),
            (mac_start - 1, 0x01, "last ciphertext byte", integrity),
            (mac_start, 0x01, "MAC", integrity),
            (genuine.len() - 1, 0x80, "MAC", integrity),
        ];
        for (at, bit, what, expect) in cases {
            let mut t = genuine.clone();
            t[at] ^= bit;
            assert_refused(&mut acc, &t, &genuine, expect, &format!("{enctype} {what}"));
        }
        for (t, what) in [
            (genuine[..genuine.len() - 1].to_vec(), "truncated"),
            ([&genuine[..], &[0]].concat(), "extended"),
        ] {
            assert_refused(
                &mut acc,
                &t,
                &genuine,
                integrity,
                &format!("{enctype} {what}"),
            );
        }
        for len in [0, 1, 15, 16, 17, 40, 43] {
            assert_refused(
                &mut acc,
                &genuine[..len],
                &genuine,
                |e| matches!(e, Error::BadToken { .. }),
                &format!("{enctype} cut to {len} bytes"),
            );
        }
        assert_eq!(unwrap(&mut acc, &genuine).unwrap(), message(50));
    }
}

#[test]
fn a_token_made_with_another_key_is_refused() {
    let e = Enctype::Aes128CtsHmacSha256_128;
    let (mut init, _) = pair_with(e, &key_for(e, 1), true, 0);
    let (_, mut acc) = pair_with(e, &key_for(e, 2), true, 0);
    let (mut real, _) = pair_with(e, &key_for(e, 2), true, 0);
    let forged = wrap(&mut init, b"x");
    let genuine = wrap(&mut real, b"x");
    assert_refused(&mut acc, &forged, &genuine, integrity, "other key");
}

#[test]
fn replays_are_refused() {
    for enctype in Enctype::ALL {
        let (mut init, mut acc) = pair(enctype);
        let t0 = wrap(&mut init, b"zero");
        let t1 = wrap(&mut init, b"one");
        assert_eq!(unwrap(&mut acc, &t0).unwrap(), b"zero");
        assert_refused(
            &mut acc,
            &t0,
            &t1,
            |e| {
                matches!(
                    e,
                    Error::ReplayedToken {
                        seq: 0,
                        expected: 1
                    }
                )
            },
            "replay",
        );
        assert_eq!(unwrap(&mut acc, &t1).unwrap(), b"one");
        assert!(matches!(
            unwrap(&mut acc, &t1),
            Err(Error::ReplayedToken {
                seq: 1,
                expected: 2
            })
        ));
    }
}

#[test]
fn out_of_order_tokens_are_refused() {
    let (mut init, mut acc) = pair(Enctype::Aes256CtsHmacSha1_96);
    let t0 = wrap(&mut init, b"zero");
    let t1 = wrap(&mut init, b"one");
    let t2 = wrap(&mut init, b"two");
    assert_refused(
        &mut acc,
        &t1,
        &t0,
        |e| {
            matches!(
                e,
                Error::TokenGap {
                    seq: 1,
                    expected: 0
                }
            )
        },
        "early",
    );
    assert_refused(
        &mut acc,
        &t2,
        &t0,
        |e| {
            matches!(
                e,
                Error::TokenGap {
                    seq: 2,
                    expected: 0
                }
            )
        },
        "gap",
    );
    assert_eq!(unwrap(&mut acc, &t0).unwrap(), b"zero");
    assert_eq!(unwrap(&mut acc, &t1).unwrap(), b"one");
    assert_eq!(unwrap(&mut acc, &t2).unwrap(), b"two");
}

#[test]
fn reflected_tokens_are_refused() {
    for enctype in Enctype::ALL {
        let (mut init, mut acc) = pair(enctype);
        let own = wrap(&mut init, b"mine");
        let genuine = wrap(&mut acc, b"yours");
        assert_refused(
            &mut init,
            &own,
            &genuine,
            |e| matches!(e, Error::ReflectedToken),
            "initiator's own token",
        );
        let (mut init, mut acc) = pair(enctype);
        let own = wrap(&mut acc, b"mine");
        let genuine = wrap(&mut init, b"yours");
        assert_refused(
            &mut acc,
            &own,
            &genuine,
            |e| matches!(e, Error::ReflectedToken),
            "acceptor's own token",
        );
    }
}

#[test]
fn a_reflected_token_with_a_forged_direction_flag_fails_integrity() {
    // Flipping SentByAcceptor makes the flag look right, but the token was sealed with the
    // other usage's keys and its header copy says otherwise.
    let (mut init, _) = pair(Enctype::Aes128CtsHmacSha1_96);
    let mut own = wrap(&mut init, b"mine");
    own[FLAGS_OFFSET] ^= flags::SENT_BY_ACCEPTOR;
    assert!(matches!(unwrap(&mut init, &own), Err(Error::Integrity)));
}

#[test]
fn a_wrong_acceptor_subkey_flag_is_refused_even_when_authentic() {
    for enctype in Enctype::ALL {
        // Same key, but the sender flags the acceptor subkey and the receiver's context has
        // none (and the other way round).
        for (sender_flag, receiver_subkey) in [(true, false), (false, true)] {
            let key = key_for(enctype, 4);
            let (mut init, _) = pair_with(enctype, &key, sender_flag, 0);
            let (mut real, mut acc) = pair_with(enctype, &key, receiver_subkey, 0);
            let t = wrap(&mut init, b"subkey");
            let genuine = wrap(&mut real, b"subkey");
            assert_refused(
                &mut acc,
                &t,
                &genuine,
                |e| matches!(e, Error::BadToken { .. }),
                "AcceptorSubkey mismatch",
            );
        }
    }
}

#[test]
fn an_unsealed_token_is_refused() {
    let e = Enctype::Aes256CtsHmacSha1_96;
    let (mut init, mut acc) = pair(e);
    let t = custom_token(&mut init, b"plain?", 0, 0, flags::ACCEPTOR_SUBKEY);
    let (mut real, _) = pair(e);
    let genuine = wrap(&mut real, b"x");
    assert_refused(
        &mut acc,
        &t,
        &genuine,
        |e| matches!(e, Error::NotSealed),
        "unsealed",
    );
}

#[test]
fn a_header_copy_that_differs_is_refused() {
    // An authentic token whose encrypted header copy names another sequence number: the
    // sender's keys made it, but header and copy disagree.
    let e = Enctype::Aes128CtsHmacSha256_128;
    let (init, mut acc) = pair(e);
    let inner = Header {
        flags: flags::SEALED | flags::ACCEPTOR_SUBKEY,
        ec: 0,
        rrc: 0,
        seq: 9,
    }
    .encode();
    let outer = Header {
        seq: 0,
        ..Header::parse(&inner).unwrap()
    }
    .encode();
    let mut t = outer.to_vec();
    init.send
        .encrypt_append(&mut t, &[1; CONFOUNDER_LEN], &[b"copy", &inner])
        .unwrap();
    let (mut real, _) = pair(e);
    let genuine = wrap(&mut real, b"x");
    assert_refused(&mut acc, &t, &genuine, integrity, "header copy");
}

#[test]
fn sequence_numbers_end_at_u64_max() {
    let e = Enctype::Aes128CtsHmacSha1_96;
    let (mut init, mut acc) = pair_with(e, &key_for(e, 8), true, u64::MAX);
    let last = wrap(&mut init, b"last");
    assert_eq!(&last[SEQ_OFFSET..HEADER_LEN], &[0xFF; 8]);
    let mut out = b"x".to_vec();
    assert!(matches!(
        init.wrap_into(b"one more", &mut out),
        Err(Error::SequenceExhausted)
    ));
    assert_eq!(out, b"x");
    assert_eq!(unwrap(&mut acc, &last).unwrap(), b"last");
    assert!(matches!(
        unwrap(&mut acc, &last),
        Err(Error::SequenceExhausted)
    ));
}

#[test]
fn oversized_input_is_refused_before_any_work() {
    let (mut init, mut acc) = pair(Enctype::Aes128CtsHmacSha1_96);
    let mut out = Vec::new();
    assert!(matches!(
        init.wrap_into(&vec![0; MAX_MESSAGE_LEN + 1], &mut out),
        Err(Error::TooLarge { .. })
    ));
    assert!(out.is_empty());
    assert_eq!(init.send_seq(), Some(0));
    assert!(matches!(
        unwrap(&mut acc, &vec![0; crate::limits::MAX_WRAP_TOKEN_LEN + 1]),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn keys_of_the_wrong_length_are_refused() {
    for enctype in Enctype::ALL {
        for len in [0, 15, 24, 33] {
            let p = params(enctype, &vec![1; len], true, false, 0);
            assert!(matches!(
                FastContext::new(p),
                Err(Error::KeyLength { len: l, .. }) if l == len
            ));
        }
    }
}

#[test]
fn a_short_test_confounder_is_refused() {
    let (mut init, _) = pair(Enctype::Aes128CtsHmacSha1_96);
    let mut out = Vec::new();
    assert!(init
        .wrap_with_confounder_for_tests(b"x", &[0; 15], &mut out)
        .is_err());
    assert!(out.is_empty());
}

#[test]
fn debug_output_shows_no_key() {
    let key = vec![0xAB; 32];
    let p = params(Enctype::Aes256CtsHmacSha1_96, &key, true, true, 0);
    let leaks = |shown: &str| shown.contains("171") || shown.to_lowercase().contains("abab");
    let shown = format!("{p:?}");
    assert!(!leaks(&shown), "{shown}");
    assert!(shown.contains("32 bytes"), "{shown}");
    let ctx = FastContext::new(p).unwrap();
    let shown = format!("{ctx:?}");
    assert!(!leaks(&shown), "{shown}");
}

#[test]
fn enctype_numbers_and_names() {
    for e in Enctype::ALL {
        assert_eq!(Enctype::from_number(e.number()), Some(e));
    }
    assert_eq!(Enctype::from_number(23), None); // rc4-hmac stays on MIT
    assert_eq!(Enctype::from_number(16), None); // des3
    assert_eq!(
        Enctype::Aes256CtsHmacSha1_96.to_string(),
        "aes256-cts-hmac-sha1-96"
    );
    assert_eq!(Enctype::Aes256CtsHmacSha1_96.wrap_overhead(), 60);
    assert!(Enctype::ALL
        .iter()
        .all(|e| e.wrap_overhead() <= crate::limits::MAX_FAST_WRAP_OVERHEAD));
}

// --- hostile input -----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes, or a genuine header followed by arbitrary bytes: never a panic, never
    /// accepted, never appended to, never advancing.
    #[test]
    fn arbitrary_tokens_are_refused_without_panic(
        enctype in 0usize..4,
        raw in proptest::collection::vec(any::<u8>(), 0..200),
        keep_header in any::<bool>(),
    ) {
        let enctype = Enctype::ALL[enctype];
        let (mut init, mut acc) = pair(enctype);
        let genuine = wrap(&mut init, b"genuine");
        let token = if keep_header {
            [&genuine[..HEADER_LEN], &raw[..]].concat()
        } else {
            raw
        };
        let mut out = Vec::new();
        prop_assert!(acc.unwrap_into(&token, &mut out).is_err());
        prop_assert!(out.is_empty());
        prop_assert_eq!(acc.recv_seq(), Some(0));
        prop_assert_eq!(unwrap(&mut acc, &genuine).unwrap(), b"genuine".to_vec());
    }

    /// A genuine token with bytes changed: refused, unless only the RRC changed by a
    /// multiple of the body length (which RFC 4121 leaves unprotected and which rotates
    /// nothing); then the plaintext is unchanged.
    #[test]
    fn mutated_tokens_are_refused(
        enctype in 0usize..4,
        len in 0usize..80,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let enctype = Enctype::ALL[enctype];
        let (mut init, mut acc) = pair(enctype);
        let m = message(len);
        let genuine = wrap(&mut init, &m);
        let mut t = genuine.clone();
        for (at, x) in &edits {
            let i = at.index(t.len());
            t[i] ^= x;
        }
        prop_assume!(t != genuine);
        let mut out = Vec::new();
        match acc.unwrap_into(&t, &mut out) {
            Ok(()) => {
                let only_rrc = (0..t.len())
                    .filter(|&i| t[i] != genuine[i])
                    .all(|i| (RRC_OFFSET..SEQ_OFFSET).contains(&i));
                let rrc = u16::from_be_bytes([t[RRC_OFFSET], t[RRC_OFFSET + 1]]);
                prop_assert!(only_rrc && usize::from(rrc) % (t.len() - HEADER_LEN) == 0);
                prop_assert_eq!(out, m);
            }
            Err(_) => {
                prop_assert!(out.is_empty());
                prop_assert_eq!(unwrap(&mut acc, &genuine).unwrap(), m);
            }
        }
    }
}
