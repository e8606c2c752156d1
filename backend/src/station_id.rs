//! The station's id: the name every record, receipt and copy grant of this station carries.
//!
//! An id configured as `station_id` is used as written. Otherwise the station makes a random
//! UUID the first time it starts and keeps it in `state_dir/station-id`, so it survives
//! restarts, a log moved aside and a reinstall that keeps the state directory — and two
//! stations never share one by accident (an id derived from principal and drive path did:
//! two hosts with the same drive path and a shared principal). The master refuses a second
//! station that presents an id it already knows (`docs/protocol.md` §5.9).

use std::io::Write;
use std::path::PathBuf;

use crate::config::Config;
use crate::error::{Result, StationError};

/// The file under `state_dir` that holds the generated id.
pub const STATION_ID_FILE: &str = "station-id";

fn path(config: &Config) -> PathBuf {
    config.state_dir.join(STATION_ID_FILE)
}

/// The configured id, or the one kept in the state directory, or a new one (written
/// durably before it is used).
pub fn load_or_create(config: &Config) -> Result<String> {
    if let Some(id) = &config.station_id {
        return Ok(id.clone());
    }
    let file = path(config);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let id = text.trim();
            if uuid_like(id) {
                return Ok(id.to_owned());
            }
            return Err(StationError::Config {
                path: file.clone(),
                message: format!(
                    "{} does not hold a station id (a UUID); restore it from a backup, or \
                     delete it to make a new id (the master then sees a new station)",
                    file.display()
                ),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StationError::io(format!("reading {}", file.display()), e)),
    }
    let id = new_uuid()?;
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| StationError::io(format!("creating {}", config.state_dir.display()), e))?;
    let tmp = file.with_extension("new");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{id}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)?;
        std::fs::File::open(&config.state_dir)?.sync_all()
    };
    write().map_err(|e| StationError::io(format!("writing {}", file.display()), e))?;
    tracing::info!(station_id = %id, file = %file.display(), "made a new station id");
    Ok(id)
}

/// The id without making one: configured, or kept in the state directory; `None` before the
/// first start (for `--check-config`, which changes nothing on disk).
pub fn peek(config: &Config) -> Option<String> {
    if let Some(id) = &config.station_id {
        return Some(id.clone());
    }
    let text = std::fs::read_to_string(path(config)).ok()?;
    let id = text.trim();
    uuid_like(id).then(|| id.to_owned())
}

/// A random (version 4) UUID.
fn new_uuid() -> Result<String> {
    Ok(uuid::Uuid::new_v4().to_string())
}

/// A new copy id (UUID v4).
pub fn new_copy_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_have_the_layout_and_differ() {
        let a = super::new_uuid().unwrap_or_default();
        let b = super::new_uuid().unwrap_or_default();
        assert!(super::uuid_like(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
    }
}
