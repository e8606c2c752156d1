//! The station's write pipeline for a push: the task that receives chunks from the master
//! (and opens them) hands each one to a blocking writer through a queue of
//! [`QUEUED_WRITES`], so receiving the next chunk, hashing and writing the last ones run at
//! the same time instead of one after the other. The writer hashes SHA-256 and MD5 of a
//! chunk on two threads and writes it without a sync; the file is synced once, when the push
//! ends (published, or lost and kept for a resume).
//!
//! The chunks' buffers go round: the receiving task opens each message into a buffer taken
//! from the writer's free list, the writer hands it back once the bytes are written, so a
//! push allocates no buffer per chunk. Memory: [`BUFFERS`] buffers of at most one `DATA`
//! message (`PUSH_CHUNK_LEN` = 512 KiB and its header) per push link: 3 MiB.

use burnstand_wire::push::PushData;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::store::Partial;

/// Chunks queued between the receiving task and the writer: enough to keep both busy.
pub const QUEUED_WRITES: usize = 4;

/// Buffers of one push link: the queued chunks, the one being written and the one being
/// received. Bounds a push link's memory (see the module doc).
pub const BUFFERS: usize = QUEUED_WRITES + 2;

/// The writer of one push: owns the partial file until [`Writer::finish`].
pub(super) struct Writer {
    chunks: mpsc::Sender<Vec<u8>>,
    free: mpsc::Receiver<Vec<u8>>,
    done: JoinHandle<(Partial, std::io::Result<()>)>,
}

impl Writer {
    /// Starts the writer for `partial` (its cursor at its end).
    pub(super) fn start(partial: Partial) -> Writer {
        let (chunks, rx) = mpsc::channel(QUEUED_WRITES);
        let (give_back, free) = mpsc::channel(BUFFERS);
        for _ in 0..BUFFERS {
            // Capacity BUFFERS: there is room for every buffer.
            let _ = give_back.try_send(Vec::new());
        }
        let done = tokio::task::spawn_blocking(move || write_all(partial, rx, give_back));
        Writer { chunks, free, done }
    }

    /// A buffer to receive the next message into; `None` once the writer has stopped on
    /// an error (which [`Writer::finish`] returns).
    pub(super) async fn buffer(&mut self) -> Option<Vec<u8>> {
        self.free.recv().await
    }

    /// Queues one checked `DATA` message (it must continue what was queued before); false
    /// if the writer stopped on an error.
    pub(super) async fn write(&self, message: Vec<u8>) -> bool {
        self.chunks.send(message).await.is_ok()
    }

    /// Waits until every queued chunk is written (or the writer failed); the partial back
    /// and the first write error, if there was one.
    pub(super) async fn finish(self) -> (Partial, std::io::Result<()>) {
        drop(self.chunks);
        match self.done.await {
            Ok(done) => done,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

/// The writer's loop: appends chunks until the queue closes or a write fails; each buffer
/// goes back to the free list once written.
fn write_all(
    mut partial: Partial,
    mut chunks: mpsc::Receiver<Vec<u8>>,
    give_back: mpsc::Sender<Vec<u8>>,
) -> (Partial, std::io::Result<()>) {
    while let Some(message) = chunks.blocking_recv() {
        let written = match PushData::parse(&message) {
            Ok((_, bytes)) => partial.append(bytes),
            // Checked before it was queued: cannot happen, but is no reason to panic.
            Err(e) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        };
        if let Err(e) = written {
            return (partial, Err(e));
        }
        // Capacity BUFFERS and only BUFFERS buffers exist: there is room.
        let _ = give_back.try_send(message);
    }
    (partial, Ok(()))
}
