//! Who else holds the drive: a scan of `/proc/*/fd` for the drive's device node or file.
//!
//! A drive another process has open — a stray xorriso left by an earlier station, a `dd`, a
//! desktop's automounter — makes every burn fail in ways a user cannot act on. So before a
//! session is accepted (and at start-up, as a warning) the station looks for such a process
//! and, if there is one, refuses with its PID and command name (`session.refuse`, ERRNOTAVL).
//!
//! The station's own processes never count: itself (the read-back opens the drive) and its
//! descendants (its xorriso, during its own burn). So a session that opens while another
//! session burns is still accepted; it gets `ERROR BUSY` at BURN as before.
//!
//! Limits: only processes this user may inspect are seen (run the station as root, or as the
//! drive's owner, to see all); a process that opens the drive right after the scan is not
//! seen until the next one. Bounded: at most [`MAX_PROCESSES`] processes and
//! [`MAX_FDS_PER_PROCESS`] descriptors each are looked at.

use std::fmt;
use std::path::{Path, PathBuf};

/// Most processes scanned (a machine has a few hundred).
pub const MAX_PROCESSES: usize = 65_536;

/// Most file descriptors looked at per process.
pub const MAX_FDS_PER_PROCESS: usize = 65_536;

/// How far up the parent chain a process is followed to tell whether the station started it.
const MAX_ANCESTRY: usize = 64;

/// A process that has the drive open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PID {} ({})", self.pid, self.command)
    }
}

/// `(ppid, command)` of `pid` from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …; comm may itself contain ')' and spaces.
    let (head, rest) = text.rsplit_once(')')?;
    let command = head.split_once('(')?.1.to_owned();
    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
    Some((ppid, command))
}

/// Whether `pid` is `me` or was started (directly or not) by `me`.
fn is_ours(pid: u32, me: u32) -> bool {
    let mut current = pid;
    for _ in 0..MAX_ANCESTRY {
        if current == me {
            return true;
        }
        match stat(current) {
            Some((ppid, _)) if ppid != 0 && ppid != current => current = ppid,
            _ => return false,
        }
    }
    false
}

/// Whether the link target `link` names `path` (the kernel appends " (deleted)" to files
/// unlinked while open).
fn names(link: &Path, path: &Path) -> bool {
    link == path
        || link
            .to_str()
            .and_then(|l| l.strip_suffix(" (deleted)"))
            .is_some_and(|l| Path::new(l) == path)
}

/// The processes other than this station (and its children) that have `path` open.
pub fn holders(path: &Path) -> Vec<Holder> {
    // Compare with the path as configured and as resolved (a symlink such as /dev/cdrom);
    // the kernel shows the resolved one.
    let mut paths: Vec<PathBuf> = vec![path.to_owned()];
    if let Ok(canonical) = path.canonicalize() {
        if canonical != path {
            paths.push(canonical);
        }
    }
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in procs.flatten().take(MAX_PROCESSES) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue; // gone, or not ours to look at
        };
        let holds = fds.flatten().take(MAX_FDS_PER_PROCESS).any(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|link| paths.iter().any(|p| names(&link, p)))
        });
        if holds && !is_ours(pid, me) {
            let command = stat(pid).map(|(_, c)| c).unwrap_or_else(|| "?".into());
            found.push(Holder { pid, command });
        }
    }
    found.sort_by_key(|h| h.pid);
    found
}

/// The refusal text for `holders` of the drive at `path` (none: `None`).
pub fn describe(path: &Path, holders: &[Holder]) -> Option<String> {
    if holders.is_empty() {
        return None;
    }
    let list: Vec<String> = holders.iter().map(Holder::to_string).collect();
    Some(format!(
        "drive {} is held by another process: {}; the station refuses sessions until it lets \
         go (stop it, e.g. `kill {}`)",
        path.display(),
        list.join(", "),
        holders[0].pid
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_files_still_name_their_path() {
        let p = Path::new("/tmp/disc.img");
        assert!(names(Path::new("/tmp/disc.img"), p));
        assert!(names(Path::new("/tmp/disc.img (deleted)"), p));
        assert!(!names(Path::new("/tmp/disc.img2"), p));
    }

    #[test]
    fn this_process_and_its_children_do_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disc.img");
        std::fs::write(&file, b"").unwrap();
        let _mine = std::fs::File::open(&file).unwrap();
        // A child of this process holding it: started by "the station", so not a holder.
        let mut child = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("exec 3<'{}'; exec sleep 30", file.display()))
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut seen_open = false;
        for _ in 0..200 {
            if std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|fds| {
                    fds.flatten()
                        .any(|fd| std::fs::read_link(fd.path()).ok().as_deref() == Some(&*file))
                })
                .unwrap_or(false)
            {
                seen_open = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let found = holders(&file);
        let _ = child.kill();
        let _ = child.wait();
        assert!(seen_open);
        assert_eq!(found, Vec::new());
        assert!(describe(&file, &found).is_none());
    }
}
