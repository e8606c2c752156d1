//! The one integration-test binary of `burnstand-wire`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codec;
mod fastpath; // differential tests against MIT in a kdc-test realm
#[cfg(feature = "tokio")] // the async edge: sessions over TCP against a real KDC
mod handshake;
