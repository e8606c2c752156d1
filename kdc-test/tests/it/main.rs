//! Integration tests of kdc-test against the real MIT krb5 tools (krb5kdc, kadmin.local, kinit,
//! klist, kvno). One binary; each test makes its own realm(s), so they may run in parallel
//! (`cargo test`) or one per process (`cargo nextest run`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anonymous;
mod basics;
mod cli;
mod cross_realm;
mod keys;
mod lifecycle;

use std::path::Path;
use std::process::Output;

use kdc_test::{Realm, RealmBuilder};

/// The services every test realm has.
pub const SVC: &str = "burnstand/localhost";
pub const STATION: &str = "burnstand-station/localhost";

/// A realm with alice, bob and the two burnstand services.
pub fn realm(name: &str) -> Realm {
    builder(name).start().expect("realm starts")
}

pub fn builder(name: &str) -> RealmBuilder {
    RealmBuilder::new(name)
        .user("alice", "alice-pw")
        .user("bob", "bob-pw")
        .service(SVC)
        .service(STATION)
}

/// Runs `program args` in the realm's environment (with `LC_ALL=C` for parseable output).
pub fn run(realm: &Realm, program: &str, args: &[&str]) -> Output {
    realm
        .command(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

/// Like [`run`], but panics with stderr unless the program succeeded; returns stdout.
pub fn ok(realm: &Realm, program: &str, args: &[&str]) -> String {
    let out = run(realm, program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `FILE:<path>` for `-c` arguments.
pub fn file(path: &Path) -> String {
    format!("FILE:{}", path.display())
}

/// True if `pid` no longer exists (not even as a zombie).
pub fn pid_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A recycled pid would belong to some other program; ours was krb5kdc.
        Ok(stat) => !stat.contains("(krb5kdc)"),
    }
}
