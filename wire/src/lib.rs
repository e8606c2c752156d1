//! `burnstand-wire`: the burnstand protocol, shared by the client container, the master relay and
//! the burner stations.
//!
//! Every byte between those parts follows the layering of the remote-laboratory architecture
//! (seed 003): messages are serialized with TQDataStream ([`datastream`]), protected by a GSSAPI
//! Kerberos 5 context ([`protection`], [`gss`]), and carried as base64 lines ([`block`]). The
//! master's command mode ([`command`]) is defined here too. The core is sans-I/O: decoders take
//! bytes and return values or precise [`Error`]s; the async adapters for tokio live in [`io`]
//! at the edge. `docs/protocol.md` is the specification; this crate is its executable form.
#![forbid(unsafe_code)]

pub mod admission;
pub mod block;
pub mod burner;
pub mod command;
pub mod datastream;
pub mod error;
pub mod gss;
pub mod io;
pub mod limits;
pub mod link;
pub mod protection;

pub use error::{Error, Result};
