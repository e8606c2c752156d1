//! The copy ledger: every copy the master granted or learnt a receipt of, by copy id — the
//! durable records quotas are counted from (`docs/policy.md`, `docs/protocol.md` §5.9).
//!
//! Counting is a query over this store, never "whatever lines the audit log holds": the
//! audit log can be rotated, the ledger is not. Each entry is also in the audit log
//! (`copy.grant`, `burn.receipt`), and the master re-imports the current log at start-up
//! (idempotently, by copy id), so a crash between the audit record and the ledger write
//! loses nothing.
//!
//! [`Ledger`] is the one small interface the rest of the master uses; [`SqliteLedger`] keeps it
//! in one SQLite file under the master's `state_dir`. A store shared by several masters
//! (PostgreSQL) implements the same trait.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burnstand_policy::Usage;
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

/// The ledger file under `state_dir`.
pub const LEDGER_FILE: &str = "ledger.sqlite";

/// One copy as a grant or a receipt names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// The copy's UUID (or `station#seq` for a receipt from before copy ids).
    pub copy_id: String,
    /// The user's exported name.
    pub user: Vec<u8>,
    /// Lower-case hex SHA-256 of the image.
    pub sha256: String,
    /// The station's id.
    pub station_id: String,
    /// When it counts from: the grant, or the receipt's end for a copy without grant.
    pub at: SystemTime,
}

/// A receipt's place in its station's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    pub seq: u64,
    /// Hex SHA-256 of the record's line.
    pub hash: String,
}

/// Most receipts one listing returns (the status page's "your receipts"): bounds the
/// memory and the page of one request to about this many rows of a few hundred bytes.
pub const MAX_RECEIPTS_LISTED: usize = 500;

/// A recorded receipt, as the status page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRow {
    pub copy_id: String,
    /// The user's exported name.
    pub user: Vec<u8>,
    pub sha256: String,
    pub station_id: String,
    /// When the copy counts from (grant or end of the burn).
    pub at: SystemTime,
    /// `verified`, `verify_failed`, `cancelled`…
    pub result: String,
    /// The station's own `burn.receipt` line, when the master relayed or synced it (not for
    /// receipts imported from the master's log): what `burnstand audit verify --receipt`
    /// checks against the station's log.
    pub receipt_line: Option<String>,
}

/// What the master asks of its copy store.
pub trait Ledger: Usage + Send + Sync {
    /// Records a granted copy. `false` if the copy id was known already (then nothing
    /// changes: a copy counts once).
    fn grant(&self, copy: &Copy) -> Result<bool>;
    /// Records a receipt: completes the granted copy, or adds the copy if it had no grant.
    /// `false` if this copy's receipt was recorded already.
    fn receipt(&self, copy: &Copy, result: &str, position: &LogPosition) -> Result<bool>;
    /// Whether this copy's receipt is recorded.
    fn has_receipt(&self, copy_id: &str) -> Result<bool>;
    /// Where the next SYNC of station `station_id` starts: the head of its log at the end of
    /// the last completed sync. Not the newest receipt recorded: a relayed receipt can be
    /// newer than one the master has not seen yet (a copy closed at the station's start
    /// before the link came back), and starting after it would skip that one.
    fn position(&self, station_id: &str) -> Result<Option<LogPosition>>;
    /// Records that a sync of `station_id` completed up to `head`.
    fn set_synced(&self, station_id: &str, head: &LogPosition) -> Result<()>;
    /// Copies recorded.
    fn copies(&self) -> Result<u64>;
    /// Receipts, newest first, at most `limit` (and never more than
    /// [`MAX_RECEIPTS_LISTED`]): `user`'s (exported name), or everyone's for `None`.
    fn receipts(&self, user: Option<&[u8]>, limit: usize) -> Result<Vec<ReceiptRow>>;
    /// The receipt of `copy_id`, if one is recorded.
    fn receipt_of(&self, copy_id: &str) -> Result<Option<ReceiptRow>>;
    /// Keeps the station's receipt line of `copy_id`, for its download.
    fn set_receipt_line(&self, copy_id: &str, line: &str) -> Result<()>;
    /// Remembers the configured name of the station that presents `station_id`, so that
    /// statistics can name (and type) the stations of copies made while it is offline.
    fn name_station(&self, station_id: &str, name: &str) -> Result<()>;
    /// Copies that count from `since` on, newest first, at most [`MAX_STATISTICS_ROWS`]:
    /// what the statistics plots are drawn from.
    fn copies_since(&self, since: SystemTime) -> Result<Vec<CopyRow>>;
}

/// Most copies one statistics query returns: about 100 bytes each, so at most ~5 MB per
/// query; a lab burning more than this in the plotted window sees its newest copies only.
pub const MAX_STATISTICS_ROWS: usize = 50_000;

/// One copy as the statistics see it: where, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRow {
    /// The station's id, as its receipts carry it.
    pub station_id: String,
    /// Its configured name, if the master has seen it on a control link (see
    /// [`Ledger::name_station`]).
    pub station_name: Option<String>,
    /// When it counts from (see [`Copy::at`]).
    pub at: SystemTime,
    /// The receipt's result (`verified`, `verify_failed`, …), `None` while only granted.
    pub result: Option<String>,
}

/// The ledger in a SQLite file; see the module docs.
pub struct SqliteLedger {
    db: Mutex<Connection>,
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Ledger(e.to_string())
}

impl SqliteLedger {
    /// Opens (or creates) the ledger file at `path`; every write is durable (`synchronous =
    /// FULL`) before the call returns.
    pub fn open(path: &Path) -> Result<SqliteLedger> {
        let db = Connection::open(path).map_err(|e| {
            Error::Ledger(format!(
                "cannot open the copy ledger {}: {e}; check that state_dir exists and is writable",
                path.display()
            ))
        })?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS copies (
                 copy_id      TEXT PRIMARY KEY,
                 user         BLOB NOT NULL,
                 sha256       TEXT NOT NULL,
                 station_id   TEXT NOT NULL,
                 at           INTEGER NOT NULL,
                 granted      INTEGER NOT NULL DEFAULT 0,
                 result       TEXT,
                 station_seq  INTEGER,
                 receipt_hash TEXT
             );
             CREATE INDEX IF NOT EXISTS copies_by_user ON copies (user, sha256, at);
             CREATE INDEX IF NOT EXISTS copies_by_station ON copies (station_id, station_seq);
             CREATE TABLE IF NOT EXISTS synced (
                 station_id TEXT PRIMARY KEY,
                 seq        INTEGER NOT NULL,
                 hash       TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS station_names (
                 station_id TEXT PRIMARY KEY,
                 name       TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS copies_by_time ON copies (at);",
        )
        .map_err(db_err)?;
        // Ledgers from before the status page lack the receipt line: add the column.
        let has_line: bool = db
            .query_row(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('copies') WHERE name = 'receipt_line'",
                [],
                |row| row.get(0),
            )
            .map_err(db_err)?;
        if !has_line {
            db.execute_batch("ALTER TABLE copies ADD COLUMN receipt_line TEXT;")
                .map_err(db_err)?;
        }
        Ok(SqliteLedger { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Ledger for SqliteLedger {
    fn grant(&self, copy: &Copy) -> Result<bool> {
        let n = self
            .db()
            .execute(
                "INSERT OR IGNORE INTO copies (copy_id, user, sha256, station_id, at, granted)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                params![
                    copy.copy_id,
                    copy.user,
                    copy.sha256,
                    copy.station_id,
                    unix(copy.at)
                ],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn receipt(&self, copy: &Copy, result: &str, position: &LogPosition) -> Result<bool> {
        let db = self.db();
        let seq = i64::try_from(position.seq).unwrap_or(i64::MAX);
        let n = db
            .execute(
                "INSERT INTO copies (copy_id, user, sha256, station_id, at, result, station_seq, receipt_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (copy_id) DO UPDATE SET
                     result = excluded.result,
                     station_seq = excluded.station_seq,
                     receipt_hash = excluded.receipt_hash
                 WHERE copies.result IS NULL",
                params![
                    copy.copy_id,
                    copy.user,
                    copy.sha256,
                    copy.station_id,
                    unix(copy.at),
                    result,
                    seq,
                    position.hash
                ],
            )
            .map_err(db_err)?;
        Ok(n == 1)
    }

    fn has_receipt(&self, copy_id: &str) -> Result<bool> {
        self.db()
            .query_row(
                "SELECT result IS NOT NULL FROM copies WHERE copy_id = ?1",
                params![copy_id],
                |row| row.get::<_, bool>(0),
            )
            .optional()
            .map(|found| found.unwrap_or(false))
            .map_err(db_err)
    }

    fn position(&self, station_id: &str) -> Result<Option<LogPosition>> {
        self.db()
            .query_row(
                "SELECT seq, hash FROM synced WHERE station_id = ?1",
                params![station_id],
                |row| {
                    let seq: i64 = row.get(0)?;
                    Ok(LogPosition {
                        seq: u64::try_from(seq).unwrap_or(0),
                        hash: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    fn set_synced(&self, station_id: &str, head: &LogPosition) -> Result<()> {
        let seq = i64::try_from(head.seq).unwrap_or(i64::MAX);
        self.db()
            .execute(
                "INSERT INTO synced (station_id, seq, hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (station_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                params![station_id, seq, head.hash],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    fn copies(&self) -> Result<u64> {
        self.db()
            .query_row("SELECT COUNT(*) FROM copies", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(db_err)
    }

    fn receipts(&self, user: Option<&[u8]>, limit: usize) -> Result<Vec<ReceiptRow>> {
        let limit = i64::try_from(limit.min(MAX_RECEIPTS_LISTED)).unwrap_or(0);
        let db = self.db();
        let mut statement = db
            .prepare(
                "SELECT copy_id, user, sha256, station_id, at, result, receipt_line FROM copies
                 WHERE result IS NOT NULL AND (?1 IS NULL OR user = ?1)
                 ORDER BY at DESC, rowid DESC LIMIT ?2",
            )
            .map_err(db_err)?;
        let rows = statement
            .query_map(params![user, limit], receipt_row)
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }

    fn receipt_of(&self, copy_id: &str) -> Result<Option<ReceiptRow>> {
        self.db()
            .query_row(
                "SELECT copy_id, user, sha256, station_id, at, result, receipt_line FROM copies
                 WHERE copy_id = ?1 AND result IS NOT NULL",
                params![copy_id],
                receipt_row,
            )
            .optional()
            .map_err(db_err)
    }

    fn set_receipt_line(&self, copy_id: &str, line: &str) -> Result<()> {
        self.db()
            .execute(
                "UPDATE copies SET receipt_line = ?2 WHERE copy_id = ?1",
                params![copy_id, line],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    fn name_station(&self, station_id: &str, name: &str) -> Result<()> {
        self.db()
            .execute(
                "INSERT INTO station_names (station_id, name) VALUES (?1, ?2)
                 ON CONFLICT (station_id) DO UPDATE SET name = excluded.name",
                params![station_id, name],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    fn copies_since(&self, since: SystemTime) -> Result<Vec<CopyRow>> {
        let db = self.db();
        let mut query = db
            .prepare_cached(
                "SELECT c.station_id, n.name, c.at, c.result FROM copies c
                 LEFT JOIN station_names n ON n.station_id = c.station_id
                 WHERE c.at >= ?1 ORDER BY c.at DESC LIMIT ?2",
            )
            .map_err(db_err)?;
        let limit = i64::try_from(MAX_STATISTICS_ROWS).unwrap_or(i64::MAX);
        let rows = query
            .query_map(params![unix(since), limit], |row| {
                let at: i64 = row.get(2)?;
                Ok(CopyRow {
                    station_id: row.get(0)?,
                    station_name: row.get(1)?,
                    at: from_unix(u64::try_from(at).unwrap_or(0)),
                    result: row.get(3)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
    }
}

fn receipt_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ReceiptRow> {
    let at: i64 = row.get(4)?;
    Ok(ReceiptRow {
        copy_id: row.get(0)?,
        user: row.get(1)?,
        sha256: row.get(2)?,
        station_id: row.get(3)?,
        at: from_unix(u64::try_from(at).unwrap_or(0)),
        result: row.get(5)?,
        receipt_line: row.get(6)?,
    })
}

impl Usage for SqliteLedger {
    /// Fails closed: a ledger that cannot be read reports every quota as used up.
    fn used(&self, user: &[u8], sha256: &str, since: Option<SystemTime>) -> u32 {
        let since = since.map_or(i64::MIN, unix);
        let counted = self.db().query_row(
            "SELECT COUNT(*) FROM copies WHERE user = ?1 AND sha256 = ?2 AND at >= ?3",
            params![user, sha256.to_ascii_lowercase(), since],
            |row| row.get::<_, i64>(0),
        );
        match counted {
            Ok(n) => u32::try_from(n).unwrap_or(u32::MAX),
            Err(e) => {
                tracing::error!(error = %e, "copy ledger unreadable: counting every quota as used up");
                u32::MAX
            }
        }
    }
}

/// Seconds since the epoch as a time (for records that carry them).
pub fn from_unix(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(id: &str, user: &[u8], at: u64) -> Copy {
        Copy {
            copy_id: id.into(),
            user: user.to_vec(),
            sha256: "ab".repeat(32),
            station_id: "st".into(),
            at: from_unix(at),
        }
    }

    fn pos(seq: u64) -> LogPosition {
        LogPosition {
            seq,
            hash: format!("{seq:064x}"),
        }
    }

    #[test]
    fn a_copy_counts_once_whether_granted_received_or_both() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Ledger(e.to_string()))?;
        let ledger = SqliteLedger::open(&dir.path().join(LEDGER_FILE))?;
        let sha = "ab".repeat(32);
        assert!(ledger.grant(&copy("a", b"alice", 100))?);
        assert!(!ledger.grant(&copy("a", b"alice", 100))?, "granted twice");
        assert_eq!(ledger.used(b"alice", &sha, None), 1);
        assert!(ledger.receipt(&copy("a", b"alice", 200), "verified", &pos(5))?);
        assert!(!ledger.receipt(&copy("a", b"alice", 200), "verified", &pos(5))?);
        assert!(ledger.has_receipt("a")?);
        assert!(!ledger.has_receipt("nope")?);
        assert_eq!(ledger.used(b"alice", &sha, None), 1);
        // A receipt without a grant (an unlimited image, or from before grants) counts too.
        assert!(ledger.receipt(&copy("b", b"alice", 300), "cancelled", &pos(9))?);
        assert_eq!(ledger.used(b"alice", &sha, None), 2);
        assert_eq!(ledger.used(b"alice", &sha.to_uppercase(), None), 2);
        assert_eq!(ledger.used(b"alice", &sha, Some(from_unix(150))), 1);
        assert_eq!(ledger.used(b"bob", &sha, None), 0);
        // Recording receipts does not move the sync position; a completed sync does.
        assert_eq!(ledger.position("st")?, None);
        ledger.set_synced("st", &pos(7))?;
        assert_eq!(ledger.position("st")?, Some(pos(7)));
        ledger.set_synced("st", &pos(12))?;
        assert_eq!(ledger.position("st")?, Some(pos(12)));
        assert_eq!(ledger.position("other")?, None);
        Ok(())
    }

    #[test]
    fn statistics_rows_carry_the_station_name_once_known() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Ledger(e.to_string()))?;
        let ledger = SqliteLedger::open(&dir.path().join(LEDGER_FILE))?;
        ledger.grant(&copy("old", b"alice", 100))?;
        ledger.grant(&copy("a", b"alice", 200))?;
        ledger.receipt(&copy("b", b"bob", 300), "verify_failed", &pos(3))?;
        let rows = ledger.copies_since(from_unix(150))?;
        let ids: Vec<_> = rows.iter().map(|r| r.at).collect();
        assert_eq!(
            ids,
            [from_unix(300), from_unix(200)],
            "newest first, none before since"
        );
        assert_eq!(rows[0].result.as_deref(), Some("verify_failed"));
        assert_eq!(rows[1].result, None);
        assert!(rows.iter().all(|r| r.station_name.is_none()));
        ledger.name_station("st", "dvd-1")?;
        ledger.name_station("st", "dvd-2")?;
        let rows = ledger.copies_since(from_unix(0))?;
        assert_eq!(rows.len(), 3);
        assert!(rows
            .iter()
            .all(|r| r.station_name.as_deref() == Some("dvd-2")));
        Ok(())
    }

    #[test]
    fn receipts_are_listed_per_user_newest_first_with_their_line() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Ledger(e.to_string()))?;
        let ledger = SqliteLedger::open(&dir.path().join(LEDGER_FILE))?;
        ledger.receipt(&copy("a1", b"alice", 100), "verified", &pos(1))?;
        ledger.receipt(&copy("b1", b"bob", 200), "verify_failed", &pos(2))?;
        ledger.receipt(&copy("a2", b"alice", 300), "verified", &pos(3))?;
        // A grant without receipt is no receipt.
        ledger.grant(&copy("a3", b"alice", 400))?;
        ledger.set_receipt_line("a2", "{\"event\":\"burn.receipt\"}")?;
        let alice: Vec<String> = ledger
            .receipts(Some(b"alice"), 10)?
            .into_iter()
            .map(|r| r.copy_id)
            .collect();
        assert_eq!(alice, ["a2", "a1"]);
        assert_eq!(ledger.receipts(None, 10)?.len(), 3);
        assert_eq!(ledger.receipts(None, 1)?.len(), 1);
        let a2 = ledger.receipt_of("a2")?.expect("a2");
        assert_eq!(
            a2.receipt_line.as_deref(),
            Some("{\"event\":\"burn.receipt\"}")
        );
        assert_eq!(a2.result, "verified");
        assert_eq!(ledger.receipt_of("a3")?, None);
        Ok(())
    }

    #[test]
    fn an_older_ledger_gets_the_receipt_line_column() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Ledger(e.to_string()))?;
        let path = dir.path().join(LEDGER_FILE);
        {
            let db = Connection::open(&path).map_err(db_err)?;
            db.execute_batch(
                "CREATE TABLE copies (copy_id TEXT PRIMARY KEY, user BLOB NOT NULL,
                 sha256 TEXT NOT NULL, station_id TEXT NOT NULL, at INTEGER NOT NULL,
                 granted INTEGER NOT NULL DEFAULT 0, result TEXT, station_seq INTEGER,
                 receipt_hash TEXT);
                 INSERT INTO copies (copy_id, user, sha256, station_id, at, result)
                 VALUES ('old', x'61', 'ab', 'st', 5, 'verified');",
            )
            .map_err(db_err)?;
        }
        let ledger = SqliteLedger::open(&path)?;
        let old = ledger.receipt_of("old")?.expect("old receipt");
        assert_eq!(old.receipt_line, None);
        ledger.set_receipt_line("old", "line")?;
        // Opening again does not add the column twice.
        let again = SqliteLedger::open(&path)?;
        assert_eq!(
            again
                .receipt_of("old")?
                .and_then(|r| r.receipt_line)
                .as_deref(),
            Some("line")
        );
        Ok(())
    }

    #[test]
    fn the_ledger_survives_reopening() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Ledger(e.to_string()))?;
        let path = dir.path().join(LEDGER_FILE);
        SqliteLedger::open(&path)?.grant(&copy("a", b"alice", 100))?;
        let again = SqliteLedger::open(&path)?;
        assert_eq!(again.copies()?, 1);
        assert_eq!(again.used(b"alice", &"ab".repeat(32), None), 1);
        Ok(())
    }
}
