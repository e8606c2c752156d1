//! The one integration-test binary of `burnstand-wire`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod codec;
mod handshake;
