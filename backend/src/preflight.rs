//! Checks of a configuration against the machine it runs on: the keytab's permissions, the
//! trusted masters' names and realms, the drive, the audit log, the state directory and the
//! catalog.
//!
//! Two callers:
//!
//! - `--check-config` runs [`check`]: every check, reporting every problem at once, and **no
//!   side effects**: no file or directory is created or modified, no lock is taken, the digest
//!   cache is read but not written. So it can run beside a running station.
//! - Start-up runs [`startup`] before anything is opened: the rules a running station must
//!   never break (a private keytab, service principals of known realms as trusted masters, a
//!   `device` that is a drive). Everything else is found when the station opens its parts.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use burnstand_policy::Policy;
use rustix::fs::{access, Access};

use crate::config::{Config, DriveTarget};
use crate::drive::{Drive, XorrisoDrive};
use crate::error::{Result, StationError};
use crate::principal::components;

/// What a successful [`check`] found.
#[derive(Debug)]
pub struct Report {
    /// Images the catalog offers (to someone).
    pub images: usize,
    /// Things the operator should know that do not stop the station (e.g. a torn audit tail
    /// it will repair).
    pub notes: Vec<String>,
}

/// The problems as one configuration error naming the file.
fn refuse(origin: &Path, problems: Vec<String>) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let message = if problems.len() == 1 {
        problems.concat()
    } else {
        format!(
            "{} problems:\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        )
    };
    Err(StationError::Config {
        path: origin.to_owned(),
        message,
    })
}

/// The station's own realm (of its `principal`).
fn home_realm(config: &Config) -> std::result::Result<String, String> {
    match components(&config.principal) {
        (_, Some(realm)) if !realm.is_empty() => Ok(realm),
        _ => Err(format!(
            "principal {:?} has no realm; write it as name/host@REALM",
            config.principal
        )),
    }
}

/// Every trusted master must be a **service** principal (`service/host@REALM`: a user
/// principal could name any identity to the station) of a realm the station knows: its own,
/// or one of the policy's `realms`.
pub fn trusted_master_problems(
    config: &Config,
    policy_realms: &[String],
    policy_path: &Path,
) -> Vec<String> {
    let mut problems = Vec::new();
    let home = home_realm(config).ok();
    let mut known: Vec<&str> = home.iter().map(String::as_str).collect();
    for realm in policy_realms {
        if !known.contains(&realm.as_str()) {
            known.push(realm);
        }
    }
    for master in &config.trusted_masters {
        // The canonical display form: a name without a realm gets krb5.conf's default realm.
        let display = match burnstand_wire::gss::Principal::parse(master) {
            Ok(principal) => principal.as_str().to_owned(),
            Err(e) => {
                problems.push(format!(
                    "trusted master {master:?} is not a usable Kerberos principal: {e}"
                ));
                continue;
            }
        };
        let (names, realm) = components(&display);
        if names.len() < 2 || names.iter().any(String::is_empty) {
            problems.push(format!(
                "trusted master {master:?} is not a service principal: a master authenticates \
                 with a service key, written service/host@REALM (e.g. \
                 burnstand/master.campus.edu@CAMPUS.EDU); a user principal would let that user \
                 name any identity to this station"
            ));
        }
        match realm {
            Some(realm) if known.contains(&realm.as_str()) => {}
            Some(realm) => problems.push(format!(
                "trusted master {master:?} is in realm {realm}, which this station does not \
                 know: known are its own realm and the policy's realms ({}); correct the \
                 principal, or add {realm} to `realms` in the policy {}",
                known.join(", "),
                policy_path.display()
            )),
            None => problems.push(format!(
                "trusted master {master:?} has no realm; write it as service/host@REALM"
            )),
        }
    }
    problems
}

/// The realms the policy accepts, or why the policy cannot be read.
pub(crate) fn policy_realms(config: &Config) -> std::result::Result<Vec<String>, String> {
    let home = home_realm(config)?;
    Policy::load(&config.policy, &home)
        .map(|policy| policy.realms().to_vec())
        .map_err(|e| e.to_string())
}

/// The rules a running station must never break, checked at start before anything is opened
/// (see the module documentation). `origin` is the configuration file, for the message.
pub fn startup(config: &Config, origin: &Path) -> Result<()> {
    let mut problems = Vec::new();
    problems.extend(burnstand_wire::gss::keytab_problem(
        &config.keytab,
        &config.principal,
    ));
    match policy_realms(config) {
        Ok(realms) => problems.extend(trusted_master_problems(config, &realms, &config.policy)),
        Err(problem) => problems.push(problem),
    }
    // A device that is not there yet (an unplugged drive) is not a configuration error: the
    // station starts and answers ERRNOTAVL until it is. One that is a file or /dev/null is.
    if let Ok(DriveTarget::Device(device)) = config.target() {
        if device.exists() {
            problems.extend(crate::drive::device_problem(&device));
        }
    }
    refuse(origin, problems)
}

/// setpriv and xorriso, which every burn runs, where the station looks for them.
pub(crate) fn missing_programs(config: &Config) -> Vec<String> {
    [PathBuf::from(crate::burn::SETPRIV), config.xorriso()]
        .iter()
        .filter(|program| !crate::burn::findable(program))
        .map(|program| {
            format!(
                "cannot find {} (looked in {}); install xorriso and util-linux (setpriv), or fix \
                 `drive.xorriso`",
                program.display(),
                crate::burn::CHILD_PATH
            )
        })
        .collect()
}

/// Whether this process may create entries in `dir`.
fn writable_dir(dir: &Path) -> bool {
    dir.is_dir() && access(dir, Access::WRITE_OK | Access::EXEC_OK).is_ok()
}

/// The nearest existing ancestor of `path` (itself included).
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|p| std::fs::symlink_metadata(p).is_ok())
        .map(Path::to_owned)
}

/// A directory the station creates if missing (`what` names it): it must be a writable
/// directory, or creatable under a writable one.
pub(crate) fn directory_problem(what: &str, dir: &Path) -> Option<String> {
    if dir.exists() {
        if !dir.is_dir() {
            return Some(format!("{what} {} is not a directory", dir.display()));
        }
        if !writable_dir(dir) {
            return Some(format!(
                "{what} {} is not writable by this user; run the check as the daemon's user, \
                 or give that user the directory",
                dir.display()
            ));
        }
        return None;
    }
    match existing_ancestor(dir) {
        Some(ancestor) if writable_dir(&ancestor) => None,
        Some(ancestor) => Some(format!(
            "{what} {} does not exist and cannot be created: {} is not a writable directory",
            dir.display(),
            ancestor.display()
        )),
        None => Some(format!("{what} {} cannot be created", dir.display())),
    }
}

/// The audit log: an intact log (a torn tail is a note: the station repairs it at start), or
/// a file the station can create. Reads only; takes no lock.
pub(crate) fn audit_log_check(path: &Path, notes: &mut Vec<String>) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => Some(format!(
            "`audit_log` {} is not a regular file",
            path.display()
        )),
        Ok(_) if access(path, Access::READ_OK | Access::WRITE_OK).is_err() => Some(format!(
            "`audit_log` {} is not readable and writable by this user",
            path.display()
        )),
        Ok(_) => match burnstand_audit::find_torn_tail(path) {
            Ok(None) => None,
            Ok(Some(tail)) => {
                notes.push(format!(
                    "the audit log {} ends in a torn line (an append a crash or a full disk \
                     cut short); the station will cut it off at start and record the cut: {}",
                    path.display(),
                    tail.describe()
                ));
                None
            }
            Err(e) => Some(e.to_string()),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            directory_problem("the directory of `audit_log`", dir)
        }
        Err(e) => Some(format!(
            "cannot inspect `audit_log` {}: {e}",
            path.display()
        )),
    }
}

/// Everything `--check-config` checks, with no side effects; see the module documentation.
/// The krb5 environment must be in place (the keytab is read through it).
pub async fn check(config: &Config, origin: &Path) -> Result<Report> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();

    problems.extend(burnstand_wire::gss::keytab_problem(
        &config.keytab,
        &config.principal,
    ));
    let principal = config.principal.clone();
    match tokio::task::spawn_blocking(move || burnstand_wire::gss::acceptor_credentials(&principal))
        .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => problems.push(format!(
            "keytab {} cannot accept as {}: {e}",
            config.keytab.display(),
            config.principal
        )),
        Err(e) => problems.push(format!("the credential check did not finish: {e}")),
    }
    match policy_realms(config) {
        Ok(realms) => problems.extend(trusted_master_problems(config, &realms, &config.policy)),
        Err(problem) => problems.push(problem),
    }

    match (config.drive_kind(), config.target()) {
        (Ok(kind), Ok(target)) => {
            let drive = XorrisoDrive::new(kind, target, config.drive.speed, config.xorriso());
            if let Err(e) = drive.check_usable() {
                problems.push(e.to_string());
            }
        }
        (Err(problem), _) | (_, Err(problem)) => problems.push(problem),
    }

    problems.extend(missing_programs(config));
    problems.extend(audit_log_check(&config.audit_log, &mut notes));
    problems.extend(directory_problem("`state_dir`", &config.state_dir));

    let (catalog, state) = (config.catalog.clone(), config.state_dir.clone());
    let images = match tokio::task::spawn_blocking(move || {
        crate::catalog::inspect(&catalog, &state)
    })
    .await
    {
        Ok(Ok(images)) => images.len(),
        Ok(Err(e)) => {
            problems.push(e.to_string());
            0
        }
        Err(e) => {
            problems.push(format!("the catalog check did not finish: {e}"));
            0
        }
    };
    refuse(origin, problems)?;
    Ok(Report { images, notes })
}
