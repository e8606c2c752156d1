//! The one integration-test binary of `burnstand-station`: a real MIT KDC (kdc-test), real
//! xorriso burning onto a file pseudo-drive, and the station in-process or as its binary.
//! Run with `cargo nextest` (one process per test: each test owns its Kerberos environment).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access;
mod burning;
mod catalog;
mod cli;
mod crash;
mod doctor;
mod flood;
mod harness;
mod hostile;
mod hygiene;
mod lifecycle;
mod memory;
mod policy;
mod push;
mod reload;
mod state;
mod systemd;
