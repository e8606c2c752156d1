//! The checks of this machine: the drive, xorriso, free disk, the audit log and the catalog.

use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::fs::{access, Access};

use super::{probe, Report};
use crate::config::{Config, DriveTarget};
use crate::drive::{Drive, XorrisoDrive};
use crate::preflight;

/// The oldest xorriso the station is known to work with: the release its commands
/// (`-as cdrecord`, `-ban_stdio_write`, `-check_md5`, `-tell_media_space`) and its progress
/// and medium parsing were written and tested against (Debian 12's 1.5.4).
pub const MIN_XORRISO: (u32, u32, u32) = (1, 5, 4);

/// The drive: present (and not held by another process), readable and writable by this user.
pub(super) fn drive(config: &Config, out: &mut Report) {
    let (kind, target) = match (config.drive_kind(), config.target()) {
        (Ok(kind), Ok(target)) => (kind, target),
        (Err(problem), _) | (_, Err(problem)) => return out.fail("drive", problem),
    };
    let what = match &target {
        DriveTarget::Device(dev) => format!("drive {}", dev.display()),
        DriveTarget::File(file) => format!("file drive stdio:{}", file.display()),
    };
    let drive = XorrisoDrive::new(kind, target.clone(), config.drive.speed, config.xorriso());
    if let Err(e) = drive.check_usable() {
        let path = target.path();
        if crate::holder::describe(path, &crate::holder::holders(path)).is_some() {
            return out.warn(
                "drive",
                format!("{e}; if that is this station burning, nothing to do, else stop it"),
            );
        }
        let fix = match &target {
            DriveTarget::Device(_) => "connect the drive, or correct `drive.device`",
            DriveTarget::File(_) => "create the directory, or correct `drive.file`",
        };
        return out.fail("drive", format!("{e}; {fix}"));
    }
    // What the station opens: the device or file, or for a file drive not made yet, its
    // directory (where xorriso creates it).
    let (rw_path, needs) = match &target {
        DriveTarget::File(file) if !file.exists() => (
            file.parent()
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
            Access::WRITE_OK | Access::EXEC_OK,
        ),
        _ => (target.path().to_owned(), Access::READ_OK | Access::WRITE_OK),
    };
    if access(&rw_path, needs).is_err() {
        let fix = match &target {
            DriveTarget::Device(_) => "add the station's user to the device's group (cdrom)",
            DriveTarget::File(_) => "give the station's user the file and its directory",
        };
        return out.fail(
            "drive",
            format!(
                "{what}: {} is not readable and writable by this user; {fix}",
                rw_path.display()
            ),
        );
    }
    out.ok(
        "drive",
        format!("{what} ({kind}) is there, readable and writable by this user"),
    );
}

/// xorriso and setpriv can be run, and xorriso is new enough.
pub(super) fn xorriso(config: &Config, out: &mut Report) {
    let missing = preflight::missing_programs(config);
    if !missing.is_empty() {
        for problem in missing {
            out.fail("xorriso", problem);
        }
        return;
    }
    let program = config.xorriso();
    let version = probe(
        Command::new(&program)
            .arg("-version")
            .env("PATH", crate::burn::CHILD_PATH),
    )
    .map_err(|e| format!("`{} -version` failed: {e}", program.display()))
    .and_then(|output| {
        let text = String::from_utf8_lossy(&output.stdout);
        parse_xorriso_version(&text).ok_or_else(|| {
            format!(
                "`{} -version` printed no version (first line: {:?})",
                program.display(),
                text.lines().next().unwrap_or("")
            )
        })
    });
    let (major, minor, micro) = MIN_XORRISO;
    match version {
        Ok(found) if found >= MIN_XORRISO => out.ok(
            "xorriso",
            format!(
                "{} {}.{}.{} (needs {major}.{minor}.{micro} or newer)",
                program.display(),
                found.0,
                found.1,
                found.2
            ),
        ),
        Ok(found) => out.fail(
            "xorriso",
            format!(
                "{} is {}.{}.{}, older than {major}.{minor}.{micro}, which the station needs; \
                 install a newer xorriso",
                program.display(),
                found.0,
                found.1,
                found.2
            ),
        ),
        Err(e) => out.fail("xorriso", format!("{e}; install xorriso")),
    }
}

/// The version after the word `xorriso` on the first line that has one: `xorriso 1.5.4`
/// (Debian's build), `GNU xorriso 1.5.6 : …` (GNU's) → (1, 5, 4), (1, 5, 6).
pub fn parse_xorriso_version(text: &str) -> Option<(u32, u32, u32)> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        words.find(|w| *w == "xorriso")?;
        let mut parts = words.next()?.split('.').map(str::parse::<u32>);
        let major = parts.next()?.ok()?;
        let minor = parts.next()?.ok()?;
        let micro = parts.next().unwrap_or(Ok(0)).ok()?;
        Some((major, minor, micro))
    })
}

/// Free space for the audit log (the daemon refuses new sessions below `min_free_bytes`) and
/// for pushes into the catalog.
pub(super) fn disk(config: &Config, out: &mut Report) {
    let audit_dir = config
        .audit_log
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_owned);
    let existing = |dir: &Path| dir.ancestors().find(|p| p.exists()).map(Path::to_owned);
    let free = |dir: &Path| existing(dir).map(|d| burnstand_audit::space::free_bytes(&d));
    match free(&audit_dir) {
        Some(Ok(bytes)) if config.min_free_bytes > 0 && bytes < config.min_free_bytes => out.fail(
            "disk",
            format!(
                "the audit log's filesystem ({}) has {} free, below min_free_bytes {}: new \
                 sessions are refused; free space or move the audit log",
                audit_dir.display(),
                mib(bytes),
                mib(config.min_free_bytes)
            ),
        ),
        Some(Ok(bytes)) => out.ok(
            "disk",
            format!(
                "{} free for the audit log ({})",
                mib(bytes),
                audit_dir.display()
            ),
        ),
        Some(Err(e)) => out.fail(
            "disk",
            format!("cannot measure free space at {}: {e}", audit_dir.display()),
        ),
        None => out.fail(
            "disk",
            format!("no existing directory above {}", audit_dir.display()),
        ),
    }
    match free(&config.catalog) {
        Some(Ok(bytes)) if config.push.allow && bytes < config.push.max_image_size => out.warn(
            "disk",
            format!(
                "the catalog's filesystem ({}) has {} free, less than the largest push \
                 ([push] max_image_size, {}): such a push would fail; free space or lower it",
                config.catalog.display(),
                mib(bytes),
                mib(config.push.max_image_size)
            ),
        ),
        Some(Ok(bytes)) => out.ok(
            "disk",
            format!(
                "{} free for the catalog ({})",
                mib(bytes),
                config.catalog.display()
            ),
        ),
        Some(Err(e)) => out.fail(
            "disk",
            format!(
                "cannot measure free space at {}: {e}",
                config.catalog.display()
            ),
        ),
        None => out.fail(
            "disk",
            format!("no existing directory above {}", config.catalog.display()),
        ),
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// The audit log: the rules `--check-config` applies, then its whole chain across every
/// rotated segment, and its head (against the exported one where `head_export` is set).
pub(super) fn audit(config: &Config, out: &mut Report) {
    let path = &config.audit_log;
    let mut notes = Vec::new();
    if let Some(problem) = preflight::audit_log_check(path, &mut notes) {
        return out.fail("audit", problem);
    }
    for note in notes {
        out.warn("audit", note);
    }
    if !path.exists() {
        return out.ok(
            "audit",
            format!(
                "{} does not exist yet; the station makes it at first start",
                path.display()
            ),
        );
    }
    // The exported head, where one is configured and already written: the newest records
    // were neither edited nor removed since.
    let exported = config.audit.head_export.as_deref().filter(|f| f.exists());
    let head = match exported.map(burnstand_audit::Head::read).transpose() {
        Ok(head) => head,
        Err(e) => {
            return out.fail(
                "audit",
                format!("{e}; the head export file must be readable by the station's user"),
            )
        }
    };
    match burnstand_audit::verify_log(path, head.as_ref()) {
        Ok(report) if report.is_ok() => {
            let against = if head.is_some() {
                "; it matches the exported head"
            } else {
                " (compare it with the head exported elsewhere)"
            };
            out.ok(
                "audit",
                format!(
                    "{}: {} records in {} file(s), chain intact end to end, head {}:{}{against}",
                    path.display(),
                    report.records,
                    report.files.len(),
                    report.last_seq,
                    report.last_hash
                ),
            )
        }
        Ok(report) => out.fail(
            "audit",
            format!(
                "{}: {report}; keep a copy of the files and investigate (`burnstand audit verify \
                 {}`); a torn last line alone is cut at start",
                path.display(),
                path.display()
            ),
        ),
        Err(e) => out.fail("audit", format!("{e}; give the station's user read access")),
    }
}

/// The catalog and the state directory, as `--check-config` checks them.
pub(super) fn catalog(config: &Config, out: &mut Report) {
    if let Some(problem) = preflight::directory_problem("`state_dir`", &config.state_dir) {
        out.fail("catalog", problem);
    }
    match crate::catalog::inspect(&config.catalog, &config.state_dir) {
        Ok(images) => out.ok(
            "catalog",
            format!("{} image(s) in {}", images.len(), config.catalog.display()),
        ),
        Err(e) => out.fail("catalog", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorriso_versions_are_read_from_the_banner() {
        let banner = "xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project.\n";
        assert_eq!(parse_xorriso_version(banner), Some((1, 5, 4)));
        assert_eq!(parse_xorriso_version("xorriso 1.4 : x"), Some((1, 4, 0)));
        assert_eq!(
            parse_xorriso_version("GNU xorriso 1.5.6 : x"),
            Some((1, 5, 6))
        );
        assert_eq!(parse_xorriso_version("xorriso : no version"), None);
        assert_eq!(parse_xorriso_version(""), None);
        assert!((1, 5, 2) < MIN_XORRISO && (1, 5, 6) > MIN_XORRISO);
    }
}
