//! Pass-through between a module connection and its station: the "semi-transparent relay".
//!
//! The remote-laboratory design: the master "must decrypt all incoming client data and reencrypt it for
//! transmission to the appropriate backend server". Each block from the client is opened with
//! the client's context and sealed with the station's; each block from the station the other
//! way round. Each session is split ([`Session::into_split`]) into a receiving and a sending
//! half; the halves of one session share its context, locked only around one `open` or
//! `seal` (never across an `.await`; see `burnstand_wire::io`'s session docs for why).
//!
//! Two pumps run concurrently, one per direction. A pump reads one block, re-seals it and
//! writes it completely before reading the next: at most one block is in flight per direction
//! and nothing queues beyond the socket buffers, so a slow reader slows the writer down
//! (TCP back-pressure) instead of growing memory. A clean end of stream from one side is
//! passed on as a half-close (`shutdown(SHUT_WR)` on the TCP write half) and the other
//! direction keeps going; any error ends both directions and closes both sockets. Every write
//! is bounded by `burnstand_wire::limits::SEND_TIMEOUT` inside the send half: the relay has no
//! write path of its own.

use std::time::{Duration, Instant};

use burnstand_wire::io::{RecvHalf, SendHalf, Session};
use burnstand_wire::IoError;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::receipts::ReceiptWatch;

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
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut station_rx, mut station_tx) = station.into_split();
    let mut counts = Counts::default();
    let up = pump(&mut client_rx, &mut station_tx, &mut counts.up, None);
    let down = pump(
        &mut station_rx,
        &mut client_tx,
        &mut counts.down,
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
    if matches!(end, RelayEnd::Cancelled) && released() {
        // An admin's release: the station finished before the master ended the session, and
        // what it said last (why the job stopped, its receipts) is for the user.
        drop(client_rx);
        drain_receipts(
            &mut station_rx,
            &mut station_tx,
            receipts,
            Some(&mut client_tx),
        )
        .await;
    } else if !matches!(end, RelayEnd::Finished) {
        // The user's connection closes now, not after the drain.
        drop((client_rx, client_tx));
        drain_receipts(&mut station_rx, &mut station_tx, receipts, None).await;
    }
    (end, counts)
}

/// Reads the station's side until it closes (or [`RECEIPT_DRAIN`] passes), recording the
/// receipts; the rest goes to `user` if there is one (and while it takes it), else nowhere.
async fn drain_receipts(
    from: &mut RecvHalf<OwnedReadHalf>,
    to: &mut SendHalf<OwnedWriteHalf>,
    receipts: &ReceiptWatch<'_>,
    mut user: Option<&mut SendHalf<OwnedWriteHalf>>,
) {
    // Tell the station nothing more comes: its session ends and cancels a running burn.
    let _ = to.shutdown().await;
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

/// One direction: receive a block from `from` (opened with its session's context), send it
/// to `to` (sealed with the other session's). At most one block is in flight: the next is
/// read only once this one is written. A clean end of stream is passed on as a half-close.
/// With `receipts`, each plaintext is shown to it first (station → user only).
async fn pump(
    from: &mut RecvHalf<OwnedReadHalf>,
    to: &mut SendHalf<OwnedWriteHalf>,
    count: &mut u64,
    receipts: Option<&ReceiptWatch<'_>>,
) -> Result<()> {
    loop {
        let plaintext = match from.recv_bytes().await {
            Ok(plaintext) => plaintext,
            Err(IoError::Closed) => {
                to.shutdown().await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(receipts) = receipts {
            receipts.observe(&plaintext).await?;
        }
        // send_bytes refuses plaintext over MAX_MESSAGE_LEN, so the re-sealed block always
        // fits the receiver's block bound; a side that stops reading fails it after
        // SEND_TIMEOUT instead of pinning the relay.
        to.send_bytes(&plaintext).await?;
        *count += 1;
    }
}
