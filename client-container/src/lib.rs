//! `burnstand`, the client container: the command a user runs after `kinit`.
//!
//! The remote-laboratory design's client container opens the first connection to the master, authenticates with
//! the user's Kerberos ticket, checks the greeting, lists the station types and reserves a
//! station with BIND, holding the reservation on that connection. Its burner module opens a
//! second connection that SERVs the burner service through the master and then speaks the
//! burner protocol with the station: CAPAB, BURN with progress and VERIFY, WHATIS, OPEN,
//! CANCEL. QUIT on the container connection releases everything. Every failure maps to a
//! message a person can act on and to a documented exit code ([`error::EXIT_CODES`]).
#![forbid(unsafe_code)]

pub mod audit;
pub mod burn;
pub mod commands;
pub mod config;
pub mod error;
pub mod master;
pub mod module;
pub mod output;
pub mod progress;
pub mod receipt;
pub mod reservation;
pub mod stats;
pub mod ticket;

pub use error::ClientError;
