//! [`BlockStream`]: base64 block lines over a byte stream, whole or split in two halves.
//!
//! The receive side and the send side keep separate state ([`RecvBuf`], [`SendBuf`]), so a
//! stream split with [`BlockStream::into_split`] reads and writes exactly as the whole one
//! does: the bytes already read past the last block stay with the reader, and every write
//! goes through the one implementation of [`SEND_TIMEOUT`].

use std::io::ErrorKind;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::IoError;
use crate::block::{encode_block_into, BlockDecoder};
use crate::limits::{KEPT_BUFFER_LEN, READ_CHUNK_IDLE_LEN, READ_CHUNK_LEN, SEND_TIMEOUT};

/// Largest number of bytes read from the socket at a time ([`READ_CHUNK_LEN`]). Together with
/// the decoder's line bound this is the per-connection receive memory:
/// [`READ_CHUNK_IDLE_LEN`] idle, at most `READ_CHUNK + max_line_len(max_block)` busy.
pub const READ_CHUNK: usize = READ_CHUNK_LEN;

/// A byte stream that comes apart into a read half and a write half usable from two tasks.
///
/// For a TCP socket the halves are tokio's owned halves, so shutting down the write half is
/// a real half-close (`shutdown(SHUT_WR)`): the peer reads end of stream while this side can
/// still read. Dropping a TCP write half half-closes too.
pub trait IntoSplit: AsyncRead + AsyncWrite + Unpin + Sized {
    /// The half that reads.
    type ReadHalf: AsyncRead + Unpin;
    /// The half that writes.
    type WriteHalf: AsyncWrite + Unpin;
    /// Splits the stream.
    fn into_split(self) -> (Self::ReadHalf, Self::WriteHalf);
}

impl IntoSplit for tokio::net::TcpStream {
    type ReadHalf = tokio::net::tcp::OwnedReadHalf;
    type WriteHalf = tokio::net::tcp::OwnedWriteHalf;
    fn into_split(self) -> (Self::ReadHalf, Self::WriteHalf) {
        tokio::net::TcpStream::into_split(self)
    }
}

/// In-memory pipes (tests, benchmarks): tokio's generic split, which locks the stream for
/// each poll of either half.
impl IntoSplit for tokio::io::DuplexStream {
    type ReadHalf = tokio::io::ReadHalf<tokio::io::DuplexStream>;
    type WriteHalf = tokio::io::WriteHalf<tokio::io::DuplexStream>;
    fn into_split(self) -> (Self::ReadHalf, Self::WriteHalf) {
        tokio::io::split(self)
    }
}

/// The receive state: a bounded buffer of bytes read but not yet decoded, and the decoder.
pub(super) struct RecvBuf {
    decoder: BlockDecoder,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl RecvBuf {
    fn new(max_block: usize) -> Self {
        RecvBuf {
            decoder: BlockDecoder::with_max_block(max_block),
            buf: vec![0; READ_CHUNK_IDLE_LEN].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// See [`BlockStream::read_block_into`].
    async fn read_block_into<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        block: &mut Vec<u8>,
    ) -> Result<(), IoError> {
        loop {
            if self.start < self.end {
                let mut input = &self.buf[self.start..self.end];
                let before = input.len();
                let complete = self.decoder.decode_into(&mut input, block)?;
                self.start += before - input.len();
                if complete {
                    return Ok(());
                }
            }
            // Everything read so far is consumed, so the buffer may be refilled from the start.
            // A connection whose last read filled the small buffer carries bulk data: from now
            // on it reads up to READ_CHUNK_LEN at a time.
            if self.end == self.buf.len() && self.buf.len() < READ_CHUNK_LEN {
                self.buf = vec![0; READ_CHUNK_LEN].into_boxed_slice();
                self.start = 0;
                self.end = 0;
            }
            // The cursor moves only after the read returns: a cancelled read leaves it as it
            // was, so the next call never decodes old bytes again.
            let n = io.read(&mut self.buf).await?;
            self.start = 0;
            self.end = n;
            if n == 0 {
                self.decoder.finish()?;
                return Err(IoError::Closed);
            }
        }
    }

    /// Changes the block bound between blocks (the handshake uses a small one). Bytes already
    /// read but not yet decoded are kept, so a message that arrived in the same TCP segment as
    /// the last handshake token is not lost.
    fn set_max_block(&mut self, max_block: usize) {
        debug_assert_eq!(self.decoder.buffered(), 0);
        self.decoder = BlockDecoder::with_max_block(max_block);
    }
}

/// The send state: the line being written. Callers fill [`SendBuf::line`] (a plain block, or
/// a sealed one) and then [`SendBuf::write`] it.
#[derive(Default)]
pub(super) struct SendBuf {
    out: Vec<u8>,
    /// Scratch for the sealed message before it is framed (a session's sends only).
    sealed: Vec<u8>,
}

impl SendBuf {
    /// The emptied line buffer, to encode the next block into.
    pub(super) fn line(&mut self) -> &mut Vec<u8> {
        self.out.clear();
        &mut self.out
    }

    /// The emptied line buffer and the scratch buffer for the sealed message.
    pub(super) fn line_and_scratch(&mut self) -> (&mut Vec<u8>, &mut Vec<u8>) {
        self.out.clear();
        (&mut self.out, &mut self.sealed)
    }

    /// Writes the line within [`SEND_TIMEOUT`]: the one place every block of every
    /// connection is written. Not cancel-safe: a dropped write may have sent part of the
    /// line, after which the connection must be closed.
    pub(super) async fn write<W: AsyncWrite + Unpin>(&mut self, io: &mut W) -> Result<(), IoError> {
        let write = async {
            io.write_all(&self.out).await?;
            io.flush().await
        };
        match tokio::time::timeout(SEND_TIMEOUT, write).await {
            Ok(written) => written?,
            Err(_) => return Err(IoError::SendTimeout(SEND_TIMEOUT)),
        }
        // Keep the buffer for the next block (no allocation per block), but not one grown
        // past the bound by a rare large block.
        if self.out.capacity() > KEPT_BUFFER_LEN {
            self.out = Vec::new();
        }
        if self.sealed.capacity() > KEPT_BUFFER_LEN {
            self.sealed = Vec::new();
        }
        Ok(())
    }

    /// Half-closes `io` (for TCP `shutdown(SHUT_WR)`): the peer reads end of stream after the
    /// blocks already written. Within [`SEND_TIMEOUT`] like every write (a shutdown may flush);
    /// a peer already gone is not an error, there is nothing left to signal to it.
    pub(super) async fn shutdown<W: AsyncWrite + Unpin>(io: &mut W) -> Result<(), IoError> {
        match tokio::time::timeout(SEND_TIMEOUT, io.shutdown()).await {
            Ok(Err(e)) if e.kind() == ErrorKind::NotConnected => Ok(()),
            Ok(done) => Ok(done?),
            Err(_) => Err(IoError::SendTimeout(SEND_TIMEOUT)),
        }
    }
}

/// Base64 block lines over a byte stream, with a bounded receive buffer.
///
/// No security of its own: a [`Session`](super::Session) seals what goes through it. Used
/// bare for the handshake, and by tests that play a hostile peer.
pub struct BlockStream<S> {
    io: S,
    recv: RecvBuf,
    send: SendBuf,
}

impl<S: AsyncRead + AsyncWrite + Unpin> BlockStream<S> {
    /// Frames `io` with blocks of at most `max_block` decoded bytes.
    pub fn new(io: S, max_block: usize) -> Self {
        BlockStream {
            io,
            recv: RecvBuf::new(max_block),
            send: SendBuf::default(),
        }
    }

    /// Reads the next block. A clean end of stream between blocks is [`IoError::Closed`]; in
    /// the middle of a line it is [`crate::Error::UnterminatedBlock`].
    ///
    /// Cancel-safe: if the future is dropped (e.g. it lost a `select!` against a timer), no
    /// byte is lost or read twice, and the next call continues where this one stopped.
    pub async fn read_block(&mut self) -> Result<Vec<u8>, IoError> {
        let mut block = Vec::new();
        self.recv.read_block_into(&mut self.io, &mut block).await?;
        Ok(block)
    }

    /// Reads the next block into `block` (cleared first), so a reader that reuses one buffer
    /// allocates nothing per block. Cancel-safe like [`read_block`](Self::read_block); `block`
    /// is only written once a whole line has arrived.
    pub async fn read_block_into(&mut self, block: &mut Vec<u8>) -> Result<(), IoError> {
        self.recv.read_block_into(&mut self.io, block).await
    }

    /// Writes `payload` as one block line within [`SEND_TIMEOUT`]. Not cancel-safe: a dropped
    /// write may have sent part of the line, after which the connection must be closed.
    pub async fn write_block(&mut self, payload: &[u8]) -> Result<(), IoError> {
        encode_block_into(payload, self.send.line());
        self.send.write(&mut self.io).await
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Splits into a reader and a writer for two tasks. The reader keeps every byte already
    /// read and not yet decoded.
    pub fn into_split(self) -> (BlockReader<S::ReadHalf>, BlockWriter<S::WriteHalf>)
    where
        S: IntoSplit,
    {
        let (read, write) = self.io.into_split();
        (
            BlockReader {
                io: read,
                recv: self.recv,
            },
            BlockWriter {
                io: write,
                send: self.send,
            },
        )
    }

    pub(super) fn set_max_block(&mut self, max_block: usize) {
        self.recv.set_max_block(max_block);
    }

    /// The stream and its send buffer, for a session to write a sealed line.
    pub(super) fn send_parts(&mut self) -> (&mut S, &mut SendBuf) {
        (&mut self.io, &mut self.send)
    }
}

/// The reading half of a [`BlockStream`].
pub struct BlockReader<R> {
    io: R,
    recv: RecvBuf,
}

impl<R: AsyncRead + Unpin> BlockReader<R> {
    /// Reads the next block; cancel-safe, exactly like [`BlockStream::read_block`].
    pub async fn read_block(&mut self) -> Result<Vec<u8>, IoError> {
        let mut block = Vec::new();
        self.recv.read_block_into(&mut self.io, &mut block).await?;
        Ok(block)
    }

    /// Reads the next block into `block`, like [`BlockStream::read_block_into`].
    pub async fn read_block_into(&mut self, block: &mut Vec<u8>) -> Result<(), IoError> {
        self.recv.read_block_into(&mut self.io, block).await
    }

    /// The underlying read half.
    pub fn get_ref(&self) -> &R {
        &self.io
    }
}

/// The writing half of a [`BlockStream`].
pub struct BlockWriter<W> {
    io: W,
    send: SendBuf,
}

impl<W: AsyncWrite + Unpin> BlockWriter<W> {
    /// Writes one block line, exactly like [`BlockStream::write_block`].
    pub async fn write_block(&mut self, payload: &[u8]) -> Result<(), IoError> {
        encode_block_into(payload, self.send.line());
        self.send.write(&mut self.io).await
    }

    /// Half-closes the stream: the peer reads end of stream after the blocks written so far.
    pub async fn shutdown(&mut self) -> Result<(), IoError> {
        SendBuf::shutdown(&mut self.io).await
    }

    /// The underlying write half.
    pub fn get_ref(&self) -> &W {
        &self.io
    }

    /// The half and its send buffer, for a session half to write a sealed line.
    pub(super) fn send_parts(&mut self) -> (&mut W, &mut SendBuf) {
        (&mut self.io, &mut self.send)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::limits::MAX_BLOCK_LEN;
    use crate::Error;

    #[tokio::test]
    async fn two_blocks_in_one_write_are_both_read() -> Result<(), IoError> {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut blocks = BlockStream::new(a, MAX_BLOCK_LEN);
        b.write_all(b"AQI=\nAwQ=\n").await?;
        assert_eq!(blocks.read_block().await?, vec![1, 2]);
        assert_eq!(blocks.read_block().await?, vec![3, 4]);
        drop(b);
        assert!(matches!(blocks.read_block().await, Err(IoError::Closed)));
        Ok(())
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_and_repeats_nothing() -> Result<(), IoError> {
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
    async fn eof_inside_a_line_is_not_a_clean_close() -> Result<(), IoError> {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut blocks = BlockStream::new(a, MAX_BLOCK_LEN);
        b.write_all(b"AQ").await?;
        drop(b);
        assert!(matches!(
            blocks.read_block().await,
            Err(IoError::Codec(Error::UnterminatedBlock { buffered: 2 }))
        ));
        Ok(())
    }

    #[tokio::test]
    async fn a_busy_connection_reads_in_large_chunks() -> Result<(), IoError> {
        let (a, mut b) = tokio::io::duplex(4 * READ_CHUNK_LEN);
        let mut blocks = BlockStream::new(a, MAX_BLOCK_LEN);
        b.write_all(b"AQI=\n").await?;
        assert_eq!(blocks.read_block().await?, vec![1, 2]);
        assert_eq!(
            blocks.recv.buf.len(),
            READ_CHUNK_IDLE_LEN,
            "small reads stay small"
        );
        let mut stream = Vec::new();
        let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 65_536 + usize::from(i)]).collect();
        for payload in &payloads {
            encode_block_into(payload, &mut stream);
        }
        b.write_all(&stream).await?;
        let mut block = Vec::new();
        for payload in &payloads {
            blocks.read_block_into(&mut block).await?;
            assert_eq!(&block, payload);
        }
        assert_eq!(blocks.recv.buf.len(), READ_CHUNK_LEN);
        Ok(())
    }

    #[tokio::test]
    async fn a_split_stream_keeps_the_bytes_read_ahead() -> Result<(), IoError> {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut blocks = BlockStream::new(a, MAX_BLOCK_LEN);
        b.write_all(b"AQI=\nAwQ=\n").await?;
        assert_eq!(blocks.read_block().await?, vec![1, 2]);
        let (mut reader, mut writer) = blocks.into_split();
        assert_eq!(reader.read_block().await?, vec![3, 4]);
        writer.write_block(&[5]).await?;
        writer.shutdown().await?;
        let mut echoed = Vec::new();
        b.read_to_end(&mut echoed).await?;
        assert_eq!(echoed, b"BQ==\n");
        Ok(())
    }
}
