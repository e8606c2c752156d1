//! Differential tests of the RFC 4121 fast path against MIT krb5, with real contexts from a
//! kdc-test realm limited to one enctype.
//!
//! For each enctype 17, 18, 19, 20, with an acceptor subkey (mutual authentication: MIT's
//! acceptor then always asserts a subkey) and without (no mutual authentication: no AP-REP,
//! so no acceptor subkey; only reachable through the test-only handshake), and in both
//! directions:
//! * MIT wraps → Rust unwraps; Rust re-wraps with MIT's confounder → byte-identical token;
//!   MIT unwraps that; Rust wraps with a fresh confounder → MIT unwraps; for lengths 0, 1,
//!   15–17, 31–33, 64 KiB and the maximum message;
//! * both refuse tampered header (flags, filler, EC, RRC, sequence number), ciphertext, MAC
//!   and truncation, then still accept the genuine token; both accept a legitimately rotated
//!   token (RRC ≠ 0); both refuse replays and an out-of-order token.
//!
//! MIT's context stays usable next to the Rust copy of its keys through
//! `gss::test_only` (non-deleting lucid inquiry), which no session ever uses.

use burnstand_wire::fastpath::{Enctype, FastContext};
use burnstand_wire::gss::test_only::{mit_pair, MitContext};
use burnstand_wire::gss::{acceptor_credentials, password_credentials, CtxFlags, REQUIRED_FLAGS};
use burnstand_wire::limits::MAX_MESSAGE_LEN;
use kdc_test::{Realm, RealmBuilder};

use crate::{started_realm, SERVICE};
/// Wrap token header; the confounder follows it in the decrypted body.
const HEADER_LEN: usize = 16;
const CONFOUNDER_LEN: usize = 16;

/// The lengths the issue asks for: empty, one byte, around one and two AES blocks, a relay
/// block and the largest message a session may seal.
fn lengths() -> Vec<usize> {
    vec![0, 1, 15, 16, 17, 31, 32, 33, 64 * 1024, MAX_MESSAGE_LEN]
}

fn message(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// One side of a context: MIT's and the Rust copy made from the same lucid parameters.
struct Side {
    mit: MitContext,
    rust: FastContext,
}

struct Pair {
    initiator: Side,
    acceptor: Side,
    // Keeps the KDC running while the contexts are used.
    _realm: Realm,
}

fn pair(enctype: Enctype, acceptor_subkey: bool) -> Pair {
    let realm = started_realm(RealmBuilder::new("BURNSTAND.TEST").enctypes([enctype.name()]));
    let initiator_cred =
        password_credentials(&realm.principal("alice"), "alice-pw").expect("alice's credentials");
    let acceptor_cred = acceptor_credentials(&realm.principal(SERVICE)).expect("service cred");
    let flags = if acceptor_subkey {
        REQUIRED_FLAGS
    } else {
        REQUIRED_FLAGS.difference(CtxFlags::GSS_C_MUTUAL_FLAG)
    };
    let (initiator, acceptor) = mit_pair(
        &initiator_cred,
        &acceptor_cred,
        &realm.principal(SERVICE),
        flags,
    )
    .expect("MIT handshake");
    let side = |mit: MitContext, initiator: bool| {
        let params = mit.lucid_params().expect("lucid parameters");
        assert_eq!(params.enctype, enctype, "the realm's only enctype");
        assert_eq!(params.acceptor_subkey, acceptor_subkey, "acceptor subkey");
        assert_eq!(params.initiator, initiator);
        let rust = FastContext::new(params).expect("fast context");
        Side { mit, rust }
    };
    Pair {
        initiator: side(initiator, true),
        acceptor: side(acceptor, false),
        _realm: realm,
    }
}

/// One message from `sender` to `receiver`, through all four combinations. Every context
/// of the two sides moves its sequence number by the same amount.
fn exchange(sender: &mut Side, receiver: &mut Side, msg: &[u8]) {
    let len = msg.len();
    // MIT wraps, Rust unwraps (in place, to see MIT's confounder).
    let mit_token = sender.mit.wrap(msg).expect("MIT wrap");
    let mut buffer = mit_token.clone();
    let plain = receiver
        .rust
        .unwrap_in_place(&mut buffer)
        .unwrap_or_else(|e| panic!("Rust unwraps MIT's {len}-byte token: {e}"));
    assert_eq!(
        &buffer[plain.clone()],
        msg,
        "Rust's plaintext of MIT's token"
    );
    assert_eq!(plain.start, HEADER_LEN + CONFOUNDER_LEN);
    let confounder = buffer[HEADER_LEN..HEADER_LEN + CONFOUNDER_LEN].to_vec();

    // Rust re-wraps with MIT's confounder: the very same token.
    let mut again = Vec::new();
    sender
        .rust
        .wrap_with_confounder_for_tests(msg, &confounder, &mut again)
        .expect("Rust wrap");
    assert!(
        again == mit_token,
        "{len} bytes: Rust's token differs from MIT's"
    );
    let (plain, sealed) = receiver
        .mit
        .unwrap(&again)
        .expect("MIT unwraps Rust's token");
    assert!(sealed && plain == msg, "{len} bytes: MIT's plaintext");

    // Rust wraps with a fresh confounder, MIT unwraps; MIT wraps, Rust unwraps.
    let mut fresh = Vec::new();
    sender.rust.wrap_into(msg, &mut fresh).expect("Rust wrap");
    let (plain, sealed) = receiver
        .mit
        .unwrap(&fresh)
        .unwrap_or_else(|e| panic!("MIT unwraps Rust's {len}-byte token: {e}"));
    assert!(sealed && plain == msg, "{len} bytes: MIT's plaintext");
    let mit_token = sender.mit.wrap(msg).expect("MIT wrap");
    let mut out = Vec::new();
    receiver
        .rust
        .unwrap_into(&mit_token, &mut out)
        .expect("Rust unwraps MIT's token");
    assert!(out == msg, "{len} bytes: Rust's plaintext");
    assert!(len < 16 || fresh != mit_token, "confounders differ");
}

fn both_directions_all_lengths(enctype: Enctype, acceptor_subkey: bool) {
    let mut p = pair(enctype, acceptor_subkey);
    for (i, len) in lengths().into_iter().enumerate() {
        exchange(&mut p.initiator, &mut p.acceptor, &message(len, i as u8));
        exchange(
            &mut p.acceptor,
            &mut p.initiator,
            &message(len, 0x80 | i as u8),
        );
    }
    refusals(&mut p.initiator, &mut p.acceptor);
    refusals(&mut p.acceptor, &mut p.initiator);
}

/// Every way of altering `token` that must fail authentication (or parsing), by name.
fn tampered(token: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let flip = |at: usize, bit: u8| {
        let mut t = token.to_vec();
        t[at] ^= bit;
        t
    };
    let last = token.len() - 1;
    vec![
        ("header: SentByAcceptor flag", flip(2, 0x01)),
        ("header: AcceptorSubkey flag", flip(2, 0x04)),
        ("header: unknown flag", flip(2, 0x10)),
        ("header: filler", flip(3, 0x01)),
        ("header: EC", flip(5, 0x01)),
        ("header: RRC", flip(7, 0x01)),
        ("header: SND_SEQ", flip(15, 0x01)),
        ("ciphertext: confounder", flip(HEADER_LEN + 1, 0x80)),
        ("ciphertext: body", flip(token.len() / 2, 0x01)),
        ("MAC: last byte", flip(last, 0x01)),
        ("truncated", token[..last].to_vec()),
    ]
}

/// A legitimately rotated token: RRC = `rrc`, the body rotated right by as much.
fn rotated(token: &[u8], rrc: u16) -> Vec<u8> {
    let mut t = token.to_vec();
    t[6..8].copy_from_slice(&rrc.to_be_bytes());
    let body = &mut t[HEADER_LEN..];
    let shift = usize::from(rrc) % body.len();
    body.rotate_right(shift);
    t
}

fn mit_accepts(side: &mut Side, token: &[u8]) -> bool {
    matches!(side.mit.unwrap(token), Ok((_, true)))
}

fn rust_accepts(side: &mut Side, token: &[u8]) -> bool {
    side.rust.unwrap_into(token, &mut Vec::new()).is_ok()
}

fn refusals(sender: &mut Side, receiver: &mut Side) {
    let msg = message(40, 7);
    // Tokens with the same sequence number from both implementations.
    let mit_token = sender.mit.wrap(&msg).expect("MIT wrap");
    let mut rust_token = Vec::new();
    sender
        .rust
        .wrap_into(&msg, &mut rust_token)
        .expect("Rust wrap");
    for token in [&mit_token, &rust_token] {
        for (what, bad) in tampered(token) {
            assert!(!mit_accepts(receiver, &bad), "MIT accepted {what}");
            assert!(!rust_accepts(receiver, &bad), "Rust accepted {what}");
        }
    }
    // Nothing moved: the genuine tokens still pass (crosswise), legitimately rotated.
    assert!(
        mit_accepts(receiver, &rotated(&rust_token, 28)),
        "MIT, RRC 28"
    );
    assert!(
        rust_accepts(receiver, &rotated(&mit_token, 28)),
        "Rust, RRC 28"
    );
    // Replays, of the same token and of the other implementation's token of that number.
    for token in [&mit_token, &rust_token] {
        assert!(!mit_accepts(receiver, token), "MIT accepted a replay");
        assert!(!rust_accepts(receiver, token), "Rust accepted a replay");
    }
    // Out of order: the second token before the first.
    let mit_first = sender.mit.wrap(&msg).expect("MIT wrap");
    let mit_second = sender.mit.wrap(&msg).expect("MIT wrap");
    let mut rust_second = Vec::new();
    sender.rust.wrap_into(&msg, &mut Vec::new()).expect("wrap"); // the first: withheld
    sender.rust.wrap_into(&msg, &mut rust_second).expect("wrap");
    assert!(!mit_accepts(receiver, &rust_second), "MIT accepted a gap");
    assert!(!rust_accepts(receiver, &mit_second), "Rust accepted a gap");
    // Rust did not move on the refused token; MIT's sequence window did (it reports the gap
    // but records the token), so only Rust is checked further.
    assert!(
        rust_accepts(receiver, &mit_first),
        "Rust, first after the gap"
    );
    assert!(rust_accepts(receiver, &mit_second), "Rust, second in order");
}

macro_rules! differential {
    ($($name:ident: $enctype:ident, $subkey:expr;)*) => {$(
        #[test]
        fn $name() {
            both_directions_all_lengths(Enctype::$enctype, $subkey);
        }
    )*};
}

differential! {
    aes128_sha1_with_acceptor_subkey: Aes128CtsHmacSha1_96, true;
    aes128_sha1_without_acceptor_subkey: Aes128CtsHmacSha1_96, false;
    aes256_sha1_with_acceptor_subkey: Aes256CtsHmacSha1_96, true;
    aes256_sha1_without_acceptor_subkey: Aes256CtsHmacSha1_96, false;
    aes128_sha256_with_acceptor_subkey: Aes128CtsHmacSha256_128, true;
    aes128_sha256_without_acceptor_subkey: Aes128CtsHmacSha256_128, false;
    aes256_sha384_with_acceptor_subkey: Aes256CtsHmacSha384_192, true;
    aes256_sha384_without_acceptor_subkey: Aes256CtsHmacSha384_192, false;
}

/// Runs a session handshake (with the checks of `Established`) in process.
fn established_pair(
    realm: &Realm,
    fast_path: bool,
) -> (
    burnstand_wire::gss::Established,
    burnstand_wire::gss::Established,
) {
    use burnstand_wire::gss::{Acceptor, Initiator};
    let user = password_credentials(&realm.principal("alice"), "alice-pw").expect("cred");
    let service = acceptor_credentials(&realm.principal(SERVICE)).expect("service cred");
    let mut initiator = Initiator::new(user, &realm.principal(SERVICE))
        .expect("initiator")
        .fast_path(fast_path);
    let mut acceptor = Acceptor::new(service).fast_path(fast_path);
    let mut reply = None;
    while !(initiator.is_complete() && acceptor.is_complete()) {
        if let Some(token) = initiator.step(reply.as_deref()).expect("initiate") {
            reply = acceptor.step(&token).expect("accept");
        }
    }
    (
        initiator.establish().expect("initiator checks"),
        acceptor.establish().expect("acceptor checks"),
    )
}

/// A context with an enctype the fast path does not implement (Camellia, RFC 6803: still
/// RFC 4121 tokens) stays on MIT, and works there.
#[test]
fn an_enctype_without_a_fast_path_stays_on_mit() {
    use burnstand_wire::gss::ProtectionPath;
    use burnstand_wire::protection::Protection;
    let realm =
        started_realm(RealmBuilder::new("BURNSTAND.TEST").enctypes(["camellia128-cts-cmac"]));
    // Why: the lucid export works, but enctype 25 is not one of the fast path's.
    let user = password_credentials(&realm.principal("alice"), "alice-pw").expect("cred");
    let service = acceptor_credentials(&realm.principal(SERVICE)).expect("service cred");
    let (initiator, _) =
        mit_pair(&user, &service, &realm.principal(SERVICE), REQUIRED_FLAGS).expect("MIT pair");
    let why = initiator
        .lucid_params()
        .expect_err("no fast path for Camellia");
    assert!(why.to_string().contains("Enctype(25)"), "{why}");

    let (mut client, mut server) = established_pair(&realm, true);
    assert_eq!(client.path(), ProtectionPath::Mit);
    assert_eq!(server.path(), ProtectionPath::Mit);
    let sealed = client.seal(b"LIST").expect("MIT seal");
    assert_eq!(server.open(&sealed).expect("MIT open"), b"LIST");
    assert!(server.open(&sealed).is_err(), "replay");
}

/// The same realm's AES contexts move to the fast path only when asked.
#[test]
fn the_fast_path_is_taken_only_when_wanted() {
    use burnstand_wire::gss::ProtectionPath;
    use burnstand_wire::protection::Protection;
    let realm = started_realm(
        RealmBuilder::new("BURNSTAND.TEST").enctypes([Enctype::Aes128CtsHmacSha256_128.name()]),
    );
    let fast = ProtectionPath::Fast(Enctype::Aes128CtsHmacSha256_128);
    let (mut client, mut server) = established_pair(&realm, true);
    assert_eq!((client.path(), server.path()), (fast, fast));
    assert_eq!(fast.to_string(), "fast:aes128-cts-hmac-sha256-128");
    let sealed = server.seal(b"OK").expect("seal");
    assert_eq!(client.open(&sealed).expect("open"), b"OK");
    let (client, server) = established_pair(&realm, false);
    assert_eq!(
        (client.path(), server.path()),
        (ProtectionPath::Mit, ProtectionPath::Mit)
    );
    assert_eq!(ProtectionPath::Mit.to_string(), "mit");
}

/// MIT's `gss_unwrap` undoes RRC by rotating the token in the caller's buffer (found by the
/// `unwrap_differential` fuzz target: MIT's rotation left a token Rust then accepted). The
/// FFI must hand MIT a private copy: a borrowed token stays as it was.
#[test]
fn mit_unwrap_leaves_the_callers_token_alone() {
    let mut p = pair(Enctype::Aes256CtsHmacSha1_96, true);
    let mut token = Vec::new();
    p.initiator
        .rust
        .wrap_into(&message(40, 1), &mut token)
        .expect("wrap");
    let token = rotated(&token, 28);
    let before = token.clone();
    assert!(mit_accepts(&mut p.acceptor, &token), "a rotated token");
    assert_eq!(token, before, "MIT wrote into the caller's token");
}
