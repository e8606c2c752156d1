//! `burnstand-wire`: the burnstand protocol, shared by the client container, the master relay and
//! the burner stations.
//!
//! Every byte between those parts follows the layering of the remote-laboratory design: messages are serialized with TQDataStream ([`datastream`]), protected by a GSSAPI
//! Kerberos 5 context ([`protection`], [`gss`]), and carried as base64 lines ([`block`]). The
//! master's command mode ([`command`]) is defined here too. `docs/protocol.md` is the
//! specification; this crate is its executable form.
//!
//! # Sans-I/O core, async edge
//!
//! The core is sans-I/O (like quinn-proto): decoders take bytes and return values or precise
//! [`Error`]s, the GSSAPI state machines ([`gss::Initiator`], [`gss::Acceptor`]) take tokens
//! and return tokens, and nothing in them reads a socket, sleeps or needs an async runtime.
//! The tokio adapters — blocks over a byte stream, the timed handshake, sealed sessions and
//! their split halves — live in [`io`] at the edge, behind the cargo feature `tokio` (on by
//! default). `cargo build -p burnstand-wire --no-default-features` builds the core alone; the
//! fuzz targets (`fuzz/`) use it that way.
//!
//! # Two error types
//!
//! [`Error`] is what the core can fail with: bad bytes, bad framing, a GSSAPI failure.
//! [`io::IoError`] adds what only a live connection meets (closed, reset, timed out) and wraps
//! an [`Error`] met on the way. Keeping them apart lets the core build without tokio and spares
//! a decoder's caller from matching "connection closed", which a decoder cannot return.
//!
//! # Features
//!
//! * `tokio` (default): the [`io`] module.
//! * `test-util`: `io::Session::into_raw_parts`, for tests that play a hostile peer (send
//!   replayed, forged or unsealed blocks after authentication). No daemon or client enables
//!   it; without it a session can only send sealed blocks.
// `deny`, not `forbid`: the one FFI module (`gss::ffi`) allows unsafe for itself.
#![deny(unsafe_code)]

pub mod admission;
pub mod block;
pub mod burner;
pub mod command;
pub mod datastream;
pub mod error;
pub mod farm;
pub mod fastpath;
pub mod gss;
#[cfg(feature = "tokio")]
pub mod io;
pub mod limits;
pub mod link;
pub mod nucleus;
pub mod protection;
pub mod push;

pub use error::{Error, Result};
#[cfg(feature = "tokio")]
pub use io::IoError;
