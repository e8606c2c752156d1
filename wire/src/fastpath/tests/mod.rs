//! Unit tests of the fast path: known answers, round trips, refusals, hostile input.
//!
//! The differential tests against MIT live in `wire/tests/it/` (they need a realm); these
//! check the RFC vectors and the token rules with two Rust ends.

mod hostile;
mod refusals;
mod round_trips;

use super::cipher::CONFOUNDER_LEN;
use super::token::{Header, HEADER_LEN};
use super::vectors;
use super::*;
use crate::limits::MAX_MESSAGE_LEN;

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
pub(super) fn key_for(enctype: Enctype, seed: u8) -> Vec<u8> {
    (0..enctype.key_len())
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

pub(super) fn params(
    enctype: Enctype,
    key: &[u8],
    initiator: bool,
    subkey: bool,
    seq: u64,
) -> LucidParams {
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
pub(super) fn pair_with(
    enctype: Enctype,
    key: &[u8],
    subkey: bool,
    seq: u64,
) -> (FastContext, FastContext) {
    (
        FastContext::new(params(enctype, key, true, subkey, seq)).unwrap(),
        FastContext::new(params(enctype, key, false, subkey, seq)).unwrap(),
    )
}

pub(super) fn pair(enctype: Enctype) -> (FastContext, FastContext) {
    pair_with(enctype, &key_for(enctype, 7), true, 0)
}

pub(super) fn wrap(ctx: &mut FastContext, plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ctx.wrap_into(plaintext, &mut out).unwrap();
    out
}

pub(super) fn unwrap(ctx: &mut FastContext, token: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ctx.unwrap_into(token, &mut out).map(|()| out)
}

pub(super) fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// A sealed token the way any RFC 4121 sender may make it: chosen EC (filler bytes), RRC
/// and flags. Uses the sender's keys, so it is authentic.
pub(super) fn custom_token(
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

pub(super) const EDGE_LENGTHS: [usize; 10] =
    [0, 1, 15, 16, 17, 31, 32, 33, 64 * 1024, MAX_MESSAGE_LEN];

// --- refusals ----------------------------------------------------------------------------------

/// Checks that `token` is refused with an error `expect` accepts, that nothing was appended,
/// and that the context did not advance (the next genuine token still opens).
pub(super) fn assert_refused(
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
pub(super) fn receiver_clone_state(ctx: &FastContext) -> FastContext {
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
pub(super) type Expect = fn(&Error) -> bool;

pub(super) fn integrity(e: &Error) -> bool {
    matches!(e, Error::Integrity)
}
