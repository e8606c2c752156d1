//! Where the wait queue is kept so that it survives a master restart: [`QueueStore`], the one
//! small interface the [`Queue`](super::Queue) writes through, and [`SqliteQueueStore`], one
//! SQLite file under the master's `state_dir`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, Row};

use super::{Waiting, MAX_WAITING};
use crate::error::{Error, Result};

/// The queue file under `state_dir`.
pub const QUEUE_FILE: &str = "queue.sqlite";

/// The schema this build writes, in SQLite's `user_version`. A file with a higher version was
/// written by a newer master and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 1;

/// What the wait queue asks of its store. Every call returns only once its change is durable:
/// an acknowledged join must survive a crash of the master or the machine.
///
/// A store shared by several masters (PostgreSQL) must guarantee the same, for all of them:
/// * `insert` assigns `seq` from **one** sequence shared by every master (a PostgreSQL
///   `BIGSERIAL`/sequence), strictly increasing and never reused — also after `remove` and
///   `clear` — so FIFO order is one order across the farm, not one per master;
/// * `key` is unique over the whole store (one entry per principal, whichever master it
///   joined through): an `insert` of a key already there fails rather than duplicates;
/// * `update` and `remove` address the entry by `key` and change nothing else; removing a
///   key that is not there is not an error (another master may have handed it a station);
/// * `load` returns every entry in `seq` order, at most [`MAX_WAITING`] + 1 of them (one
///   more than the bound, so that the caller sees an over-full store and refuses it).
///
/// Keeping several masters' in-memory queues in step (reloading on a notification) is the
/// shared design's own work; this trait is only what one [`Queue`](super::Queue) needs.
pub trait QueueStore: Send {
    /// Every persisted entry, in `seq` order.
    fn load(&self) -> Result<Vec<Waiting>>;
    /// Persists a new entry and returns the `seq` assigned to it (`entry.seq` is ignored).
    fn insert(&self, entry: &Waiting) -> Result<u64>;
    /// Replaces the entry with `entry.key` by `entry` (its `seq` and `joined` are kept by the
    /// caller, not by the store).
    fn update(&self, entry: &Waiting) -> Result<()>;
    /// Removes the entry of `key`, if any.
    fn remove(&self, key: &[u8]) -> Result<()>;
    /// Removes every entry.
    fn clear(&self) -> Result<()>;
}

/// The queue in a SQLite file; see the module docs.
pub struct SqliteQueueStore {
    db: Connection,
    /// For messages.
    path: PathBuf,
}

/// Nanoseconds since the epoch: to the nanosecond, so a reloaded entry compares equal.
fn to_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn from_nanos(nanos: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl SqliteQueueStore {
    /// Opens (or creates) the queue file at `path`. Every write is durable before the call
    /// returns (WAL with `synchronous = FULL`). A file that is not a queue store, or that a
    /// newer master wrote, is refused with a message saying what to do.
    pub fn open(path: &Path) -> Result<SqliteQueueStore> {
        let store = SqliteQueueStore {
            db: Connection::open(path).map_err(|e| {
                Error::Queue(format!(
                    "cannot open the queue store {}: {e}; check that state_dir exists and is writable",
                    path.display()
                ))
            })?,
            path: path.to_owned(),
        };
        let unreadable = |e: rusqlite::Error| {
            Error::Queue(format!(
                "the queue store {} is unreadable: {e}; move it aside to start with an empty queue",
                path.display()
            ))
        };
        let version: i64 = store
            .db
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(unreadable)?;
        if version > SCHEMA_VERSION {
            return Err(Error::Queue(format!(
                "the queue store {} has schema version {version}, this master knows up to \
                 {SCHEMA_VERSION}: it was written by a newer burnstand-master; run that one, or \
                 move the file aside to start with an empty queue",
                path.display()
            )));
        }
        store
            .db
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 BEGIN;
                 CREATE TABLE IF NOT EXISTS waiting (
                     seq      INTEGER PRIMARY KEY AUTOINCREMENT,
                     key      BLOB NOT NULL UNIQUE,
                     user     TEXT NOT NULL,
                     type_id  INTEGER NOT NULL,
                     drives   INTEGER NOT NULL,
                     station  TEXT NOT NULL,
                     class    TEXT NOT NULL,
                     priority INTEGER NOT NULL,
                     joined   INTEGER NOT NULL
                 );
                 PRAGMA user_version = {SCHEMA_VERSION};
                 COMMIT;"
            ))
            .map_err(unreadable)?;
        Ok(store)
    }

    fn failed(&self, what: &str) -> impl Fn(rusqlite::Error) -> Error + '_ {
        let what = what.to_owned();
        move |e| Error::Queue(format!("{what} in {}: {e}", self.path.display()))
    }

    fn row(row: &Row<'_>) -> rusqlite::Result<Waiting> {
        Ok(Waiting {
            seq: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
            key: row.get(1)?,
            user: row.get(2)?,
            type_id: row.get(3)?,
            drives: row.get(4)?,
            station: row.get(5)?,
            class: row.get(6)?,
            priority: row.get(7)?,
            joined: from_nanos(row.get(8)?),
        })
    }
}

impl QueueStore for SqliteQueueStore {
    fn load(&self) -> Result<Vec<Waiting>> {
        let failed = self.failed("cannot load the queue");
        let mut statement = self
            .db
            .prepare(
                "SELECT seq, key, user, type_id, drives, station, class, priority, joined
                 FROM waiting ORDER BY seq LIMIT ?1",
            )
            .map_err(&failed)?;
        let rows = statement
            .query_map(params![to_i64(MAX_WAITING as u64 + 1)], Self::row)
            .map_err(&failed)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&failed)
    }

    fn insert(&self, entry: &Waiting) -> Result<u64> {
        self.db
            .execute(
                "INSERT INTO waiting (key, user, type_id, drives, station, class, priority, joined)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    entry.key,
                    entry.user,
                    entry.type_id,
                    entry.drives,
                    entry.station,
                    entry.class,
                    entry.priority,
                    to_nanos(entry.joined)
                ],
            )
            .map_err(self.failed("cannot record a join"))?;
        u64::try_from(self.db.last_insert_rowid())
            .map_err(|_| Error::Queue(format!("negative seq in {}", self.path.display())))
    }

    fn update(&self, entry: &Waiting) -> Result<()> {
        self.db
            .execute(
                "UPDATE waiting SET user = ?2, type_id = ?3, drives = ?4, station = ?5,
                     class = ?6, priority = ?7, joined = ?8
                 WHERE key = ?1",
                params![
                    entry.key,
                    entry.user,
                    entry.type_id,
                    entry.drives,
                    entry.station,
                    entry.class,
                    entry.priority,
                    to_nanos(entry.joined)
                ],
            )
            .map(|_| ())
            .map_err(self.failed("cannot record a rejoin"))
    }

    fn remove(&self, key: &[u8]) -> Result<()> {
        self.db
            .execute("DELETE FROM waiting WHERE key = ?1", params![key])
            .map(|_| ())
            .map_err(self.failed("cannot record a leave"))
    }

    fn clear(&self) -> Result<()> {
        self.db
            .execute("DELETE FROM waiting", [])
            .map(|_| ())
            .map_err(self.failed("cannot clear the queue"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_by_name() {
        let dir = temp();
        let path = dir.path().join(QUEUE_FILE);
        std::fs::write(&path, vec![0x5a; 8192]).expect("write");
        let message = SqliteQueueStore::open(&path)
            .err()
            .expect("refused")
            .to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a database"), "{message}");
        assert!(message.contains("move it aside"), "{message}");
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let dir = temp();
        let path = dir.path().join(QUEUE_FILE);
        {
            let db = Connection::open(&path).expect("create");
            db.pragma_update(None, "user_version", 7).expect("version");
        }
        let message = SqliteQueueStore::open(&path)
            .err()
            .expect("refused")
            .to_string();
        assert!(message.contains("schema version 7"), "{message}");
        assert!(message.contains("newer burnstand-master"), "{message}");
        let db = Connection::open(&path).expect("reopen");
        let version: i64 = db
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, 7, "the newer file was not rewritten");
    }

    #[test]
    fn the_schema_version_is_written_and_writes_are_durable() {
        let dir = temp();
        let path = dir.path().join(QUEUE_FILE);
        let store = SqliteQueueStore::open(&path).expect("open");
        let version: i64 = store
            .db
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let mode: String = store
            .db
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .db
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .expect("synchronous");
        assert_eq!(sync, 2, "synchronous = FULL");
    }

    #[test]
    fn a_corrupt_row_is_an_error_not_a_default() {
        let dir = temp();
        let path = dir.path().join(QUEUE_FILE);
        let store = SqliteQueueStore::open(&path).expect("open");
        store
            .db
            .execute(
                "INSERT INTO waiting (key, user, type_id, drives, station, class, priority, joined)
                 VALUES (x'01', 'a@LAB.TEST', -1, 1, '', '', 0, 0)",
                [],
            )
            .expect("insert");
        let message = store.load().expect_err("refused").to_string();
        assert!(message.contains("cannot load the queue"), "{message}");
    }
}
