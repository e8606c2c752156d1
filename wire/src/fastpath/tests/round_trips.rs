//! Wrap/unwrap round trips and the layout of the tokens made.

use super::*;
use crate::fastpath::token::{flags, EC_OFFSET, FLAGS_OFFSET, RRC_OFFSET, SEQ_OFFSET};

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
