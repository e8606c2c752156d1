//! What the receiver refuses, with which error, without appending or advancing.

use super::*;
use crate::fastpath::token::{flags, EC_OFFSET, FLAGS_OFFSET, RRC_OFFSET, SEQ_OFFSET};

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
