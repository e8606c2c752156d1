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
use std::path::Path;
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::preflight;

mod kdc;
mod machine;

pub use kdc::{judge_skew, SKEW_FAIL, SKEW_WARN};
pub use machine::{parse_xorriso_version, MIN_XORRISO};

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
        kdc::probe_kdc(&config, &mut out);
    } else {
        out.skip("clock", "needs the station's key (see keytab above)");
    }
    machine::drive(&config, &mut out);
    machine::xorriso(&config, &mut out);
    machine::disk(&config, &mut out);
    machine::audit(&config, &mut out);
    machine::catalog(&config, &mut out);
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
