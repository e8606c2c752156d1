//! The one integration-test binary of `burnstand-wire`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codec;
#[cfg(feature = "tokio")] // the async edge: sessions over TCP against a real KDC
mod handshake;
