//! One relay direction in two stages, so it can use two cores.
//!
//! Per block the relay opens with one context (GSSAPI unwrap of the sender's session) and
//! seals with another (wrap for the receiver's session); with MIT's crypto each costs about
//! half a millisecond of CPU for a 64 KiB block. The two are independent, so they run in two
//! tasks: the *reader* (in the relay's task) reads, opens and hands the plaintext on; the
//! *writer* ([`Writer`], its own tokio task) seals and writes it. On a multi-threaded runtime
//! with two or more cores the writer seals block n on one core while the reader opens block
//! n + 1 on another; on one core the runtime interleaves them and nothing is lost but a
//! channel hop per block.
//!
//! Bounded: between the two stages is a channel of [`PIPELINE_DEPTH`] owned plaintext
//! buffers; the reader waits while it is full, so a slow receiver slows the sender down (TCP
//! back-pressure) exactly as before, only [`PIPELINE_DEPTH`] blocks later. Written buffers go
//! back to the reader on a second bounded channel and are reused, so the hot path allocates
//! nothing. Order is the channel's FIFO order. Each context stays with the session halves
//! that use it (the halves lock it around one open or seal, see `burnstand_wire::io`).

use burnstand_wire::io::{RecvHalf, SendHalf};
use burnstand_wire::limits::KEPT_BUFFER_LEN;
use burnstand_wire::IoError;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::{Error, Result};
use crate::receipts::ReceiptWatch;

/// Plaintext blocks that may wait between a direction's reader and writer. One is enough to
/// keep both stages busy (the writer seals block n while the reader opens block n + 1 and
/// then queues it) and keeps the memory small: per direction at most `PIPELINE_DEPTH + 2`
/// plaintext blocks (being opened, queued, being sealed), each at most `MAX_MESSAGE_LEN`
/// (< 1 MiB), so about 3 MiB in the worst case and about 200 KiB with 64 KiB blocks, on top
/// of each session half's own receive and send buffers.
pub const PIPELINE_DEPTH: usize = 1;

/// What the reader hands the writer.
enum Relayed {
    /// One opened block, to seal and send.
    Block(Vec<u8>),
    /// The sender closed its direction cleanly: half-close the receiver's.
    End,
}

/// The reader's end of a direction: where opened blocks go, and where buffers come back.
pub struct Feed {
    blocks: mpsc::Sender<Relayed>,
    spare: mpsc::Receiver<Vec<u8>>,
}

impl Feed {
    /// A written buffer to reuse, or a new one (the spare channel is empty only while
    /// fewer than its bound circulate).
    fn buffer(&mut self) -> Vec<u8> {
        self.spare.try_recv().unwrap_or_default()
    }

    /// Hands one opened block to the writer; waits while [`PIPELINE_DEPTH`] are queued.
    async fn send(&self, relayed: Relayed) -> Result<()> {
        // The writer only stops taking blocks when it failed (the relay sees its error), was
        // stopped by the relay (which then no longer reads), or panicked.
        self.blocks.send(relayed).await.map_err(|_| Error::Poisoned)
    }
}

/// Reads blocks from `from`, opens them (with `from`'s context), shows each to `receipts` if
/// given (station → user), counts their bytes in `bytes` (for `/metrics`), and feeds them to the direction's writer in order. A clean end of
/// stream is passed on as [`Relayed::End`] (the writer half-closes after the last block).
/// Cancel-safe where it waits: reading a block is, and a block read is either fed or dropped
/// with the whole relay.
pub async fn read(
    from: &mut RecvHalf<OwnedReadHalf>,
    feed: &mut Feed,
    receipts: Option<&ReceiptWatch<'_>>,
    bytes: &prometheus_client::metrics::counter::Counter,
) -> Result<()> {
    loop {
        let mut plaintext = feed.buffer();
        match from.recv_bytes_into(&mut plaintext).await {
            Ok(()) => {}
            Err(IoError::Closed) => return feed.send(Relayed::End).await,
            Err(e) => return Err(e.into()),
        }
        if let Some(receipts) = receipts {
            receipts.observe(&plaintext).await?;
        }
        bytes.inc_by(plaintext.len() as u64);
        feed.send(Relayed::Block(plaintext)).await?;
        // Hand the core to the writer just woken and move this task to the back of the run
        // queue, where an idle worker can steal it: tokio runs a task woken by another in
        // the waker's "LIFO slot", which other workers cannot steal, so without this the
        // writer would only run when the reader waits, on the reader's core.
        tokio::task::yield_now().await;
    }
}

/// How a writer ended.
pub struct WriterEnd {
    /// The send half, back for the relay's drain (a half-close, or the user's last words).
    pub half: SendHalf<OwnedWriteHalf>,
    /// Blocks written completely.
    pub written: u64,
    /// `Err` when a seal or write failed (the relay then ends with that error).
    pub result: Result<()>,
}

/// A direction's writer task: seals each block the reader feeds (with the receiver's
/// context) and writes it; after [`Relayed::End`] it half-closes and ends.
pub struct Writer {
    /// Stops the writer at once, even in the middle of a write (the relay then closes or
    /// drains the connection, as it did when its single pump was dropped mid-write).
    stop: CancellationToken,
    /// Cancelled by the writer when it ends, however it ends: a wait that can be repeated.
    done: CancellationToken,
    handle: JoinHandle<WriterEnd>,
    /// Stops the writer when this handle is dropped, so a relay that is itself dropped
    /// (its task aborted) leaves no writer behind holding a socket.
    _stop_on_drop: DropGuard,
}

impl Writer {
    /// Spawns the writer for `to`. On a write or seal failure it cancels `failed`, which the
    /// relay watches, so a failed direction ends the relay without waiting for a read.
    pub fn spawn(to: SendHalf<OwnedWriteHalf>, failed: &CancellationToken) -> (Feed, Writer) {
        let (blocks_tx, blocks_rx) = mpsc::channel(PIPELINE_DEPTH);
        // Every buffer in circulation fits: queued, being written, being read.
        let (spare_tx, spare_rx) = mpsc::channel(PIPELINE_DEPTH + 2);
        let stop = CancellationToken::new();
        let done = CancellationToken::new();
        let handle = tokio::spawn(write(
            to,
            blocks_rx,
            spare_tx,
            stop.clone(),
            done.clone(),
            failed.clone(),
        ));
        let feed = Feed {
            blocks: blocks_tx,
            spare: spare_rx,
        };
        let _stop_on_drop = stop.clone().drop_guard();
        (
            feed,
            Writer {
                stop,
                done,
                handle,
                _stop_on_drop,
            },
        )
    }

    /// Resolves once the writer has ended (after its half-close, a failure or a stop).
    pub async fn ended(&self) {
        self.done.cancelled().await;
    }

    /// Stops the writer now, in the middle of a write if need be.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits for the writer's end (stopping it if it still runs); `None` only if it panicked
    /// (its half is then gone).
    pub async fn join(self) -> Option<WriterEnd> {
        let Writer { handle, .. } = self;
        match handle.await {
            Ok(end) => Some(end),
            Err(e) => {
                tracing::error!(error = %e, "relay writer task failed");
                None
            }
        }
    }
}

async fn write(
    mut to: SendHalf<OwnedWriteHalf>,
    mut blocks: mpsc::Receiver<Relayed>,
    spare: mpsc::Sender<Vec<u8>>,
    stop: CancellationToken,
    done: CancellationToken,
    failed: CancellationToken,
) -> WriterEnd {
    let _done = done.drop_guard();
    let mut written = 0u64;
    let result = tokio::select! {
        biased;
        _ = stop.cancelled() => Ok(()),
        result = async {
            // A closed channel without End: the reader was dropped with the relay; whatever
            // it queued has been written.
            while let Some(relayed) = blocks.recv().await {
                match relayed {
                    Relayed::Block(plaintext) => {
                        // send_bytes refuses plaintext over MAX_MESSAGE_LEN, so the re-sealed
                        // block always fits the receiver's block bound; a receiver that stops
                        // reading fails it after SEND_TIMEOUT instead of pinning the relay.
                        to.send_bytes(&plaintext).await?;
                        written += 1;
                        if plaintext.capacity() <= KEPT_BUFFER_LEN {
                            let _ = spare.try_send(plaintext);
                        }
                    }
                    Relayed::End => {
                        to.shutdown().await?;
                        break;
                    }
                }
            }
            Ok::<(), Error>(())
        } => result,
    };
    if result.is_err() {
        failed.cancel();
    }
    WriterEnd {
        half: to,
        written,
        result,
    }
}
