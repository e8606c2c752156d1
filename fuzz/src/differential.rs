//! `unwrap_differential`: Rust's RFC 4121 unwrap (`burnstand_wire::fastpath`) against MIT's
//! `gss_unwrap` on mutated wrap tokens. Both must accept exactly the same tokens, and give
//! the same plaintext when they do.
//!
//! It needs real Kerberos contexts, so the first input starts a throwaway MIT realm on
//! loopback (kdc-test; `krb5kdc` must be installed, as for the workspace's tests) and keeps
//! it for the whole process; the realm's environment (KRB5_CONFIG, keytab) is set for the
//! process then. Each input then gets a fresh MIT context pair (after the first, no KDC
//! round trip: the service ticket is cached in the credentials) and a Rust copy of the
//! receiving side's keys, so both receivers start from the same state.
//!
//! Input layout: byte 0 chooses mutual authentication (bit 0: with it, the acceptor
//! subkey), the direction (bit 1), how many tokens the sender wraps (bits 2–3: 1 to 4) and
//! whether token 0 is delivered genuinely first (bit 4, so replays of it can be tried);
//! byte 1 picks the token that is then delivered; byte 2 the message length; the rest are
//! mutations of that token, 3 bytes each: offset (2 bytes, big-endian, modulo the length)
//! and an XOR mask, where mask 0 truncates the token at the offset instead.

use std::sync::OnceLock;

use burnstand_wire::fastpath::FastContext;
use burnstand_wire::gss::test_only::{mit_pair, MitContext};
use burnstand_wire::gss::{
    acceptor_credentials, password_credentials, Cred, CtxFlags, REQUIRED_FLAGS,
};
use kdc_test::{Realm, RealmBuilder};

const SERVICE: &str = "burnstand/localhost";

struct Fixture {
    _realm: Realm,
    initiator: Cred,
    acceptor: Cred,
    target: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let realm = RealmBuilder::new("FUZZ.TEST")
            .user("alice", "alice-pw")
            .service(SERVICE)
            .start()
            .unwrap_or_else(|e| panic!("unwrap_differential needs a KDC (krb5kdc): {e}"));
        realm
            .apply_to_process(Some(SERVICE))
            .unwrap_or_else(|e| panic!("realm environment: {e}"));
        let initiator = password_credentials(&realm.principal("alice"), "alice-pw")
            .unwrap_or_else(|e| panic!("alice's credentials: {e}"));
        let acceptor = acceptor_credentials(&realm.principal(SERVICE))
            .unwrap_or_else(|e| panic!("service credentials: {e}"));
        Fixture {
            target: realm.principal(SERVICE),
            _realm: realm,
            initiator,
            acceptor,
        }
    })
}

/// MIT's acceptance as a session sees it: accepted and encrypted.
fn mit_opens(receiver: &mut MitContext, token: &[u8]) -> Option<Vec<u8>> {
    match receiver.unwrap(token) {
        Ok((plain, true)) => Some(plain),
        _ => None,
    }
}

fn rust_opens(receiver: &mut FastContext, token: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    receiver.unwrap_into(token, &mut out).ok().map(|()| out)
}

/// The fuzz body (see the module documentation for the input layout).
pub fn unwrap_differential(data: &[u8]) {
    let [mode, pick, len, mutations @ ..] = data else {
        return;
    };
    let f = fixture();
    let flags = if mode & 1 != 0 {
        REQUIRED_FLAGS
    } else {
        REQUIRED_FLAGS.difference(CtxFlags::GSS_C_MUTUAL_FLAG)
    };
    let (initiator, acceptor) = mit_pair(&f.initiator, &f.acceptor, &f.target, flags)
        .unwrap_or_else(|e| panic!("MIT handshake: {e}"));
    let (mut sender, mut receiver) = if mode & 2 != 0 {
        (acceptor, initiator)
    } else {
        (initiator, acceptor)
    };
    let params = receiver
        .lucid_params()
        .unwrap_or_else(|e| panic!("lucid export: {e}"));
    let mut rust = FastContext::new(params).unwrap_or_else(|e| panic!("fast context: {e}"));

    let count = 1 + usize::from((mode >> 2) & 3);
    let message: Vec<u8> = (0..*len).map(|i| i.wrapping_mul(7)).collect();
    let tokens: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            sender
                .wrap(&message)
                .unwrap_or_else(|e| panic!("MIT wrap: {e}"))
        })
        .collect();
    if mode & 0x10 != 0 {
        let mit = mit_opens(&mut receiver, &tokens[0]);
        let fast = rust_opens(&mut rust, &tokens[0]);
        assert!(mit.is_some() && fast == mit, "the genuine first token");
    }
    let mut token = tokens[usize::from(*pick) % count].clone();
    for op in mutations.chunks_exact(3) {
        if token.is_empty() {
            break;
        }
        let at = usize::from(u16::from_be_bytes([op[0], op[1]])) % token.len();
        match op[2] {
            0 => token.truncate(at),
            mask => token[at] ^= mask,
        }
    }
    let mit = mit_opens(&mut receiver, &token);
    let fast = rust_opens(&mut rust, &token);
    assert_eq!(
        mit.is_some(),
        fast.is_some(),
        "MIT {} a token Rust {}",
        if mit.is_some() { "accepts" } else { "refuses" },
        if fast.is_some() { "accepts" } else { "refuses" },
    );
    assert_eq!(mit, fast, "different plaintext");
}
