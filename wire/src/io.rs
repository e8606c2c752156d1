//! The async edge: blocks, handshakes and sessions over a tokio byte stream.
//!
//! This is the only module that touches a socket. It adds nothing to the protocol: it moves
//! bytes between a stream and the sans-I/O pieces ([`BlockDecoder`], [`Initiator`],
//! [`Acceptor`], [`Protection`]). The types encode the connection's state: an
//! [`Unauthenticated`] connection can do nothing but a handshake, and only that handshake
//! produces a [`Session`], whose every message is sealed.

use std::time::Duration;

use libgssapi::credential::Cred;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::block::{encode_block_into, BlockDecoder};
use crate::datastream::{Decode, Encode};
use crate::gss::{Acceptor, Established, Initiator, Principal};
use crate::limits::{MAX_BLOCK_LEN, MAX_HANDSHAKE_TOKEN_LEN};
use crate::protection::{open_message, seal_block, seal_message, Protection};
use crate::{Error, Result};

/// Bytes read from the socket at a time. Together with the decoder's line bound this is the
/// per-connection receive memory: 8 KiB idle, at most 8 KiB + `max_line_len(max_block)` busy.
pub const READ_CHUNK: usize = 8 * 1024;

/// Base64 block lines over a byte stream, with a bounded receive buffer.
pub struct BlockStream<S> {
    io: S,
    decoder: BlockDecoder,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> BlockStream<S> {
    /// Frames `io` with blocks of at most `max_block` decoded bytes.
    pub fn new(io: S, max_block: usize) -> Self {
        BlockStream {
            io,
            decoder: BlockDecoder::with_max_block(max_block),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::new(),
        }
    }

    /// Reads the next block. A clean end of stream between blocks is [`Error::Closed`]; in the
    /// middle of a line it is [`Error::UnterminatedBlock`].
    ///
    /// Cancel-safe: if the future is dropped (e.g. it lost a `select!` against a timer), no
    /// byte is lost or read twice, and the next call continues where this one stopped.
    pub async fn read_block(&mut self) -> Result<Vec<u8>> {
        loop {
            if self.start < self.end {
                let mut input = &self.buf[self.start..self.end];
                let before = input.len();
                let block = self.decoder.decode(&mut input)?;
                self.start += before - input.len();
                if let Some(block) = block {
                    return Ok(block);
                }
            }
            // Everything read so far is consumed, so the buffer may be refilled from the start.
            // The cursor moves only after the read returns: a cancelled read leaves it as it
            // was, so the next call never decodes old bytes again.
            let n = self.io.read(&mut self.buf).await?;
            self.start = 0;
            self.end = n;
            if n == 0 {
                self.decoder.finish()?;
                return Err(Error::Closed);
            }
        }
    }

    /// Writes `payload` as one block line. Not cancel-safe: a dropped write may have sent part
    /// of the line, after which the connection must be closed.
    pub async fn write_block(&mut self, payload: &[u8]) -> Result<()> {
        self.out.clear();
        encode_block_into(payload, &mut self.out);
        self.write_out().await
    }

    async fn write_out(&mut self) -> Result<()> {
        let write = async {
            self.io.write_all(&self.out).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(crate::limits::SEND_TIMEOUT, write).await {
            Ok(written) => written?,
            Err(_) => return Err(Error::SendTimeout(crate::limits::SEND_TIMEOUT)),
        }
        // Do not keep a large block's buffer around on an idle connection.
        if self.out.capacity() > READ_CHUNK {
            self.out = Vec::new();
        }
        Ok(())
    }

    /// Changes the block bound between blocks (the handshake uses a small one). Bytes already
    /// read but not yet decoded are kept, so a message that arrived in the same TCP segment as
    /// the last handshake token is not lost.
    fn set_max_block(&mut self, max_block: usize) {
        debug_assert_eq!(self.decoder.buffered(), 0);
        self.decoder = BlockDecoder::with_max_block(max_block);
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }
}

/// A connection before authentication: all it can do is a handshake.
pub struct Unauthenticated<S> {
    blocks: BlockStream<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Unauthenticated<S> {
    /// Wraps a fresh connection. Until the handshake completes only blocks of up to
    /// [`MAX_HANDSHAKE_TOKEN_LEN`] bytes are accepted.
    pub fn new(io: S) -> Self {
        Unauthenticated {
            blocks: BlockStream::new(io, MAX_HANDSHAKE_TOKEN_LEN),
        }
    }

    /// Runs the acceptor side within `timeout` and returns the authenticated session.
    pub async fn accept(self, cred: Cred, timeout: Duration) -> Result<Session<S>> {
        let mut blocks = self.blocks;
        let established = tokio::time::timeout(timeout, accept_tokens(&mut blocks, cred))
            .await
            .map_err(|_| Error::HandshakeTimeout(timeout))??;
        Ok(Session::new(blocks, established))
    }

    /// Runs the initiator side towards the service principal `target` within `timeout`.
    pub async fn initiate(self, cred: Cred, target: &str, timeout: Duration) -> Result<Session<S>> {
        let mut blocks = self.blocks;
        let initiator = Initiator::new(cred, target)?;
        let established = tokio::time::timeout(timeout, initiate_tokens(&mut blocks, initiator))
            .await
            .map_err(|_| Error::HandshakeTimeout(timeout))??;
        Ok(Session::new(blocks, established))
    }
}

/// GSSAPI steps may block (keytab and replay cache files, the KDC): run them off the runtime.
async fn off_runtime<T: Send + 'static>(step: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|e| Error::Gss {
            operation: "handshake step",
            message: e.to_string(),
        })
}

fn closed_means_refused(e: Error) -> Error {
    match e {
        Error::Closed | Error::UnterminatedBlock { .. } => Error::HandshakeClosed,
        other => other,
    }
}

async fn accept_tokens<S>(blocks: &mut BlockStream<S>, cred: Cred) -> Result<Established>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut acceptor = Acceptor::new(cred);
    loop {
        let token = blocks.read_block().await.map_err(closed_means_refused)?;
        let (back, reply) = off_runtime(move || {
            let reply = acceptor.step(&token);
            (acceptor, reply)
        })
        .await?;
        acceptor = back;
        if let Some(reply) = reply? {
            blocks.write_block(&reply).await?;
        }
        if acceptor.is_complete() {
            return acceptor.establish();
        }
    }
}

async fn initiate_tokens<S>(
    blocks: &mut BlockStream<S>,
    mut initiator: Initiator,
) -> Result<Established>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut input: Option<Vec<u8>> = None;
    loop {
        let (back, token) = off_runtime(move || {
            let token = initiator.step(input.as_deref());
            (initiator, token)
        })
        .await?;
        initiator = back;
        if let Some(token) = token? {
            blocks.write_block(&token).await?;
        }
        if initiator.is_complete() {
            return initiator.establish();
        }
        input = Some(blocks.read_block().await.map_err(closed_means_refused)?);
    }
}

/// An authenticated connection: every block is sealed with the session's [`Protection`].
///
/// Any error from [`recv`](Session::recv) or [`send`](Session::send) leaves the sequence
/// state unknown; the caller must drop the session.
pub struct Session<S, P = Established> {
    blocks: BlockStream<S>,
    protection: P,
}

impl<S: AsyncRead + AsyncWrite + Unpin, P: Protection> Session<S, P> {
    fn new(mut blocks: BlockStream<S>, protection: P) -> Self {
        blocks.set_max_block(MAX_BLOCK_LEN);
        Session { blocks, protection }
    }

    /// Seals and sends one TQDataStream message.
    pub async fn send<T: Encode + ?Sized>(&mut self, message: &T) -> Result<()> {
        self.blocks.out.clear();
        seal_message(&mut self.protection, message, &mut self.blocks.out)?;
        self.blocks.write_out().await
    }

    /// Receives, opens and parses exactly one message of type `T`. Cancel-safe, like
    /// [`BlockStream::read_block`]: opening happens only once a whole block has arrived.
    pub async fn recv<T: Decode>(&mut self) -> Result<T> {
        let block = self.blocks.read_block().await?;
        open_message(&mut self.protection, &block)
    }

    /// Seals and sends raw bytes (a service's own protocol in pass-through).
    pub async fn send_bytes(&mut self, plaintext: &[u8]) -> Result<()> {
        self.blocks.out.clear();
        seal_block(&mut self.protection, plaintext, &mut self.blocks.out)?;
        self.blocks.write_out().await
    }

    /// Receives and opens one block. Cancel-safe, like [`recv`](Session::recv).
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>> {
        let block = self.blocks.read_block().await?;
        self.protection.open(&block)
    }

    /// The session's protection (for a GSSAPI session: the peer and the time left).
    pub fn protection(&self) -> &P {
        &self.protection
    }

    /// Takes the session apart, e.g. to relay its blocks.
    pub fn into_parts(self) -> (BlockStream<S>, P) {
        (self.blocks, self.protection)
    }
}

impl<S> Session<S, Established> {
    /// The authenticated peer.
    pub fn peer(&self) -> &Principal {
        self.protection.peer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, Greeting, Reply};
    use crate::protection::testing;

    fn test_sessions() -> (
        Session<tokio::io::DuplexStream, testing::TestOnlyXorProtection>,
        Session<tokio::io::DuplexStream, testing::TestOnlyXorProtection>,
    ) {
        let (a, b) = tokio::io::duplex(64);
        let (pa, pb) = testing::pair();
        (
            Session::new(BlockStream::new(a, MAX_BLOCK_LEN), pa),
            Session::new(BlockStream::new(b, MAX_BLOCK_LEN), pb),
        )
    }

    #[tokio::test]
    async fn messages_cross_a_small_pipe_in_order() -> Result<()> {
        let (mut master, mut client) = test_sessions();
        let sender = tokio::spawn(async move {
            master.send(&Greeting::CURRENT).await?;
            master.send(&Reply::Ok).await?;
            master.send_bytes(&vec![7u8; 100_000]).await?;
            Ok::<_, Error>(master)
        });
        assert_eq!(client.recv::<Greeting>().await?.check()?, Greeting::CURRENT);
        assert_eq!(client.recv::<Reply>().await?, Reply::Ok);
        assert_eq!(client.recv_bytes().await?, vec![7u8; 100_000]);
        drop(sender.await);
        Ok(())
    }

    #[tokio::test]
    async fn two_blocks_in_one_write_are_both_read() -> Result<()> {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut blocks = BlockStream::new(a, MAX_BLOCK_LEN);
        b.write_all(b"AQI=\nAwQ=\n").await?;
        assert_eq!(blocks.read_block().await?, vec![1, 2]);
        assert_eq!(blocks.read_block().await?, vec![3, 4]);
        drop(b);
        assert!(matches!(blocks.read_block().await, Err(Error::Closed)));
        Ok(())
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_and_repeats_nothing() -> Result<()> {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut blocks = BlockStream::new(a, MAX_BLOCK_LEN);
        b.write_all(b"AQI=\nAw").await?;
        assert_eq!(blocks.read_block().await?, vec![1, 2]);
        // The second block is incomplete: the read waits for more, and is cancelled.
        let waited = tokio::time::timeout(Duration::from_millis(20), blocks.read_block()).await;
        assert!(waited.is_err(), "the read must still be waiting");
        b.write_all(b"Q=\n").await?;
        assert_eq!(blocks.read_block().await?, vec![3, 4]);
        Ok(())
    }

    #[tokio::test]
    async fn eof_inside_a_line_is_not_a_clean_close() -> Result<()> {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut blocks = BlockStream::new(a, MAX_BLOCK_LEN);
        b.write_all(b"AQ").await?;
        drop(b);
        assert!(matches!(
            blocks.read_block().await,
            Err(Error::UnterminatedBlock { buffered: 2 })
        ));
        Ok(())
    }

    #[tokio::test]
    async fn a_tampered_block_ends_the_session_with_an_error() -> Result<()> {
        let (a, b) = tokio::io::duplex(1024);
        let (mut pa, _) = testing::pair();
        let mut raw = BlockStream::new(a, MAX_BLOCK_LEN);
        let (_, pb) = testing::pair();
        let mut session = Session::new(BlockStream::new(b, MAX_BLOCK_LEN), pb);
        let mut sealed = pa.seal(&crate::datastream::to_bytes(&Command::List))?;
        sealed[0] ^= 1; // sequence number no longer matches
        raw.write_block(&sealed).await?;
        assert!(matches!(
            session.recv::<Command>().await,
            Err(Error::Gss { .. })
        ));
        Ok(())
    }
}
