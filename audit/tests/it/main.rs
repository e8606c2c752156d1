//! Integration tests of burnstand-audit: one binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod failure;
mod lock;
mod props;
mod repair;
mod rotation;
mod roundtrip;
mod shared;
mod tamper;
