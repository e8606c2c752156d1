//! The one integration-test binary of `burnstand`: the real binary, run as a user would.
//!
//! The end-to-end modules run it against a real lab ([`lab`]): an MIT KDC, a real
//! `burnstand-master` and two real `burnstand-station` daemons burning with xorriso. Run them
//! with `cargo nextest run` (one process per test) after `cargo build --workspace`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod lab;
mod login;
mod policy;

mod burning;
mod busy;
mod cancel;
mod config;
mod counting;
mod crash;
mod doctor;
mod farm;
mod grants;
mod jobs;
mod json;
mod keys;
mod nucleus;
mod push;
mod reload;
mod scripted_master;

use std::process::{Command, Output};

/// Runs the real `burnstand` binary with `args` and the given environment.
pub fn burnstand(args: &[&str], env: &[(String, std::ffi::OsString)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burnstand"))
        .args(args)
        .env_remove("BURNSTAND_MASTER")
        .env_remove("BURNSTAND_MASTER_PRINCIPAL")
        .env_remove("BURNSTAND_CONFIG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run burnstand")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
