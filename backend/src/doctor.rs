//! `burnstand-station --config FILE doctor`: the operator's checks of this machine for the
//! station, each printed as `OK`, `WARN` or `FAIL` with what to fix; exit code 1 on a FAIL.
//!
//! The configuration rules are [`crate::preflight`]'s (the same functions `--check-config`
//! runs, called one by one so each area gets its own line); the doctor adds what a
//! configuration check cannot see: the station's key at the KDC and the clock against the
//! KDC's, the trusted masters known to the KDC, the drive's permissions for this user, the
//! xorriso version, free disk and the audit log's chain head.
//!
//! **Clock skew** is measured with a real initial-credentials request: `kinit -k` with the
//! station's keytab into a private temporary cache, whose header then carries MIT's own
//! measurement of `KDC time − local time` ([`burnstand_wire::gss::ccache`]). The same ticket
//! asks the KDC for a service ticket of each trusted master (`kvno`), which proves the master's
//! principal exists. Nothing is written outside that temporary directory, which is removed.
//!
//! Like `--check-config` it changes nothing the station owns, so it can run beside a running
//! station (a drive held by the running station shows as a warning).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use burnstand_wire::gss::ccache::{kdc_clock_of_file, KdcClock};
use rustix::fs::{access, Access};

use crate::config::{Config, DriveTarget};
use crate::drive::{Drive, XorrisoDrive};
use crate::preflight;

/// The oldest xorriso the station is known to work with: the release its commands
/// (`-as cdrecord`, `-ban_stdio_write`, `-check_md5`, `-tell_media_space`) and its progress
/// and medium parsing were written and tested against (Debian 12's 1.5.4).
pub const MIN_XORRISO: (u32, u32, u32) = (1, 5, 4);
/// Skew from which the doctor warns: clocks that far apart drift further; an NTP client
/// (chrony, systemd-timesyncd) keeps them within a second.
pub const SKEW_WARN: Duration = Duration::from_secs(10);
/// Skew from which the doctor fails: half of MIT's default `clockskew` (300 s), beyond which
/// every authentication to this station is refused.
pub const SKEW_FAIL: Duration = Duration::from_secs(150);
/// How long one `kinit`, `kvno` or `xorriso -version` may take (an unreachable KDC is retried
/// by MIT for a while; a hang must not hang the doctor).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a running probe is polled for its end.
const PROBE_POLL: Duration = Duration::from_millis(20);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not run: an earlier check it depends on failed.
    Skip,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so the report's `{:<4}` lines the words up.
        f.pad(match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Finding {
    pub status: Status,
    /// What was checked: `config`, `keytab`, `principal`, `masters`, `clock`, `drive`,
    /// `xorriso`, `disk`, `audit`, `catalog`.
    pub check: &'static str,
    /// What was found, and for WARN and FAIL what to do about it.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A message of several lines (a TOML error with its caret) keeps them, indented
        // under the first.
        let message = self
            .message
            .trim_end()
            .replace('\n', &format!("\n{:17}", ""));
        write!(f, "{:<4}  {:<9}  {message}", self.status, self.check)
    }
}

/// Runs every check and prints the report; the process's exit code.
///
/// Sets KRB5_CONFIG from the configuration as `main` does: call it while the process is
/// single-threaded.
pub fn run(config_path: &Path) -> ExitCode {
    let findings = examine(config_path);
    for finding in &findings {
        println!("{finding}");
    }
    let count = |s| findings.iter().filter(|f| f.status == s).count();
    let (failed, warned) = (count(Status::Fail), count(Status::Warn));
    println!("doctor: {failed} failed, {warned} warning(s)");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Every check, in order; stops after the configuration if it cannot be read.
pub fn examine(config_path: &Path) -> Vec<Finding> {
    let mut out = Report::default();
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => {
            out.fail(
                "config",
                format!("{e}; fix it (docs/station.md lists every key)"),
            );
            return out.0;
        }
    };
    out.ok(
        "config",
        format!(
            "{} parsed: station {} ({}) as {}",
            config_path.display(),
            crate::station_id::peek(&config).unwrap_or_else(|| "id made at first start".to_owned()),
            config.friendly_name,
            config.principal
        ),
    );
    if let Some(krb5_config) = &config.krb5_config {
        std::env::set_var("KRB5_CONFIG", krb5_config);
    }
    burnstand_wire::gss::use_service_keytab(&config.keytab);

    let key_usable = keytab(&config, &mut out);
    masters_configured(&config, &mut out);
    if key_usable {
        kdc_probe(&config, &mut out);
    } else {
        out.skip("clock", "needs the station's key (see keytab above)");
    }
    drive(&config, &mut out);
    xorriso(&config, &mut out);
    disk(&config, &mut out);
    audit(&config, &mut out);
    catalog(&config, &mut out);
    out.0
}

/// The findings so far.
#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn push(&mut self, status: Status, check: &'static str, message: impl Into<String>) {
        self.0.push(Finding {
            status,
            check,
            message: message.into(),
        });
    }
    fn ok(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(Status::Ok, check, message);
    }
    fn warn(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(Status::Warn, check, message);
    }
    fn fail(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(Status::Fail, check, message);
    }
    fn skip(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(Status::Skip, check, message);
    }
}

/// The keytab's permissions and the station's key in it. True when the key can be used.
fn keytab(config: &Config, out: &mut Report) -> bool {
    match burnstand_wire::gss::keytab_problem(&config.keytab, &config.principal) {
        Some(problem) => out.fail("keytab", problem),
        None => out.ok(
            "keytab",
            format!("{} is readable by its owner only", config.keytab.display()),
        ),
    }
    match burnstand_wire::gss::acceptor_credentials(&config.principal) {
        Ok(_) => {
            out.ok(
                "principal",
                format!(
                    "{} has a key for {}",
                    config.keytab.display(),
                    config.principal
                ),
            );
            true
        }
        Err(e) => {
            out.fail(
                "principal",
                format!(
                    "{} has no usable key for {}: {e}; export it with `kadmin -q \"ktadd \
                     -norandkey -k {} {}\"`, or correct `principal`",
                    config.keytab.display(),
                    config.principal,
                    config.keytab.display(),
                    config.principal
                ),
            );
            false
        }
    }
}

/// The trusted masters: service principals of known realms (the start-up rule).
fn masters_configured(config: &Config, out: &mut Report) {
    let problems = match preflight::policy_realms(config) {
        Ok(realms) => preflight::trusted_master_problems(config, &realms, &config.policy),
        Err(problem) => vec![problem],
    };
    if problems.is_empty() {
        out.ok(
            "masters",
            format!("trusted: {}", config.trusted_masters.join(", ")),
        );
    }
    for problem in problems {
        out.fail("masters", problem);
    }
}

/// `kinit -k` with the station's keytab into a private cache: the key is current at the KDC,
/// the clock offset MIT measured, and each trusted master known to the KDC (`kvno`).
fn kdc_probe(config: &Config, out: &mut Report) {
    let dir = match PrivateDir::create() {
        Ok(dir) => dir,
        Err(e) => {
            out.fail(
                "clock",
                format!(
                    "cannot make a temporary directory for the probe ticket: {e}; check TMPDIR"
                ),
            );
            return;
        }
    };
    let cache = dir.0.join("ccache");
    let cache_name = format!("FILE:{}", cache.display());
    let kinit = probe(
        Command::new("kinit")
            .arg("-k")
            .arg("-t")
            .arg(&config.keytab)
            .arg("-c")
            .arg(&cache_name)
            .arg(&config.principal),
    );
    if let Err(e) = kinit {
        out.fail(
            "clock",
            format!(
                "cannot get a ticket with the station's key (`kinit -k -t {} {}`): {e}; is the \
                 KDC reachable (krb5.conf), and is the keytab's key current (re-export it with \
                 ktadd -norandkey after a key change)?",
                config.keytab.display(),
                config.principal
            ),
        );
        out.skip(
            "masters",
            "the KDC check of the trusted masters needs a ticket",
        );
        return;
    }
    clock(&cache, out);
    for master in &config.trusted_masters {
        match probe(Command::new("kvno").arg("-c").arg(&cache_name).arg(master)) {
            Ok(_) => out.ok("masters", format!("the KDC knows {master}")),
            Err(e) => out.fail(
                "masters",
                format!(
                    "the KDC gives no ticket for trusted master {master}: {e}; create the \
                     master's principal, or correct `trusted_masters`"
                ),
            ),
        }
    }
}

/// The KDC time offset recorded in the probe's cache.
fn clock(cache: &Path, out: &mut Report) {
    let (status, message) = match kdc_clock_of_file(cache) {
        Ok(KdcClock::Offset { micros }) => judge_skew(micros),
        Ok(KdcClock::NotRecorded) => (
            Status::Warn,
            "not measured: krb5.conf has kdc_timesync = 0; compare the clock with the KDC's by \
             hand"
                .to_owned(),
        ),
        Ok(KdcClock::Unknown) => (
            Status::Warn,
            "not measured: kinit wrote a cache without a version-4 header".to_owned(),
        ),
        Err(e) => (
            Status::Warn,
            format!("not measured: cannot read the probe's cache: {e}"),
        ),
    };
    out.push(status, "clock", message);
}

/// What a KDC time offset (`KDC − local`, microseconds) means for the station.
pub fn judge_skew(micros: i64) -> (Status, String) {
    let skew = Duration::from_micros(micros.unsigned_abs());
    let said = format!(
        "this clock is {} s {} the KDC's",
        skew.as_secs(),
        if micros > 0 { "behind" } else { "ahead of" }
    );
    if skew >= SKEW_FAIL {
        (
            Status::Fail,
            format!(
                "{said}: Kerberos refuses authenticators beyond 300 s; set the clock and run an \
                 NTP client (chrony)"
            ),
        )
    } else if skew >= SKEW_WARN {
        (
            Status::Warn,
            format!("{said}; run an NTP client (chrony, systemd-timesyncd)"),
        )
    } else {
        (
            Status::Ok,
            format!("within {} s of the KDC's", SKEW_WARN.as_secs()),
        )
    }
}

/// The drive: present (and not held by another process), readable and writable by this user.
fn drive(config: &Config, out: &mut Report) {
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
fn xorriso(config: &Config, out: &mut Report) {
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
fn disk(config: &Config, out: &mut Report) {
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

/// The audit log: the rules `--check-config` applies, then its whole chain and its head.
fn audit(config: &Config, out: &mut Report) {
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
    match burnstand_audit::verify(path) {
        Ok(report) if report.is_ok() => out.ok(
            "audit",
            format!(
                "{}: {} records, chain intact, head {}:{} (compare it with the head exported \
                 elsewhere)",
                path.display(),
                report.records,
                report.last_seq,
                report.last_hash
            ),
        ),
        Ok(report) => out.fail(
            "audit",
            format!(
                "{}: {report}; keep a copy of the file and investigate (`burnstand audit verify \
                 {}`); \
                 a torn last line alone is cut at start",
                path.display(),
                path.display()
            ),
        ),
        Err(e) => out.fail("audit", format!("{e}; give the station's user read access")),
    }
}

/// The catalog and the state directory, as `--check-config` checks them.
fn catalog(config: &Config, out: &mut Report) {
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

/// Runs a short external program (`kinit`, `kvno`, `xorriso -version`) with C-locale messages,
/// at most [`PROBE_TIMEOUT`]; its output, or its own words on failure.
fn probe(command: &mut Command) -> Result<Output, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(PROBE_POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program} did not finish within {PROBE_TIMEOUT:?}"));
            }
            Err(e) => return Err(format!("waiting for {program}: {e}")),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("reading {program}'s output: {e}"))?;
    if output.status.success() {
        Ok(output)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(stderr.trim().lines().last().unwrap_or("failed").to_owned())
    }
}

/// A directory only this user can enter, removed on drop: the probe ticket's cache.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn create() -> std::io::Result<PrivateDir> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("burnstand-doctor-{}", uuid::Uuid::new_v4()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(PrivateDir(path))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
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

    #[test]
    fn skew_is_judged_against_mits_tolerance() {
        assert_eq!(judge_skew(0).0, Status::Ok);
        assert_eq!(judge_skew(-9_999_999).0, Status::Ok);
        let (status, text) = judge_skew(-30_000_000);
        assert_eq!(status, Status::Warn);
        assert!(text.contains("30 s ahead of the KDC's"), "{text}");
        let (status, text) = judge_skew(150_000_000);
        assert_eq!(status, Status::Fail);
        assert!(text.contains("150 s behind the KDC's"), "{text}");
    }
}
