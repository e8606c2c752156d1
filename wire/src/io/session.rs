//! [`Session`]: an authenticated connection, whole or split into [`RecvHalf`] and [`SendHalf`].
//!
//! Every block a session sends is sealed and every block it receives is opened with its
//! [`Protection`]; no method writes anything else. A test that must play a hostile peer
//! (replayed, forged or unsealed blocks) takes a session apart with `into_raw_parts`, which
//! exists only with the `test-util` cargo feature.
//!
//! # Why the halves share one context
//!
//! A GSSAPI context ([`Established`]) is one object for both directions: wrap and unwrap are
//! calls on the same handle, and the library keeps both sequence windows in it. It cannot be
//! cut in two, so the halves of a split session share it behind an `Arc<std::sync::Mutex>`.
//! The lock is held around exactly one seal or one open — synchronous work of microseconds —
//! and never across an `.await`, so neither half ever waits on the other's socket. (The guard
//! is not `Send`, so holding it across an await in a spawned task would not compile.)

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncRead, AsyncWrite};

use super::blocks::SendBuf;
use super::{BlockReader, BlockStream, BlockWriter, IntoSplit, IoError};
use crate::datastream::{Decode, Encode};
use crate::gss::{Established, Principal};
use crate::limits::{KEPT_BUFFER_LEN, MAX_BLOCK_LEN};
use crate::protection::{open_message, seal_block_with, seal_message, Protection};

/// An authenticated connection: every block is sealed with the session's [`Protection`].
///
/// Any error from [`recv`](Session::recv) or [`send`](Session::send) leaves the sequence
/// state unknown; the caller must drop the session.
pub struct Session<S, P = Established> {
    blocks: BlockStream<S>,
    protection: P,
    /// The last sealed block received, kept for the next (see [`recv_bytes_into`](Self::recv_bytes_into)).
    sealed: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin, P: Protection> Session<S, P> {
    pub(super) fn new(mut blocks: BlockStream<S>, protection: P) -> Self {
        blocks.set_max_block(MAX_BLOCK_LEN);
        Session {
            blocks,
            protection,
            sealed: Vec::new(),
        }
    }

    /// Seals and sends one TQDataStream message.
    pub async fn send<T: Encode + ?Sized>(&mut self, message: &T) -> Result<(), IoError> {
        let (io, send) = self.blocks.send_parts();
        seal_message(&mut self.protection, message, send.line())?;
        send.write(io).await
    }

    /// Receives, opens and parses exactly one message of type `T`. Cancel-safe, like
    /// [`BlockStream::read_block`]: opening happens only once a whole block has arrived.
    pub async fn recv<T: Decode>(&mut self) -> Result<T, IoError> {
        let block = self.blocks.read_block().await?;
        Ok(open_message(&mut self.protection, &block)?)
    }

    /// Seals and sends raw bytes (a service's own protocol in pass-through).
    pub async fn send_bytes(&mut self, plaintext: &[u8]) -> Result<(), IoError> {
        let (io, send) = self.blocks.send_parts();
        let (line, scratch) = send.line_and_scratch();
        seal_block_with(&mut self.protection, plaintext, scratch, line)?;
        send.write(io).await
    }

    /// Receives and opens one block. Cancel-safe, like [`recv`](Session::recv).
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>, IoError> {
        let mut plaintext = Vec::new();
        self.recv_bytes_into(&mut plaintext).await?;
        Ok(plaintext)
    }

    /// Receives and opens one block into `plaintext` (cleared first): with a reused
    /// `plaintext` nothing is allocated per block. Cancel-safe like [`recv`](Session::recv):
    /// `plaintext` is only touched once a whole block has arrived.
    pub async fn recv_bytes_into(&mut self, plaintext: &mut Vec<u8>) -> Result<(), IoError> {
        self.blocks.read_block_into(&mut self.sealed).await?;
        open_block_into(&mut self.protection, &mut self.sealed, plaintext)
    }

    /// The session's protection (for a GSSAPI session: the peer and the time left).
    pub fn protection(&self) -> &P {
        &self.protection
    }

    /// Splits the session for two tasks: one receives while the other sends. Both halves
    /// seal and open with the one shared context (see the module docs); bytes already read
    /// past the last block stay with the [`RecvHalf`].
    pub fn into_split(self) -> (RecvHalf<S::ReadHalf, P>, SendHalf<S::WriteHalf, P>)
    where
        S: IntoSplit,
    {
        let (reader, writer) = self.blocks.into_split();
        let protection = Arc::new(Mutex::new(self.protection));
        (
            RecvHalf {
                blocks: reader,
                protection: Arc::clone(&protection),
                sealed: self.sealed,
            },
            SendHalf {
                blocks: writer,
                protection,
            },
        )
    }

    /// Ends the connection and keeps only the security context (tests and benchmarks of
    /// wrap and unwrap). Nothing can be written with it any more.
    pub fn into_protection(self) -> P {
        self.protection
    }

    /// Takes the session apart into its unprotected block stream and its context, so a test
    /// can send what a hostile peer would: replayed, reordered, forged or unsealed blocks.
    /// Only with the `test-util` feature, which no daemon or client enables: in production a
    /// session can send nothing but sealed blocks.
    #[cfg(feature = "test-util")]
    pub fn into_raw_parts(self) -> (BlockStream<S>, P) {
        (self.blocks, self.protection)
    }
}

impl<S> Session<S, Established> {
    /// The authenticated peer.
    pub fn peer(&self) -> &Principal {
        self.protection.peer()
    }
}

/// Opens the sealed block in `sealed` into `plaintext` (cleared first), then frees `sealed`'s
/// buffer if a rare large block grew it past [`KEPT_BUFFER_LEN`].
fn open_block_into<P: Protection + ?Sized>(
    protection: &mut P,
    sealed: &mut Vec<u8>,
    plaintext: &mut Vec<u8>,
) -> Result<(), IoError> {
    plaintext.clear();
    let opened = protection.open_into(sealed, plaintext);
    if sealed.capacity() > KEPT_BUFFER_LEN {
        *sealed = Vec::new();
    }
    Ok(opened?)
}

/// Locks a split session's context for one seal or open.
fn lock<P>(protection: &Mutex<P>) -> Result<MutexGuard<'_, P>, IoError> {
    protection.lock().map_err(|_| IoError::Poisoned)
}

/// The receiving half of a split [`Session`]: opens every block with the shared context.
pub struct RecvHalf<R, P = Established> {
    blocks: BlockReader<R>,
    protection: Arc<Mutex<P>>,
    /// The last sealed block received, kept for the next.
    sealed: Vec<u8>,
}

impl<R: AsyncRead + Unpin, P: Protection> RecvHalf<R, P> {
    /// Receives, opens and parses one message; cancel-safe like [`Session::recv`].
    pub async fn recv<T: Decode>(&mut self) -> Result<T, IoError> {
        let block = self.blocks.read_block().await?;
        Ok(open_message(&mut *lock(&self.protection)?, &block)?)
    }

    /// Receives and opens one block; cancel-safe like [`Session::recv_bytes`].
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>, IoError> {
        let mut plaintext = Vec::new();
        self.recv_bytes_into(&mut plaintext).await?;
        Ok(plaintext)
    }

    /// Receives and opens one block into `plaintext` (cleared first); cancel-safe like
    /// [`Session::recv_bytes_into`]. The shared context is locked only for the open itself.
    pub async fn recv_bytes_into(&mut self, plaintext: &mut Vec<u8>) -> Result<(), IoError> {
        self.blocks.read_block_into(&mut self.sealed).await?;
        open_block_into(&mut *lock(&self.protection)?, &mut self.sealed, plaintext)
    }
}

/// The sending half of a split [`Session`]: seals every block with the shared context.
pub struct SendHalf<W, P = Established> {
    blocks: BlockWriter<W>,
    protection: Arc<Mutex<P>>,
}

impl<W: AsyncWrite + Unpin, P: Protection> SendHalf<W, P> {
    /// Seals and sends one message, like [`Session::send`].
    pub async fn send<T: Encode + ?Sized>(&mut self, message: &T) -> Result<(), IoError> {
        let (io, send) = self.blocks.send_parts();
        seal_message(&mut *lock(&self.protection)?, message, send.line())?;
        send.write(io).await
    }

    /// Seals and sends raw bytes, like [`Session::send_bytes`]; refuses plaintext over
    /// [`crate::limits::MAX_MESSAGE_LEN`], so the block fits the receiver's bound.
    pub async fn send_bytes(&mut self, plaintext: &[u8]) -> Result<(), IoError> {
        let (io, send) = self.blocks.send_parts();
        let (line, scratch) = send.line_and_scratch();
        seal_block_with(&mut *lock(&self.protection)?, plaintext, scratch, line)?;
        send.write(io).await
    }

    /// Half-closes the connection (for TCP `shutdown(SHUT_WR)`): the peer reads end of stream
    /// after the blocks sent so far, and the [`RecvHalf`] can still read its answers.
    pub async fn shutdown(&mut self) -> Result<(), IoError> {
        let (io, _) = self.blocks.send_parts();
        SendBuf::shutdown(io).await
    }
}
#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::command::{Command, Greeting, Reply};
    use crate::protection::testing;
    use crate::Error;

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
    async fn messages_cross_a_small_pipe_in_order() -> Result<(), IoError> {
        let (mut master, mut client) = test_sessions();
        let sender = tokio::spawn(async move {
            master.send(&Greeting::CURRENT).await?;
            master.send(&Reply::Ok).await?;
            master.send_bytes(&vec![7u8; 100_000]).await?;
            Ok::<_, IoError>(master)
        });
        assert_eq!(client.recv::<Greeting>().await?.check()?, Greeting::CURRENT);
        assert_eq!(client.recv::<Reply>().await?, Reply::Ok);
        assert_eq!(client.recv_bytes().await?, vec![7u8; 100_000]);
        drop(sender.await);
        Ok(())
    }

    #[tokio::test]
    async fn reused_buffers_carry_blocks_of_every_size_in_order() -> Result<(), IoError> {
        let (master, mut client) = test_sessions();
        let (mut rx, mut tx) = master.into_split();
        let sizes = [
            0usize,
            1,
            3,
            70_000,
            2,
            65_536,
            1_000,
            MAX_BLOCK_LEN - 1024,
            5,
        ];
        let sending = tokio::spawn(async move {
            for (i, size) in sizes.iter().enumerate() {
                let payload = vec![i as u8; *size];
                client.send_bytes(&payload).await?;
                assert_eq!(
                    client.recv_bytes().await?,
                    payload,
                    "block {i} echoed intact"
                );
            }
            Ok::<_, IoError>(())
        });
        let echo = tokio::spawn(async move {
            let mut plaintext = b"stale".to_vec();
            for _ in sizes {
                rx.recv_bytes_into(&mut plaintext).await?;
                tx.send_bytes(&plaintext).await?;
            }
            Ok::<_, IoError>(rx)
        });
        sending.await.map_err(|e| IoError::Io(e.into()))??;
        let rx = echo.await.map_err(|e| IoError::Io(e.into()))??;
        assert!(
            rx.sealed.capacity() <= KEPT_BUFFER_LEN,
            "a huge block's buffer is not kept"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_tampered_block_ends_the_session_with_an_error() -> Result<(), IoError> {
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
            Err(IoError::Codec(Error::Gss { .. }))
        ));
        Ok(())
    }

    #[tokio::test]
    async fn split_halves_talk_both_ways_at_once_and_half_close() -> Result<(), IoError> {
        let (master, mut client) = test_sessions();
        let (mut rx, mut tx) = master.into_split();
        // One task sends a large message while the other direction is read: with a 64-byte
        // pipe neither completes unless the halves really run concurrently.
        let sending = tokio::spawn(async move {
            tx.send_bytes(&vec![1u8; 50_000]).await?;
            tx.send(&Reply::Ok).await?;
            tx.shutdown().await?;
            Ok::<_, IoError>(())
        });
        let client_side = tokio::spawn(async move {
            client.send_bytes(&vec![2u8; 50_000]).await?;
            assert_eq!(client.recv_bytes().await?, vec![1u8; 50_000]);
            assert_eq!(client.recv::<Reply>().await?, Reply::Ok);
            // The half-close arrives as a clean end of stream after the last block.
            assert!(matches!(client.recv_bytes().await, Err(IoError::Closed)));
            client.send(&Reply::ErrUnaval).await?;
            Ok::<_, IoError>(())
        });
        assert_eq!(rx.recv_bytes().await?, vec![2u8; 50_000]);
        // After our half-close the peer can still answer, and the shared context opens it.
        assert_eq!(rx.recv::<Reply>().await?, Reply::ErrUnaval);
        for task in [sending, client_side] {
            task.await.map_err(|e| IoError::Io(e.into()))??;
        }
        Ok(())
    }

    #[tokio::test]
    async fn bytes_read_past_the_last_block_stay_with_the_read_half() -> Result<(), IoError> {
        let (a, b) = tokio::io::duplex(1024);
        let (mut pa, pb) = testing::pair();
        let mut raw = BlockStream::new(a, MAX_BLOCK_LEN);
        let mut session = Session::new(BlockStream::new(b, MAX_BLOCK_LEN), pb);
        // Two sealed blocks in one write: the first recv reads both into the buffer.
        let mut line = Vec::new();
        seal_message(&mut pa, &Reply::Ok, &mut line)?;
        seal_message(&mut pa, &Reply::ErrNoConn, &mut line)?;
        let (io, _) = raw.send_parts();
        tokio::io::AsyncWriteExt::write_all(io, &line).await?;
        assert_eq!(session.recv::<Reply>().await?, Reply::Ok);
        let (mut rx, _tx) = session.into_split();
        assert_eq!(rx.recv::<Reply>().await?, Reply::ErrNoConn);
        Ok(())
    }

    #[tokio::test]
    async fn a_split_session_writes_only_sealed_blocks() -> Result<(), IoError> {
        let (a, b) = tokio::io::duplex(1024);
        let (_, pb) = testing::pair();
        let session = Session::new(BlockStream::new(b, MAX_BLOCK_LEN), pb);
        let (_rx, mut tx) = session.into_split();
        tx.send_bytes(b"plain").await?;
        tx.shutdown().await?;
        let mut line = Vec::new();
        let (mut a_read, _a_write) = tokio::io::split(a);
        a_read.read_to_end(&mut line).await?;
        let block = crate::block::BlockDecoder::new()
            .decode(&mut line.as_slice())?
            .unwrap_or_default();
        assert_ne!(&block[..], b"plain", "the block on the wire is sealed");
        let (_, mut reader) = testing::pair();
        assert_eq!(reader.open(&block)?, b"plain");
        Ok(())
    }
}
