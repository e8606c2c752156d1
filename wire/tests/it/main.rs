//! The one integration-test binary of `burnstand-wire`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codec;
mod fastpath; // differential tests against MIT in a kdc-test realm
#[cfg(feature = "tokio")] // the async edge: sessions over TCP against a real KDC
mod handshake;

/// The service principal every wire test accepts as.
pub const SERVICE: &str = "burnstand/localhost";

/// A kdc-test realm built by `builder` with user `alice` (password `alice-pw`) and
/// [`SERVICE`], its environment applied to this process (GSSAPI reads it from there).
pub fn started_realm(builder: kdc_test::RealmBuilder) -> kdc_test::Realm {
    let realm = builder
        .user("alice", "alice-pw")
        .service(SERVICE)
        .start()
        .unwrap_or_else(|e| panic!("starting the test realm: {e}"));
    realm
        .apply_to_process(Some(SERVICE))
        .unwrap_or_else(|e| panic!("realm environment: {e}"));
    realm
}
