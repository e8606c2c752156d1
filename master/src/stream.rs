//! [`SharedTcp`]: one TCP socket usable from two tasks at once.
//!
//! `burnstand_wire::io::BlockStream` owns its byte stream and offers no way to split it or take
//! it back (it may hold bytes already read past the handshake). The relay must read one
//! direction while writing the other, so every connection is wrapped in a `SharedTcp` from the
//! start: the `BlockStream` reads through one handle, the relay writes through a clone. Both
//! use tokio's `&self` readiness API (`poll_read_ready` + `try_read`), which allows one reader
//! and one writer concurrently. A `BlockStream::into_split` in `wire` would make this module
//! unnecessary (see the report of issue 3).

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A cloneable handle on one TCP socket. The socket closes when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct SharedTcp(Arc<TcpStream>);

impl SharedTcp {
    /// Wraps a connected socket.
    pub fn new(stream: TcpStream) -> Self {
        SharedTcp(Arc::new(stream))
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// Half-closes the socket: the peer reads end of stream, we can still read from it.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match socket2::SockRef::from(&*self.0).shutdown(Shutdown::Write) {
            // The peer already went away: nothing left to signal.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale; try_read cleared it, so poll_read_ready registers again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TCP sockets have no user-space buffer to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}
