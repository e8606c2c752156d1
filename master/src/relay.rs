//! Pass-through between a module connection and its station: the "semi-transparent relay".
//!
//! The remote-laboratory design: the master "must decrypt all incoming client data and reencrypt it for
//! transmission to the appropriate backend server". Each block from the client is opened with
//! the client's context and sealed with the station's; each block from the station the other
//! way round. Each session is split ([`Session::into_split`]) into a receiving and a sending
//! half; the halves of one session share its context, locked only around one `open` or
//! `seal` (never across an `.await`; see `burnstand_wire::io`'s session docs for why).
//!
//! Each direction runs in two stages ([`pipeline`]): a reader in the relay's task reads and
//! opens blocks, a writer task seals and writes them, so on a machine with two cores the
//! unwrap of the next block and the wrap of the current one run at the same time. Between the
//! stages at most [`pipeline::PIPELINE_DEPTH`] blocks wait; the reader waits while they do, so
//! a slow reader slows the writer down (TCP back-pressure) instead of growing memory. A clean
//! end of stream from one side is passed on, after the blocks before it, as a half-close
//! (`shutdown(SHUT_WR)` on the TCP write half) and the other direction keeps going; any error
//! ends both directions and closes both sockets. Every write is bounded by
//! `burnstand_wire::limits::SEND_TIMEOUT` inside the send half: the relay has no write path
//! of its own.

mod pipeline;

use std::time::{Duration, Instant};

use burnstand_wire::io::{RecvHalf, SendHalf, Session};
use burnstand_wire::IoError;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::metrics::Direction;
use crate::receipts::ReceiptWatch;
use pipeline::Writer;

/// How a pass-through ended.
#[derive(Debug)]
pub enum RelayEnd {
    /// Both sides closed their sending direction cleanly.
    Finished,
    /// The user's connections were torn down, or the master is stopping.
    Cancelled,
    /// The user's Kerberos ticket ended.
    Expired,
    /// A read, unwrap, wrap or write failed on one side.
    Failed(Error),
}

impl RelayEnd {
    /// A short reason for logs and the audit record.
    pub fn reason(&self) -> String {
        match self {
            RelayEnd::Finished => "both sides closed".into(),
            RelayEnd::Cancelled => "torn down".into(),
            RelayEnd::Expired => "Kerberos ticket ended".into(),
            RelayEnd::Failed(e) => e.to_string(),
        }
    }
}

/// Blocks relayed in each direction.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Client to station.
    pub up: u64,
    /// Station to client.
    pub down: u64,
}

/// After the user's side is gone, how long the master keeps reading the station's side for
/// the receipts still in flight (a cancelled burn stops xorriso within seconds: SIGTERM,
/// SIGKILL after 5 s, then its RECEIPT and CANCELLED come).
pub const RECEIPT_DRAIN: Duration = Duration::from_secs(30);

/// Relays until both sides are done, one fails, `cancel` fires or `client_expires_at` passes.
/// Receipts the station sends are recorded through `receipts` before the user gets them; when
/// the relay ends any other way than both sides closing, the station's side is half-closed
/// and read for up to [`RECEIPT_DRAIN`] more, so a receipt in flight is recorded, not dropped.
pub(crate) async fn run(
    client: Session<TcpStream>,
    station: Session<TcpStream>,
    cancel: &CancellationToken,
    client_expires_at: Instant,
    receipts: &ReceiptWatch<'_>,
    released: &(dyn Fn() -> bool + Sync),
) -> (RelayEnd, Counts) {
    let (mut client_rx, client_tx) = client.into_split();
    let (mut station_rx, station_tx) = station.into_split();
    // Cancelled by a writer that failed: the relay ends without waiting for a read.
    let failed = CancellationToken::new();
    let (mut up_feed, up) = Writer::spawn(station_tx, &failed);
    let (mut down_feed, down) = Writer::spawn(client_tx, &failed);
    let metrics = &receipts.shared.metrics;
    let (up_bytes, down_bytes) = (
        metrics.relay_bytes(Direction::ToStation),
        metrics.relay_bytes(Direction::ToClient),
    );
    let flow = async {
        tokio::try_join!(
            pipeline::read(&mut client_rx, &mut up_feed, None, &up_bytes),
            pipeline::read(&mut station_rx, &mut down_feed, Some(receipts), &down_bytes),
        )?;
        // Both sides closed: done once both writers have written the rest and half-closed.
        tokio::join!(up.ended(), down.ended());
        Ok::<(), Error>(())
    };
    // `None`: a writer failed; its error is known once it is joined.
    let end = tokio::select! {
        biased;
        _ = failed.cancelled() => None,
        _ = cancel.cancelled() => Some(RelayEnd::Cancelled),
        _ = tokio::time::sleep_until(client_expires_at.into()) => Some(RelayEnd::Expired),
        result = flow => Some(match result {
            Ok(()) => RelayEnd::Finished,
            Err(e) => RelayEnd::Failed(e),
        }),
    };
    // The readers are gone: the writers see their channels close after what was queued.
    drop((up_feed, down_feed));
    let released_now = matches!(end, Some(RelayEnd::Cancelled)) && released();
    up.stop();
    if released_now {
        // An admin's release: the blocks the station sent last are for the user, the ones
        // already read first.
        let _ = tokio::time::timeout(RECEIPT_DRAIN, down.ended()).await;
    }
    down.stop();
    let (up, down) = tokio::join!(up.join(), down.join());
    let counts = Counts {
        up: up.as_ref().map_or(0, |w| w.written),
        down: down.as_ref().map_or(0, |w| w.written),
    };
    let (mut station_tx, up_result) = split_end(up);
    let (mut client_tx, down_result) = split_end(down);
    let end = end
        .unwrap_or_else(|| RelayEnd::Failed(up_result.or(down_result).unwrap_or(Error::Poisoned)));
    if released_now {
        // What the station says after the release (why the job stopped, its receipts) is for
        // the user too.
        drop(client_rx);
        drain_receipts(
            &mut station_rx,
            station_tx.as_mut(),
            receipts,
            client_tx.as_mut(),
        )
        .await;
    } else if !matches!(end, RelayEnd::Finished) {
        // The user's connection closes now, not after the drain.
        drop((client_rx, client_tx));
        drain_receipts(&mut station_rx, station_tx.as_mut(), receipts, None).await;
    }
    (end, counts)
}

/// A writer's half and its error, if it ended with one.
fn split_end(
    end: Option<pipeline::WriterEnd>,
) -> (Option<SendHalf<OwnedWriteHalf>>, Option<Error>) {
    match end {
        Some(end) => (Some(end.half), end.result.err()),
        None => (None, None),
    }
}

/// Reads the station's side until it closes (or [`RECEIPT_DRAIN`] passes), recording the
/// receipts; the rest goes to `user` if there is one (and while it takes it), else nowhere.
async fn drain_receipts(
    from: &mut RecvHalf<OwnedReadHalf>,
    to: Option<&mut SendHalf<OwnedWriteHalf>>,
    receipts: &ReceiptWatch<'_>,
    mut user: Option<&mut SendHalf<OwnedWriteHalf>>,
) {
    // Tell the station nothing more comes: its session ends and cancels a running burn. (No
    // half only if its writer panicked: dropping the half has closed it already.)
    if let Some(to) = to {
        let _ = to.shutdown().await;
    }
    let drained = tokio::time::timeout(RECEIPT_DRAIN, async {
        loop {
            let plaintext = from.recv_bytes().await?;
            receipts.observe(&plaintext).await?;
            if let Some(client) = user.as_mut() {
                if client.send_bytes(&plaintext).await.is_err() {
                    user = None;
                }
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), Error>(())
    })
    .await;
    match drained {
        Err(_) => tracing::warn!("the station kept the link open after the user left; closed"),
        Ok(Err(Error::WireIo(IoError::Closed))) => {}
        Ok(Err(e)) => tracing::info!(error = %e, "station side ended after the user left"),
        Ok(Ok(())) => {}
    }
}
