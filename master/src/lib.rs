//! `burnstand-master`: the relay between users and burner stations.
//!
//! # Place in the architecture
//!
//! The remote-laboratory design ("Master Server") puts this daemon in the middle of every link. A user's
//! **container connection** authenticates with Kerberos, lists the station types ([`registry`])
//! and BINDs one station; the user's **module connections** then ask for a service of that
//! station with SERV and get a pass-through ([`relay`]) to the station daemon, which the master
//! reaches as its own principal ([`station`]). Every block is unwrapped with the sender's GSSAPI
//! context and re-wrapped with the receiver's: the master sees plaintext, stations trust it to
//! have authenticated the user, and it tells them who that is in the identity block.
//!
//! ```text
//! client ──(user ctx)──► master ──(master→station ctx)──► station
//! ```
//!
//! # Layout
//!
//! [`config`] (TOML, validated at start and again by each reload: [`reload`]), [`server`] (accept loop, connection budgets, drain on
//! shutdown), [`connection`] (one task per TCP connection: handshake, greeting, command mode),
//! [`registry`] (station types, health, reservations, the connections of each user and their
//! teardown), [`station`] (the link to a station), [`relay`] (pass-through), [`control`] (the
//! control link to each station: copy grants, receipts), [`ledger`] (the copies quotas count),
//! [`receipts`] (checking and recording station receipts), [`queue`] (users waiting for a busy
//! station type, kept across restarts), [`audit`] (the records this daemon writes), [`cli`]
//! (the command line, here so man pages and completions are generated from it).
//!
//! `docs/protocol.md` §5 specifies the behaviour; `docs/master.md` is the operator's guide.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod config;
pub mod connection;
pub mod control;
pub mod error;
pub mod farm;
pub mod flood;
pub mod ledger;
pub mod metrics;
pub mod queue;
pub mod receipts;
pub mod registry;
pub mod relay;
pub mod reload;
pub mod server;
pub mod station;
pub mod statistics;
pub mod waiting;
pub mod web;

pub use config::Config;
pub use error::{Error, Result};
pub use server::{run, run_with_web};
