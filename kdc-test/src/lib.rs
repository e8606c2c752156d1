//! A throwaway MIT Kerberos realm on 127.0.0.1, for burnstand's tests and demo.
//!
//! burnstand authenticates every connection with GSSAPI/Kerberos. Mocking Kerberos would test
//! nothing that matters (ticket expiry, wrong keytabs, replays, foreign realms), so the tests and
//! the demo run against a real MIT KDC instead. This crate creates one in seconds:
//!
//! - everything (krb5.conf, kdc.conf, database, stash, keytabs, ccache, replay cache, logs) lives
//!   in one directory, selected only through environment variables — nothing under /etc or /var
//!   is read or written;
//! - `krb5kdc -n` runs as an owned child on a free TCP port that is verified to be held by that
//!   child (krb5kdc happily shares a port with another listener), and is stopped and reaped on drop;
//! - users get passwords, services get keytabs (one file per service), keys can be rotated to
//!   produce stale keytabs, realms can trust each other, and the anonymous principal works
//!   through anonymous PKINIT.
//!
//! ```no_run
//! # fn main() -> Result<(), kdc_test::Error> {
//! use kdc_test::RealmBuilder;
//! let realm = RealmBuilder::new("BURNSTAND.TEST")
//!     .user("alice", "alice-pw")
//!     .service("burnstand/localhost")
//!     .start()?;
//! realm.kinit("alice")?;                                   // TGT in realm.ccache_path()
//! let server_env = realm.service_env("burnstand/localhost")?; // KRB5_KTNAME etc. for a server
//! let status = realm.command("kvno").arg("burnstand/localhost").status();
//! # let _ = (server_env, status);
//! # Ok(()) }
//! ```
//!
//! The programs come from Debian's krb5-kdc, krb5-admin-server, krb5-user (and krb5-pkinit plus
//! openssl for the anonymous principal); `scripts/install-deps.sh` installs them. The CLI
//! `kdc-test up --dir D` keeps a realm up for the demo and prints `export` lines for a shell.

mod admin;
mod builder;
mod config;
mod error;
mod kdc;
mod pkinit;
mod realm;

pub use builder::RealmBuilder;
pub use error::{Error, Result};
pub use kdc::port_owned_by;
pub use realm::{combined_krb5_conf, Realm};
