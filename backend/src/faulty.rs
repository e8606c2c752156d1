//! [`TestOnlyFaultyDrive`]: a file pseudo-drive that can pretend to be broken, for tests.
//!
//! A file cannot show an open tray, a missing disc or a write that fails half way, and a burn
//! through xorriso onto a file always verifies. Tests of how the station handles those cases
//! wrap a real [`XorrisoDrive`] in this type and inject a [`Fault`]. It is public (integration
//! tests build stations with it through [`crate::server::Station::with_drive`]) but nothing in
//! the configuration can select it, and production code has no branch for it: the faults live
//! only here, behind the [`Drive`] trait.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

use burnstand_wire::burner::{DriveKind, ErrorCode, MediumInfo, MediumState, Percent};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::burn::ReadBack;
use crate::config::DriveTarget;
use crate::drive::{BoxFuture, Drive, XorrisoDrive};
use crate::error::{Result, StationError};

/// What the drive pretends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Works like the wrapped drive.
    None,
    /// The tray is open: no disc can be burned.
    TrayOpen,
    /// No disc in the drive.
    NoMedium,
    /// The write fails at 50 %.
    WriteFailsHalfway,
    /// The burn succeeds, then one byte of the written image is flipped before the read-back,
    /// as a bad disc would return it.
    CorruptAfterWrite,
}

/// A file pseudo-drive with an injectable [`Fault`]. Test-only: see the module docs.
#[derive(Debug)]
pub struct TestOnlyFaultyDrive {
    inner: XorrisoDrive,
    fault: Mutex<Fault>,
}

impl TestOnlyFaultyDrive {
    /// Wraps `inner`, which must be a file pseudo-drive, starting with `fault`.
    pub fn new(inner: XorrisoDrive, fault: Fault) -> Self {
        TestOnlyFaultyDrive {
            inner,
            fault: Mutex::new(fault),
        }
    }

    /// Changes the fault for the next operations.
    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn absent(state: MediumState) -> MediumInfo {
        MediumInfo {
            state,
            profile: "TestOnlyFaultyDrive".into(),
            rewritable: false,
            used_bytes: 0,
            free_bytes: 0,
        }
    }
}

/// Flips the first byte of `path`.
fn flip_first_byte(path: &Path) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&[b[0] ^ 0xff])?;
    f.sync_all()
}

impl Drive for TestOnlyFaultyDrive {
    fn kind(&self) -> DriveKind {
        self.inner.kind()
    }

    fn check_usable(&self) -> Result<()> {
        self.inner.check_usable()
    }

    fn medium(&self) -> BoxFuture<'_, Result<MediumInfo>> {
        match self.fault() {
            Fault::TrayOpen => Box::pin(async { Ok(Self::absent(MediumState::TrayOpen)) }),
            Fault::NoMedium => Box::pin(async { Ok(Self::absent(MediumState::Absent)) }),
            _ => self.inner.medium(),
        }
    }

    fn burn<'a>(
        &'a self,
        image: &'a Path,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match self.fault() {
                Fault::TrayOpen | Fault::NoMedium => Err(StationError::drive(
                    ErrorCode::NoMedium,
                    "TestOnlyFaultyDrive: no disc",
                )),
                Fault::WriteFailsHalfway => {
                    progress.send_replace(Percent::new(50).unwrap_or(Percent::ZERO));
                    Err(StationError::drive(
                        ErrorCode::BurnFailed,
                        "the burn failed: TestOnlyFaultyDrive: write error at 50 %",
                    ))
                }
                Fault::CorruptAfterWrite => {
                    self.inner.burn(image, progress, cancel).await?;
                    let path = self.inner.target().path();
                    flip_first_byte(path)
                        .map_err(|e| StationError::io("TestOnlyFaultyDrive: corrupting", e))
                }
                Fault::None => self.inner.burn(image, progress, cancel).await,
            }
        })
    }

    fn read_back<'a>(
        &'a self,
        len: u64,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ReadBack>> {
        self.inner.read_back(len, progress, cancel)
    }

    fn eject(&self) -> BoxFuture<'_, Result<()>> {
        self.inner.eject()
    }
}

impl TestOnlyFaultyDrive {
    /// A faulty drive over the file pseudo-drive `file`, writing `kind` discs, with xorriso
    /// from PATH.
    pub fn over_file(file: &Path, kind: DriveKind, speed: Option<u32>, fault: Fault) -> Self {
        let inner = XorrisoDrive::new(
            kind,
            DriveTarget::File(file.to_owned()),
            speed,
            "xorriso".into(),
        );
        TestOnlyFaultyDrive::new(inner, fault)
    }
}
