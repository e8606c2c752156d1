//! The drive: one optical drive (or a file pseudo-drive) behind the [`Drive`] trait.
//!
//! [`XorrisoDrive`] is the only production implementation. It drives a real device or a
//! `stdio:` file through the same xorriso commands; the only difference is the address and, for
//! a real device, `-ban_stdio_write`, so that no argument can ever turn a production burn into
//! a write to a file. States a file cannot show (tray open, no disc, a write that fails half
//! way) are produced by [`crate::faulty::TestOnlyFaultyDrive`], a test wrapper behind the same
//! trait, never by branches here.

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use burnstand_wire::burner::{DriveKind, ErrorCode, MediumInfo, MediumState, Percent};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::burn::{read_back_md5, run_xorriso, ReadBack};
use crate::config::DriveTarget;
use crate::error::{Result, StationError};

/// A boxed future, so [`Drive`] can be used as `dyn Drive`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Longest a medium query or an eject may take before the station gives up on the drive.
pub const DRIVE_QUERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Bytes in one 2048-byte data sector (xorriso reports sizes in these).
const SECTOR: u64 = 2048;

/// One burner drive.
///
/// Every method that runs xorriso reaps it before returning, also when `cancel` fires
/// ([`StationError::Cancelled`]).
pub trait Drive: Send + Sync + fmt::Debug {
    /// What the drive writes.
    fn kind(&self) -> DriveKind;

    /// Whether the drive can be used at all (the device node exists and is a block device; the
    /// pseudo-drive's directory exists; no other process holds it, see [`crate::holder`]). A
    /// station whose drive is unusable answers ERRNOTAVL.
    fn check_usable(&self) -> Result<()>;

    /// What disc is in the drive.
    fn medium(&self) -> BoxFuture<'_, Result<MediumInfo>>;

    /// Burns `image` (an absolute path) and returns when xorriso has exited successfully,
    /// reporting progress on `progress` (at most 99 % until done).
    fn burn<'a>(
        &'a self,
        image: &'a Path,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<()>>;

    /// Reads the first `len` bytes of the disc back and returns their MD5.
    fn read_back<'a>(
        &'a self,
        len: u64,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ReadBack>>;

    /// Opens the tray.
    fn eject(&self) -> BoxFuture<'_, Result<()>>;
}

/// The production drive: every operation is a xorriso run (or, for the read-back, reading the
/// device node or file directly).
#[derive(Debug, Clone)]
pub struct XorrisoDrive {
    kind: DriveKind,
    target: DriveTarget,
    speed: Option<u32>,
    xorriso: PathBuf,
}

impl XorrisoDrive {
    /// A drive at `target` writing discs of `kind`, burning at `speed` (None: maximum) with
    /// the xorriso binary `xorriso`.
    pub fn new(kind: DriveKind, target: DriveTarget, speed: Option<u32>, xorriso: PathBuf) -> Self {
        XorrisoDrive {
            kind,
            target,
            speed,
            xorriso,
        }
    }

    /// The device or file this drive writes.
    pub fn target(&self) -> &DriveTarget {
        &self.target
    }
}

/// `-ban_stdio_write` for a real device (nobody can aim a burn at a file), or nothing for the
/// explicitly configured file pseudo-drive; then the drive's address for `-outdev`.
fn outdev_args(target: &DriveTarget) -> Vec<OsString> {
    match target {
        DriveTarget::Device(dev) => {
            vec![
                "-ban_stdio_write".into(),
                "-outdev".into(),
                dev.clone().into_os_string(),
            ]
        }
        DriveTarget::File(file) => vec!["-outdev".into(), stdio_address(file)],
    }
}

fn stdio_address(file: &Path) -> OsString {
    let mut s = OsString::from("stdio:");
    s.push(file.as_os_str());
    s
}

/// The burn command line:
/// `[-ban_stdio_write | -stdio_sync off] -as cdrecord -v [speed=N] dev=ADDRESS IMAGE`.
///
/// `-v` makes xorriso print one progress line a second on stderr. `-stdio_sync off` lets a
/// file pseudo-drive write smoothly (it would otherwise fsync every few MB).
pub fn burn_args(target: &DriveTarget, speed: Option<u32>, image: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = match target {
        DriveTarget::Device(_) => vec!["-ban_stdio_write".into()],
        DriveTarget::File(_) => vec!["-stdio_sync".into(), "off".into()],
    };
    args.extend(["-as".into(), "cdrecord".into(), "-v".into()]);
    if let Some(speed) = speed {
        args.push(format!("speed={speed}").into());
    }
    let mut dev = OsString::from("dev=");
    match target {
        DriveTarget::Device(path) => dev.push(path.as_os_str()),
        DriveTarget::File(path) => dev.push(stdio_address(path)),
    }
    args.push(dev);
    args.push(image.as_os_str().to_owned());
    args
}

/// The medium query: `… -outdev ADDRESS -tell_media_space` (prints "Media current/status/
/// summary" on stderr and "Media space" on stdout).
pub fn medium_args(target: &DriveTarget) -> Vec<OsString> {
    let mut args = outdev_args(target);
    args.push("-tell_media_space".into());
    args
}

/// The tray command: `… -outdev ADDRESS -eject all` (a no-op for a file pseudo-drive).
pub fn eject_args(target: &DriveTarget) -> Vec<OsString> {
    let mut args = outdev_args(target);
    args.extend(["-eject".into(), "all".into()]);
    args
}

/// Parses xorriso's medium report (stderr and stdout of [`medium_args`]):
///
/// ```text
/// Media current: stdio file, overwriteable
/// Media status : is written , is appendable
/// Media summary: 1 session, 1649 data blocks, 3298k data, 77.8g free
/// Media space  : 40789804s
/// ```
///
/// A report without a "Media status" line means the drive saw no disc.
pub fn parse_medium(report: &str) -> MediumInfo {
    let field = |name: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|rest| rest.trim().to_owned()))
    };
    let profile = field("Media current:").unwrap_or_default();
    let status = field("Media status :").unwrap_or_default();
    let state = if profile.is_empty()
        || profile.contains("is not present")
        || status.contains("not present")
    {
        MediumState::Absent
    } else if status.starts_with("is blank") {
        MediumState::Blank
    } else if status.starts_with("is written") {
        MediumState::Written
    } else if status.is_empty() {
        MediumState::Absent
    } else {
        MediumState::Unknown
    };
    let rewritable = ["RW", "RAM", "BD-RE", "overwriteable"]
        .iter()
        .any(|w| profile.contains(w));
    let used_blocks = field("Media summary:").and_then(|s| {
        s.split(',').find_map(|part| {
            part.trim()
                .strip_suffix(" data blocks")?
                .trim()
                .parse::<u64>()
                .ok()
        })
    });
    let free_blocks =
        field("Media space  :").and_then(|s| s.strip_suffix('s')?.trim().parse::<u64>().ok());
    MediumInfo {
        state,
        profile,
        rewritable,
        used_bytes: used_blocks.unwrap_or(0).saturating_mul(SECTOR),
        free_bytes: free_blocks.unwrap_or(0).saturating_mul(SECTOR),
    }
}

/// Why `device` (which exists) is not an optical drive: every drive is a block device, so a
/// regular file, `/dev/null` or a directory configured as `device` is a mistake — a file
/// pseudo-drive is `file` with `allow_file_drive = true`.
pub fn device_problem(device: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::metadata(device) {
        Ok(meta) => meta,
        Err(e) => return Some(format!("drive {} is not there: {e}", device.display())),
    };
    if meta.file_type().is_block_device() {
        return None;
    }
    let what = if meta.is_file() {
        "a regular file"
    } else if meta.is_dir() {
        "a directory"
    } else if meta.file_type().is_char_device() {
        "a character device"
    } else {
        "not a device"
    };
    Some(format!(
        "drive.device {} is not a block device but {what}: an optical drive is a block device \
         such as /dev/sr0; a file pseudo-drive (tests and demos only) is configured as \
         `file = \"…\"` with `allow_file_drive = true`",
        device.display()
    ))
}

/// Longest text from xorriso a user is shown (in characters; the station's log keeps it all).
pub const MAX_USER_TEXT_LEN: usize = 1024;

/// `text` with every server path removed, for users: the drive's address becomes "the drive",
/// the image's path "the image", and any other absolute path "[server path]". Then cut to
/// [`MAX_USER_TEXT_LEN`] characters.
pub fn redact(text: &str, target: &DriveTarget, image: Option<&Path>) -> String {
    let mut out = text.to_owned();
    let drive = target.path().to_string_lossy();
    // Longest first, so "stdio:/x/disc.img" does not leave a dangling "stdio:".
    out = out.replace(&format!("stdio:{drive}"), "the drive");
    out = out.replace(&*drive, "the drive");
    if let Some(image) = image {
        out = out.replace(&*image.to_string_lossy(), "the image");
    }
    let mut scrubbed = String::with_capacity(out.len());
    let mut chars = out.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        let starts_path = c == '/'
            && matches!(previous, ' ' | '\'' | '"' | '=' | ':' | '(' | '[' | '`')
            && chars.peek().is_some_and(|n| !n.is_whitespace());
        if starts_path {
            while chars
                .peek()
                .is_some_and(|n| !n.is_whitespace() && !matches!(n, '\'' | '"' | ')' | ']' | '`'))
            {
                chars.next();
            }
            scrubbed.push_str("[server path]");
            previous = ']';
            continue;
        }
        scrubbed.push(c);
        previous = c;
    }
    if scrubbed.chars().count() > MAX_USER_TEXT_LEN {
        scrubbed = scrubbed.chars().take(MAX_USER_TEXT_LEN).collect();
        scrubbed.push('…');
    }
    scrubbed
}

/// xorriso's exit status as a user-facing failure: the full text goes to the station's log,
/// the user gets it without server paths (see [`redact`]).
fn failed(
    what: &str,
    code: ErrorCode,
    out: &crate::burn::XorrisoOutput,
    target: &DriveTarget,
    image: Option<&Path>,
) -> StationError {
    let why = out.explain();
    let why = if why.is_empty() {
        format!("xorriso {}", out.status)
    } else {
        why
    };
    tracing::warn!(
        action = what,
        status = %out.status,
        xorriso = %why,
        "drive command failed: check the disc and the drive (xorriso's reason); `burnstand-station --check-config` checks drive access"
    );
    StationError::drive(
        code,
        format!("{what} failed: {}", redact(&why, target, image)),
    )
}

/// Makes sure only the station's user can read or write the file pseudo-drive: after a burn
/// it holds a copy of a (possibly restricted) image. xorriso would create it world-readable
/// (0644 under the usual umask), so before a burn (`create`) the station creates it first
/// (0600); an existing one is tightened before every xorriso run. Medium queries and the tray
/// never create it (xorriso does not either).
fn private_file_drive(target: &DriveTarget, create: bool) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let DriveTarget::File(file) = target else {
        return Ok(());
    };
    if !create && !file.exists() {
        return Ok(());
    }
    let fail = |e: std::io::Error| {
        tracing::error!(file = %file.display(), error = %e, "cannot prepare the file drive");
        StationError::drive(
            ErrorCode::DriveFailed,
            "the station cannot prepare its drive; tell the lab staff",
        )
    };
    let handle = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(file)
        .map_err(fail)?;
    let mode = handle.metadata().map_err(fail)?.permissions().mode();
    if mode & 0o077 != 0 {
        handle
            .set_permissions(std::fs::Permissions::from_mode(mode & 0o700))
            .map_err(fail)?;
    }
    Ok(())
}

impl Drive for XorrisoDrive {
    fn kind(&self) -> DriveKind {
        self.kind
    }

    fn check_usable(&self) -> Result<()> {
        let unusable = |what: String| Err(StationError::drive(ErrorCode::Unavailable, what));
        match &self.target {
            DriveTarget::Device(dev) => match std::fs::metadata(dev) {
                Ok(_) => {
                    if let Some(problem) = device_problem(dev) {
                        return unusable(problem);
                    }
                }
                Err(e) => return unusable(format!("drive {} is not there: {e}", dev.display())),
            },
            DriveTarget::File(file) => match file.parent().map(std::fs::metadata) {
                Some(Ok(m)) if m.is_dir() => {}
                _ => {
                    return unusable(format!(
                        "the directory of the file drive {} is missing",
                        file.display()
                    ))
                }
            },
        }
        // Another process with the drive open (the station's own xorriso does not count).
        let path = self.target.path();
        match crate::holder::describe(path, &crate::holder::holders(path)) {
            Some(held) => unusable(held),
            None => Ok(()),
        }
    }

    fn medium(&self) -> BoxFuture<'_, Result<MediumInfo>> {
        Box::pin(async move {
            private_file_drive(&self.target, false)?;
            let cancel = CancellationToken::new();
            let args = medium_args(&self.target);
            let out = run_xorriso(
                &self.xorriso,
                &args,
                None,
                &cancel,
                Some(DRIVE_QUERY_TIMEOUT),
            )
            .await?;
            if !out.status.success() {
                let why = out.explain();
                // libburn reports "no media"/"not present" as a failure on some drives.
                if why.contains("no media") || why.contains("not present") {
                    return Ok(parse_medium(""));
                }
                return Err(failed(
                    "asking the drive about its disc",
                    ErrorCode::DriveFailed,
                    &out,
                    &self.target,
                    None,
                ));
            }
            // The drive and medium lines go to stderr, "Media space" to stdout.
            Ok(parse_medium(&format!(
                "{}\n{}",
                out.stderr_head, out.stdout
            )))
        })
    }

    fn burn<'a>(
        &'a self,
        image: &'a Path,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            private_file_drive(&self.target, true)?;
            let args = burn_args(&self.target, self.speed, image);
            let out = run_xorriso(&self.xorriso, &args, Some(progress), cancel, None).await?;
            if !out.status.success() {
                return Err(failed(
                    "the burn",
                    ErrorCode::BurnFailed,
                    &out,
                    &self.target,
                    Some(image),
                ));
            }
            Ok(())
        })
    }

    fn read_back<'a>(
        &'a self,
        len: u64,
        progress: &'a watch::Sender<Percent>,
        cancel: &'a CancellationToken,
    ) -> BoxFuture<'a, Result<ReadBack>> {
        Box::pin(read_back_md5(
            self.target.path().to_owned(),
            len,
            progress,
            cancel,
        ))
    }

    fn eject(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            private_file_drive(&self.target, false)?;
            let cancel = CancellationToken::new();
            let args = eject_args(&self.target);
            let out = run_xorriso(
                &self.xorriso,
                &args,
                None,
                &cancel,
                Some(DRIVE_QUERY_TIMEOUT),
            )
            .await?;
            if !out.status.success() {
                return Err(failed(
                    "opening the tray",
                    ErrorCode::DriveFailed,
                    &out,
                    &self.target,
                    None,
                ));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
