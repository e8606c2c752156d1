//! Pass-through between a module connection and its station: the "semi-transparent relay".
//!
//! Seed 003: the master "must decrypt all incoming client data and reencrypt it for
//! transmission to the appropriate backend server". Each block from the client is opened with
//! the client's context and sealed with the station's; each block from the station the other
//! way round. Both contexts are needed in both directions, so each sits in a
//! `std::sync::Mutex`, locked only around one `open` or `seal` (never across an `.await`).
//!
//! Two pumps run concurrently, one per direction. A pump reads one block, re-seals it and
//! writes it completely before reading the next: at most one block is in flight per direction
//! and nothing queues beyond the socket buffers, so a slow reader slows the writer down
//! (TCP back-pressure) instead of growing memory. A clean end of stream from one side is
//! passed on as a half-close (`shutdown(SHUT_WR)`) and the other direction keeps going; any
//! error ends both directions and closes both sockets.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use burnstand_wire::gss::Established;
use burnstand_wire::io::{BlockStream, Session};
use burnstand_wire::protection::{seal_block, Protection};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::receipts::ReceiptWatch;
use crate::stream::SharedTcp;

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
    client: Session<SharedTcp>,
    station: Session<SharedTcp>,
    cancel: &CancellationToken,
    client_expires_at: Instant,
    receipts: &ReceiptWatch<'_>,
) -> (RelayEnd, Counts) {
    let (client_rx, client_ctx) = client.into_parts();
    let (mut station_rx, station_ctx) = station.into_parts();
    let client_tx = client_rx.get_ref().clone();
    let station_tx = station_rx.get_ref().clone();
    let client_ctx = Mutex::new(client_ctx);
    let station_ctx = Mutex::new(station_ctx);
    let mut counts = Counts::default();
    let (up_count, down_count) = (&mut counts.up, &mut counts.down);
    let mut client_rx = client_rx;
    let up = pump(
        &mut client_rx,
        &client_ctx,
        station_tx,
        &station_ctx,
        up_count,
        None,
    );
    let down = pump(
        &mut station_rx,
        &station_ctx,
        client_tx,
        &client_ctx,
        down_count,
        Some(receipts),
    );
    let end = tokio::select! {
        _ = cancel.cancelled() => RelayEnd::Cancelled,
        _ = tokio::time::sleep_until(client_expires_at.into()) => RelayEnd::Expired,
        result = async { tokio::try_join!(up, down) } => match result {
            Ok(_) => RelayEnd::Finished,
            Err(e) => RelayEnd::Failed(e),
        },
    };
    if !matches!(end, RelayEnd::Finished) {
        drop(client_rx);
        drain_receipts(&mut station_rx, &station_ctx, receipts).await;
    }
    (end, counts)
}

/// Reads the station's side until it closes (or [`RECEIPT_DRAIN`] passes), recording the
/// receipts and dropping everything else: the user is gone.
async fn drain_receipts(
    from: &mut BlockStream<SharedTcp>,
    ctx: &Mutex<Established>,
    receipts: &ReceiptWatch<'_>,
) {
    // Tell the station nothing more comes: its session ends and cancels a running burn.
    let _ = from.get_ref().clone().shutdown().await;
    let drained = tokio::time::timeout(RECEIPT_DRAIN, async {
        loop {
            let block = from.read_block().await?;
            let plaintext = ctx.lock().map_err(|_| Error::Poisoned)?.open(&block)?;
            receipts.observe(&plaintext).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), Error>(())
    })
    .await;
    match drained {
        Err(_) => tracing::warn!("the station kept the link open after the user left; closed"),
        Ok(Err(Error::Wire(burnstand_wire::Error::Closed))) => {}
        Ok(Err(e)) => tracing::info!(error = %e, "station side ended after the user left"),
        Ok(Ok(())) => {}
    }
}

/// One direction: read a block from `from`, open it with `from_ctx`, seal it with `to_ctx`,
/// write it to `to`. A clean end of stream is passed on as a half-close. With `receipts`,
/// each plaintext is shown to it first (station → user only).
async fn pump(
    from: &mut BlockStream<SharedTcp>,
    from_ctx: &Mutex<Established>,
    mut to: SharedTcp,
    to_ctx: &Mutex<Established>,
    count: &mut u64,
    receipts: Option<&ReceiptWatch<'_>>,
) -> Result<()> {
    let mut line = Vec::new();
    loop {
        let block = match from.read_block().await {
            Ok(block) => block,
            Err(burnstand_wire::Error::Closed) => {
                to.shutdown().await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let plaintext = from_ctx.lock().map_err(|_| Error::Poisoned)?.open(&block)?;
        if let Some(receipts) = receipts {
            receipts.observe(&plaintext).await?;
        }
        line.clear();
        // seal_block also refuses plaintext over MAX_MESSAGE_LEN, so the re-sealed block
        // always fits the receiver's block bound.
        seal_block(
            &mut *to_ctx.lock().map_err(|_| Error::Poisoned)?,
            &plaintext,
            &mut line,
        )?;
        // A side that stops reading must not pin the relay: the same deadline as every send.
        let timeout = burnstand_wire::limits::SEND_TIMEOUT;
        match tokio::time::timeout(timeout, to.write_all(&line)).await {
            Ok(written) => written?,
            Err(_) => return Err(burnstand_wire::Error::SendTimeout(timeout).into()),
        }
        *count += 1;
    }
}
