//! [`ReportingDrive`]: the station's drive as every session and burn uses it, telling the
//! [`StateBoard`] what each operation learned — the disc a medium query saw, the tray opened,
//! a disc written, the drive usable or not, an operation that failed because of the drive.
//!
//! Wrapping the drive (rather than reporting at each call site) means no drive operation can
//! be added without the live state seeing it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use burnstand_wire::burner::{DriveKind, ErrorCode, MediumInfo, Percent};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::StateBoard;
use crate::burn::ReadBack;
use crate::drive::{BoxFuture, Drive};
use crate::error::{Result, StationError};

/// A drive whose operations report to a [`StateBoard`].
pub struct ReportingDrive {
    inner: Arc<dyn Drive>,
    board: Arc<StateBoard>,
}

impl ReportingDrive {
    /// Wraps `inner`, reporting to `board`.
    pub fn new(inner: Arc<dyn Drive>, board: Arc<StateBoard>) -> ReportingDrive {
        ReportingDrive { inner, board }
    }

    /// Reports `result`'s failure if it is the drive's: a drive that failed or cannot be
    /// reached, or a burner program that cannot run. A disc that cannot be burned or read
    /// back is the disc's problem, not the drive's.
    fn failure<T>(&self, result: &Result<T>) {
        let why = match result {
            Err(
                e @ StationError::Drive {
                    code: ErrorCode::DriveFailed | ErrorCode::Unavailable,
                    ..
                },
            ) => e.report().text,
            Err(e @ StationError::Spawn { .. }) => e.report().text,
            _ => return,
        };
        self.board.drive_failed(&why);
    }
}

/// The wrapped drive's: the `station.start` record names the drive by it.
impl fmt::Debug for ReportingDrive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Drive for ReportingDrive {
    fn kind(&self) -> DriveKind {
        self.inner.kind()
    }

    fn check_usable(&self) -> Result<()> {
        let result = self.inner.check_usable();
        self.board
            .usable(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        result
    }

    fn medium(&self) -> BoxFuture<'_, Result<MediumInfo>> {
        Box::pin(async move {
            let result = self.inner.medium().await;
            match &result {
                Ok(info) => self.board.medium_seen(info.state),
                Err(_) => self.failure(&result),
            }
            result
        })
    }

    fn burn<'a>(
        &'a self,
        image: &'a Path,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let result = self.inner.burn(image, progress, cancel).await;
            match &result {
                Ok(()) => self.board.disc_written(),
                Err(_) => self.failure(&result),
            }
            result
        })
    }

    fn read_back<'a>(
        &'a self,
        len: u64,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ReadBack>> {
        Box::pin(async move {
            let result = self.inner.read_back(len, progress, cancel).await;
            self.failure(&result);
            result
        })
    }

    fn eject(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let result = self.inner.eject().await;
            match &result {
                Ok(()) => self.board.tray_opened(),
                Err(_) => self.failure(&result),
            }
            result
        })
    }
}
