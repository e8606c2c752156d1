//! `burnstand`, the client container: the command a user runs after `kinit`.
//!
//! The remote-laboratory design's client container opens the first connection to the master, authenticates with
//! the user's Kerberos ticket, checks the greeting, lists the station types (LISTX, with how
//! many are free) and reserves a station with RESERVE (waiting in the queue if asked; BIND on
//! an old master), holding the reservation on that connection — or a background holder does
//! (`burnstand reserve`). Its burner module opens a
//! second connection that SERVs the burner service through the master and then speaks the
//! burner protocol with the station: CAPAB, BURN with progress and VERIFY, WHATIS, OPEN,
//! CANCEL. QUIT on the container connection releases everything. Every failure maps to a
//! message a person can act on and to a documented exit code ([`error::EXIT_CODES`]).
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod burn;
pub mod cli;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod error;
pub mod holder;
pub mod job;
pub mod listing;
pub mod master;
pub mod module;
pub mod output;
pub mod progress;
pub mod queue;
pub mod receipt;
pub mod reservation;
pub mod reserve;
pub mod signals;
pub mod stats;
pub mod table;
pub mod ticket;

pub use error::ClientError;
