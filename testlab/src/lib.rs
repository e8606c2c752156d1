//! burnstand's one test lab, shared by the integration tests of `master/`, `backend/` and
//! `burnstand` (client-container) and by `bench/`: what every lab needs and none of them owns.
//!
//! - [`realm`]: a kdc-test realm with the master and station services, its process
//!   environment, keytab paths;
//! - [`iso`]: real ISO 9660 images made with xorriso, pseudo-random payloads, digests;
//! - [`audit`]: reading audit logs, waiting for a record;
//! - [`wait`]: hang guards, each with a bound the caller names (never a timing assertion);
//! - [`daemon`]: finding the workspace's binaries, starting a daemon and reading its listen
//!   address, stopping it;
//! - [`procs`]: `/proc` look-ups (xorriso children, memory figures);
//! - [`disk`]: a tmpfs that can really fill up;
//! - [`systemd`]: a stand-in for systemd's notification socket, checks of a daemon's log;
//! - `browser` (feature `browser`): headless Chromium over WebDriver, logging in by Negotiate.
//!
//! What is one lab's own (the backend tests playing the master, the master tests' echo
//! station, the client tests' policy shapes) stays in that crate's tests.
//!
//! A dev-only crate (`publish = false`): a dev-dependency of the crates it tests, and a
//! dependency of `bench`, itself a test tool. Its helpers panic with a message where a test
//! would (`try_` variants return the error instead, for `bench`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
#[cfg(feature = "browser")]
pub mod browser;
pub mod daemon;
pub mod disk;
pub mod iso;
pub mod procs;
pub mod realm;
pub mod systemd;
pub mod wait;

pub use audit::{events, read_records, wait_for_record};
pub use daemon::{binary, daemon_command, start_daemon, try_start_daemon, Daemon};
pub use disk::{assert_intact_or_torn, SmallDisk};
pub use iso::{digest, make_iso, Noise};
pub use procs::{status_kb, xorriso_children, xorriso_children_of};
pub use realm::{
    apply_env, file_kt, merged_keytab, password, realm_builder, MASTER, REALM, STATION,
};
pub use wait::{eventually, wait_child, wait_for, wait_output, within};
