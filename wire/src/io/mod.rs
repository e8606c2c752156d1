//! The async edge: blocks, handshakes and sessions over a tokio byte stream.
//!
//! This is the only module that touches a socket, and the only one that needs tokio (cargo
//! feature `tokio`, on by default). It adds nothing to the protocol: it moves bytes between a
//! stream and the sans-I/O pieces ([`BlockDecoder`](crate::block::BlockDecoder),
//! [`Initiator`](crate::gss::Initiator), [`Acceptor`](crate::gss::Acceptor),
//! [`Protection`](crate::protection::Protection)). The types encode the connection's state:
//!
//! * [`BlockStream`] frames any byte stream (no security: what a handshake runs on, or a test
//!   playing a hostile peer);
//! * an [`Unauthenticated`] connection can do nothing but a handshake ([`handshake`]), and
//!   only that handshake produces a [`Session`];
//! * a [`Session`] seals every message it sends and opens every block it receives: it has no
//!   unsealed write. [`Session::into_split`] gives a [`RecvHalf`] and a [`SendHalf`] for a
//!   task that reads one direction while another writes (the master's relay), with the same
//!   guarantee.
//!
//! Failures here are [`IoError`]: the socket's own (closed, reset, timed out) next to the
//! codec's [`crate::Error`] it wraps (see [`error`] for why they are two types).
//!
//! [`handshake`]: Unauthenticated::accept

mod blocks;
pub mod error;
mod handshake;
mod session;

pub use blocks::{BlockReader, BlockStream, BlockWriter, IntoSplit, READ_CHUNK};
pub use error::IoError;
pub use handshake::Unauthenticated;
pub use session::{RecvHalf, SendHalf, Session};
