//! `burnstand`, the client container: the command a user runs after `kinit`.
//!
//! Seed 003's client container opens the first connection to the master, authenticates with
//! the user's Kerberos ticket, checks the greeting and speaks command mode; burner modules
//! (later) open further connections that SERV the burner service through the master. This
//! crate maps every failure to a message a person can act on and to a documented exit code.
#![forbid(unsafe_code)]

pub mod error;
pub mod master;

pub use error::ClientError;
