//! `burnstand doctor`: checks what burnstand needs on this computer, one line per check with
//! OK, WARN or FAIL and what to fix; exit code 28 (`doctor_failed`) when a check failed.
//!
//! The checks, in order (a check that needs an earlier one is skipped when that one failed):
//!
//! - `config`: the configuration file (explicit, or the default one if present) parses, and
//!   which master it names;
//! - `krb5.conf`: the Kerberos configuration exists (KRB5_CONFIG or /etc/krb5.conf) and MIT
//!   krb5 can parse it (`klist` initialises the library with it);
//! - `ticket`: a ticket in the credential cache, whose, and how long it is still valid;
//! - `clock`: the offset between this clock and the KDC's that MIT recorded in a FILE
//!   credential cache when the ticket was obtained ([`burnstand_wire::gss::ccache`]). MIT's
//!   client corrects its own authenticators by it, so a skew is a warning here, never a
//!   failure: it breaks other programs and every cache made without the correction;
//! - `principal`: the KDC issues a ticket for the master's service principal (`kvno`);
//! - `master`: the master answers at its address, authenticates as that principal (mutual
//!   authentication), and greets as a burnstand master.

use std::path::{Path, PathBuf};
use std::time::Duration;

use burnstand_wire::gss::ccache::{file_of_ccache_name, kdc_clock_of_file, KdcClock};
use serde::Serialize;

use crate::config::{default_path, read_file, Overrides, Settings};
use crate::master::MasterConnection;
use crate::output::{Output, Report};
use crate::ticket::{utc, Ticket};
use crate::ClientError;

/// The krb5.conf MIT reads when KRB5_CONFIG is not set.
pub const SYSTEM_KRB5_CONF: &str = "/etc/krb5.conf";
/// Skew from which the doctor warns (see the module documentation for why never more).
pub const SKEW_WARN: Duration = Duration::from_secs(10);
/// A ticket valid for less than this gets a warning: a long burn may outlast it.
pub const SHORT_TICKET: Duration = Duration::from_secs(3600);
/// How long `klist` or `kvno` may take (MIT retries an unreachable KDC for a while).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
    /// Not run: an earlier check it needs failed.
    Skip,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One check's line.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub status: Status,
    /// What was found, and for WARN and FAIL what to do.
    pub message: String,
}

/// `burnstand doctor`'s report.
#[derive(Debug, Default, Serialize)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
    pub failed: usize,
    pub warnings: usize,
}

impl Report for DoctorReport {
    fn human(&self) -> String {
        let mut lines: Vec<String> = self
            .checks
            .iter()
            .map(|c| {
                // A message of several lines (a TOML error with its caret) keeps them,
                // indented under the first.
                let message = c.message.trim_end().replace('\n', &format!("\n{:17}", ""));
                format!("{:<4}  {:<9}  {message}", c.status.word(), c.check)
            })
            .collect();
        lines.push(format!(
            "doctor: {} failed, {} warning(s)",
            self.failed, self.warnings
        ));
        lines.join("\n")
    }
}

impl DoctorReport {
    fn push(&mut self, check: &'static str, status: Status, message: impl Into<String>) {
        match status {
            Status::Fail => self.failed += 1,
            Status::Warn => self.warnings += 1,
            Status::Ok | Status::Skip => {}
        }
        self.checks.push(Check {
            check,
            status,
            message: message.into(),
        });
    }
}

/// Runs every check, prints the report, and fails with [`ClientError::DoctorFailed`] when a
/// check failed.
pub async fn doctor(overrides: Overrides, out: &Output) -> Result<(), ClientError> {
    let report = examine(overrides).await;
    out.report(&report);
    match report.failed {
        0 => Ok(()),
        failed => Err(ClientError::DoctorFailed { failed }),
    }
}

/// Every check, in order.
pub async fn examine(overrides: Overrides) -> DoctorReport {
    let mut report = DoctorReport::default();
    let config_file = overrides
        .config_path
        .clone()
        .or_else(|| default_path().filter(|p| p.is_file()));
    // The file is read even when flags or the environment name both settings (then
    // `Settings::resolve` skips it): a broken file would bite the next command without them.
    let file_error = config_file.as_deref().and_then(|p| read_file(p).err());
    let settings = Settings::resolve(overrides);
    match (&file_error, &settings) {
        (None, Ok(settings)) => {
            let source = config_file.map_or_else(
                || "no configuration file, ".to_owned(),
                |p| format!("{}, ", p.display()),
            );
            report.push(
                "config",
                Status::Ok,
                format!(
                    "{source}master {} as {}",
                    settings.master, settings.master_principal
                ),
            );
        }
        (Some(e), _) | (None, Err(e)) => {
            report.push("config", Status::Fail, format!("{e}; fix or remove it"));
        }
    }
    let settings = settings.ok();

    let cache_name = krb5_conf(&mut report).await;
    let ticket = ticket(&mut report);
    if ticket.is_some() {
        clock(cache_name.as_deref(), &mut report);
    } else {
        report.push("clock", Status::Skip, "needs a ticket");
    }
    match (&settings, &ticket) {
        (Some(settings), Some(ticket)) => {
            master_principal(settings, &mut report).await;
            master(settings, ticket, &mut report).await;
        }
        _ => {
            let why = if settings.is_none() {
                "needs the configuration"
            } else {
                "needs a ticket"
            };
            report.push("principal", Status::Skip, why);
            report.push("master", Status::Skip, why);
        }
    }
    report
}

/// The krb5.conf files MIT reads: KRB5_CONFIG (colon-separated) or the system one.
fn krb5_conf_paths() -> Vec<PathBuf> {
    match std::env::var_os("KRB5_CONFIG") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list).collect(),
        _ => vec![PathBuf::from(SYSTEM_KRB5_CONF)],
    }
}

/// krb5.conf exists and MIT parses it; the name of the default credential cache (from
/// `klist`'s first line), if it says.
async fn krb5_conf(report: &mut DoctorReport) -> Option<String> {
    let paths = krb5_conf_paths();
    let found: Vec<&PathBuf> = paths.iter().filter(|p| p.is_file()).collect();
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    if found.is_empty() {
        report.push(
            "krb5.conf",
            Status::Fail,
            format!(
                "no Kerberos configuration at {shown}: install the campus krb5.conf (ask the lab \
                 staff; Debian: apt-get install krb5-user), or point KRB5_CONFIG at it"
            ),
        );
        return None;
    }
    let klist = match run("klist", &[]).await {
        Ok(output) => output,
        Err(e) => {
            report.push(
                "krb5.conf",
                Status::Fail,
                format!(
                    "{e}; install the Kerberos client tools (Debian: apt-get install krb5-user)"
                ),
            );
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&klist.stderr);
    if !klist.status.success() && stderr.contains("while initializing krb5") {
        report.push(
            "krb5.conf",
            Status::Fail,
            format!(
                "MIT krb5 cannot use {shown}: {}; correct the file",
                stderr.trim()
            ),
        );
        return None;
    }
    let realm = found.iter().find_map(|p| default_realm(p));
    match realm {
        Some(realm) => report.push(
            "krb5.conf",
            Status::Ok,
            format!("{shown} parses; default realm {realm}"),
        ),
        None => report.push(
            "krb5.conf",
            Status::Warn,
            format!(
                "{shown} parses but names no default_realm: write principals with @REALM, or \
                 add default_realm to [libdefaults]"
            ),
        ),
    }
    String::from_utf8_lossy(&klist.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Ticket cache: "))
        .map(str::to_owned)
}

/// The `default_realm = X` of a krb5.conf, if it has one (a plain text look-up: MIT's
/// parser has already accepted the file).
fn default_realm(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "default_realm").then(|| value.trim().to_owned())
    })
}

/// The ticket, whose, and how long it is valid.
fn ticket(report: &mut DoctorReport) -> Option<Ticket> {
    match Ticket::current() {
        Ok(ticket) => {
            let left = ticket
                .expires()
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            let said = format!(
                "{} until {} ({} left)",
                ticket.principal(),
                utc(ticket.expires()),
                humantime::format_duration(Duration::from_secs(left.as_secs()))
            );
            if left < SHORT_TICKET {
                report.push(
                    "ticket",
                    Status::Warn,
                    format!("{said}: a long burn may outlast it; renew it with `burnstand login`"),
                );
            } else {
                report.push("ticket", Status::Ok, said);
            }
            Some(ticket)
        }
        Err(e) => {
            report.push("ticket", Status::Fail, e.to_string());
            None
        }
    }
}

/// The KDC time offset MIT recorded in the credential cache.
fn clock(cache_name: Option<&str>, report: &mut DoctorReport) {
    let from_env = std::env::var("KRB5CCNAME").ok().filter(|v| !v.is_empty());
    let Some(name) = from_env.as_deref().or(cache_name) else {
        return report.push(
            "clock",
            Status::Warn,
            "not measured: klist names no credential cache",
        );
    };
    let Some(file) = file_of_ccache_name(name) else {
        return report.push(
            "clock",
            Status::Warn,
            format!(
                "not measured: {name} is not a FILE cache; compare the clock with the KDC's by \
                 hand"
            ),
        );
    };
    match kdc_clock_of_file(file) {
        Ok(KdcClock::Offset { micros }) => {
            let skew = Duration::from_micros(micros.unsigned_abs());
            if skew >= SKEW_WARN {
                report.push(
                    "clock",
                    Status::Warn,
                    format!(
                        "this clock is {} s {} the KDC's (burnstand corrects for it with this \
                         ticket, other programs may not); run an NTP client (chrony, \
                         systemd-timesyncd)",
                        skew.as_secs(),
                        if micros > 0 { "behind" } else { "ahead of" }
                    ),
                );
            } else {
                report.push(
                    "clock",
                    Status::Ok,
                    format!("within {} s of the KDC's", SKEW_WARN.as_secs()),
                );
            }
        }
        Ok(KdcClock::NotRecorded) => report.push(
            "clock",
            Status::Warn,
            "not measured: the ticket was obtained with kdc_timesync = 0",
        ),
        Ok(KdcClock::Unknown) => report.push(
            "clock",
            Status::Warn,
            format!("not measured: {} has no version-4 header", file.display()),
        ),
        Err(e) => report.push(
            "clock",
            Status::Warn,
            format!("not measured: cannot read {}: {e}", file.display()),
        ),
    }
}

/// The KDC gives a ticket for the master's principal.
async fn master_principal(settings: &Settings, report: &mut DoctorReport) {
    let principal = settings.master_principal.as_str();
    match run("kvno", &[principal]).await.and_then(|output| {
        if output.status.success() {
            Ok(())
        } else {
            Err(last_words(&output))
        }
    }) {
        Ok(()) => report.push(
            "principal",
            Status::Ok,
            format!("the KDC knows {principal}"),
        ),
        Err(e) => report.push(
            "principal",
            Status::Fail,
            format!(
                "no ticket for the master's principal {principal}: {e}; check --master-principal, \
                 BURNSTAND_MASTER_PRINCIPAL or master_principal in the configuration file"
            ),
        ),
    }
}

/// The master answers, authenticates and greets.
async fn master(settings: &Settings, ticket: &Ticket, report: &mut DoctorReport) {
    match MasterConnection::connect(settings, ticket).await {
        Ok(connection) => {
            let said = format!(
                "{} answered and authenticated as {}",
                settings.master,
                connection.master()
            );
            // A polite end; the master releases nothing (nothing was reserved) either way.
            let _ = connection.quit().await;
            report.push("master", Status::Ok, said);
        }
        Err(e) => report.push("master", Status::Fail, e.to_string()),
    }
}

/// Runs `program args` (with C-locale messages) for at most [`PROBE_TIMEOUT`].
async fn run(program: &str, args: &[&str]) -> Result<std::process::Output, String> {
    let run = tokio::process::Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| format!("{program} did not finish within {PROBE_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot run {program}: {e}"))
}

/// A program's last words on stderr, for a failed run.
fn last_words(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    stderr.trim().lines().last().unwrap_or("failed").to_owned()
}
