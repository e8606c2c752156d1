//! The record of a held reservation (`burnstand reserve`): a small JSON file the holder
//! process writes once the master said RESERVED and removes when it ends, so that `images`,
//! `burn`, `status`, `eject` and `release` find the holder and its station.
//!
//! The file is `reservation-<hash>.json` (the hash of the principal and the master's address)
//! in `$BURNSTAND_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/burnstand`, else
//! `$XDG_CACHE_HOME/burnstand` or `~/.cache/burnstand`; the folder is 0700, the file 0600,
//! written to a temporary name and renamed, so a reader never sees half a file. A record whose
//! holder process is gone is **stale**: it is removed with a note.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use burnstand_wire::command::{ServiceType, StationType};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ClientError;

/// The record's format version.
pub const STATE_VERSION: u32 = 1;
/// The longest record read (a real one is well under 2 KiB).
const MAX_STATE_LEN: u64 = 64 * 1024;

/// A service of the held station's type (enough for SERV).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldService {
    pub id: u32,
    pub name: String,
    pub description: String,
}

/// The held station's type, as LISTX gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldType {
    pub id: u32,
    pub name: String,
    pub description: String,
    pub services: Vec<HeldService>,
}

impl From<&StationType> for HeldType {
    fn from(t: &StationType) -> Self {
        HeldType {
            id: t.id,
            name: t.name.clone(),
            description: t.description.clone(),
            services: t
                .services
                .iter()
                .map(|s| HeldService {
                    id: s.id,
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
        }
    }
}

impl HeldType {
    /// The wire record again.
    pub fn to_station_type(&self) -> StationType {
        StationType {
            id: self.id,
            services: self
                .services
                .iter()
                .map(|s| ServiceType {
                    id: s.id,
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            name: self.name.clone(),
            description: self.description.clone(),
        }
    }
}

/// What the holder wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldState {
    pub version: u32,
    /// The holder process.
    pub pid: u32,
    /// The master's address (HOST:PORT), as configured.
    pub master: String,
    /// The master's principal, as authenticated.
    pub master_principal: String,
    /// Whose reservation it is.
    pub principal: String,
    /// The station's configured name.
    pub station: String,
    /// Where it is ("room 2.14, left drive"); may be empty.
    pub location: String,
    pub session_id: String,
    pub station_type: HeldType,
    /// RFC 3339 UTC: when RESERVED came.
    pub since: String,
    /// RFC 3339 UTC: when the ticket (and so the reservation) ends.
    pub ticket_expires: String,
}

impl HeldState {
    /// "dvd-1 (room 2.14, left drive)", or the bare name without a location.
    pub fn station_text(&self) -> String {
        if self.location.is_empty() {
            self.station.clone()
        } else {
            format!("{} ({})", self.station, self.location)
        }
    }
}

/// Where the records live (see the module docs); `None` without any of the variables.
pub fn state_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("BURNSTAND_RUNTIME_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_RUNTIME_DIR") {
        return Some(PathBuf::from(dir).join("burnstand"));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("burnstand"));
    }
    var("HOME").map(|home| PathBuf::from(home).join(".cache").join("burnstand"))
}

/// [`state_dir`], or an error that says how to get one.
pub fn require_state_dir() -> Result<PathBuf, ClientError> {
    state_dir().ok_or_else(|| {
        ClientError::Internal(
            "nowhere to keep the reservation record: set XDG_RUNTIME_DIR or HOME (or BURNSTAND_RUNTIME_DIR)".to_owned(),
        )
    })
}

/// The record's file name for `principal` at the master `master` (its address).
pub fn file_name(principal: &str, master: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(principal.as_bytes());
    hash.update([0]);
    hash.update(master.as_bytes());
    let digest = hash.finalize();
    format!("reservation-{}.json", hex::encode(&digest[..8]))
}

/// Writes `state` to its file in `dir` (0600, in a 0700 folder), atomically.
pub fn write(dir: &Path, state: &HeldState) -> Result<PathBuf, ClientError> {
    let failed = |what: &str, path: &Path, e: std::io::Error| {
        ClientError::Internal(format!(
            "cannot {what} the reservation record {}: {e}",
            path.display()
        ))
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| failed("make the folder of", dir, e))?;
    let path = dir.join(file_name(&state.principal, &state.master));
    let temporary = dir.join(format!(
        ".{}.{}",
        file_name(&state.principal, &state.master),
        state.pid
    ));
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| ClientError::Internal(format!("cannot encode the reservation record: {e}")))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|e| failed("write", &temporary, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| failed("write", &temporary, e))?;
    std::fs::rename(&temporary, &path).map_err(|e| failed("write", &path, e))?;
    Ok(path)
}

/// Reads a record; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<HeldState>, String> {
    let len = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if len > MAX_STATE_LEN {
        return Err(format!("{len} bytes is too long for a reservation record"));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let state: HeldState = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if state.version != STATE_VERSION {
        return Err(format!("unknown record version {}", state.version));
    }
    Ok(Some(state))
}

/// What is on record for a user at a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    None,
    /// The holder runs.
    Live(Box<HeldState>, PathBuf),
    /// The holder is gone (or the record is unreadable): the record should be removed.
    Stale {
        path: PathBuf,
        what: String,
    },
}

/// The record of `principal` at `master` in `dir`; `alive` says whether a pid is a running
/// holder ([`holder_alive`] outside tests).
pub fn lookup(dir: &Path, principal: &str, master: &str, alive: impl Fn(u32) -> bool) -> Lookup {
    let path = dir.join(file_name(principal, master));
    match read(&path) {
        Ok(None) => Lookup::None,
        Ok(Some(state)) if state.principal != principal || state.master != master => {
            // Another pair with the same hash prefix: not ours, leave it alone.
            Lookup::None
        }
        Ok(Some(state)) if alive(state.pid) => Lookup::Live(Box::new(state), path),
        Ok(Some(state)) => Lookup::Stale {
            what: format!(
                "the record of {} held since {} (its holder, pid {}, has ended)",
                state.station_text(),
                state.since,
                state.pid
            ),
            path,
        },
        Err(problem) => Lookup::Stale {
            what: format!("an unreadable reservation record ({problem})"),
            path,
        },
    }
}

/// Every record in `dir` for the master `master` (for `release` without a ticket).
pub fn records_for(dir: &Path, master: &str) -> Vec<(PathBuf, HeldState)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, HeldState)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("reservation-") && n.ends_with(".json"))
        })
        .filter_map(|p| match read(&p) {
            Ok(Some(state)) if state.master == master => Some((p, state)),
            _ => None,
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Removes the record at `path` if it is still the one of holder `pid` (a newer holder's
/// record stays).
pub fn remove_if_ours(path: &Path, pid: u32) {
    if let Ok(Some(state)) = read(path) {
        if state.pid == pid {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Whether `pid` is a running burnstand holder: the process exists and, where /proc tells,
/// its command line is `burnstand … hold-reservation` (a recycled pid is not).
pub fn holder_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 1 {
        return false;
    }
    let pid = nix::unistd::Pid::from_raw(raw);
    match nix::sys::signal::kill(pid, None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    let proc_dir = Path::new("/proc");
    if !proc_dir.join("self").exists() {
        return true;
    }
    match std::fs::read(proc_dir.join(raw.to_string()).join("cmdline")) {
        // A zombie has an empty command line: it has ended.
        Ok(cmdline) => cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == super::HOLD_SUBCOMMAND.as_bytes()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests;
