//! The one integration-test binary of `burnstand-master`: a real MIT KDC (kdc-test), real TCP
//! on 127.0.0.1, test stations speaking the station handshake. Each test sets the Kerberos
//! environment of its own process: run them with cargo nextest (one process per test).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod common;
mod station;

mod audit_chain;
mod bind_race;
mod cli;
mod commands;
mod farm;
mod flood;
mod handshake_attacks;
mod hostile;
mod limits;
mod metrics;
mod nucleus;
mod policy;
mod push;
mod relay;
mod robustness;
mod systemd;
mod teardown;
mod web;
mod web_browser;
