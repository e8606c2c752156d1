//! Random and mutated tokens: no panic, no acceptance of anything altered.

use super::*;
use crate::fastpath::token::{RRC_OFFSET, SEQ_OFFSET};
use proptest::prelude::*;

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
