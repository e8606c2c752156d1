//! `burnstand-station`: the burner station daemon, one per optical drive.
//!
//! # Place in the architecture
//!
//! In the remote-laboratory design a station is a *backend server*: it accepts
//! Kerberos-authenticated connections **only from the master**, answers `OK` (or `ERRNOTAVL`
//! when its drive is unusable), learns from the master's identity block which user the session
//! is for, and then speaks the burner protocol of the burner-farm design with that user's burner module
//! through the master's relay. Each master also keeps a control link open, over which the
//! station asks for a copy grant before each copy of a limited image:
//!
//! ```text
//! module ──► master (relay) ──► station ──► xorriso ──► drive
//!                                  │
//!                                  └──► audit log (hash-chained, fsync before acknowledging)
//! ```
//!
//! The protocol messages are defined in `burnstand_wire::burner`; this crate carries them out.
//! Users burn images from the station's [catalog] (restricted images can be burned but never
//! read back: no message carries image bytes), one burn at a time per drive, each verified by
//! reading the disc back and comparing MD5s, each step audited before it is acknowledged.
//!
//! # Modules
//!
//! - [`config`]: the TOML configuration; [`server`]: accept loop and shutdown;
//!   [`session`]: one connection;
//! - [`job`]: one BURN (copies, verify, tray); [`drive`]: the [`drive::Drive`] trait and the
//!   xorriso drive; [`burn`]: running xorriso, its progress, the read-back; [`holder`]: other
//!   processes holding the drive;
//! - [`catalog`] and [`image`]: images, sidecars, digests; [`principal`]: name comparison;
//! - [`bounds`]: why CAP and `burn.receipt` always fit;
//! - [`preflight`]: `--check-config` (no side effects) and the start-up rules; [`doctor`]:
//!   `burnstand-station doctor`, the operator's checks of the machine; [`cli`]: the command line;
//! - [`receipt`]: the audit records; [`station`]: shared state; [`faulty`]: a test-only drive;
//! - [`control`]: the masters' control links (copy grants, receipts pushed and synced);
//!   [`reconcile`]: copies interrupted by a crash, and the receipts a SYNC sends;
//!   [`station_id`]: the station's persisted id and the copies' ids;
//! - [`state_board`]: the live state the masters watch (sessions, burns, the drive's reports);
//! - [`reload`]: the policy re-read on SIGHUP, and its digest for the masters;
//! - [`push`]: images pushed by the lab staff through the master (partial files, resume,
//!   publishing).
#![forbid(unsafe_code)]

pub mod bounds;
pub mod burn;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod control;
pub mod doctor;
pub mod drive;
pub mod error;
pub mod faulty;
pub mod flood;
pub mod holder;
pub mod image;
pub mod job;
pub mod preflight;
pub mod principal;
pub mod push;
pub mod receipt;
pub mod reconcile;
pub mod reload;
pub mod server;
pub mod session;
pub mod state_board;
pub mod station;
pub mod station_id;

pub use config::Config;
pub use error::{Result, StationError};
pub use station::Station;
