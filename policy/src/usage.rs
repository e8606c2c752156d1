//! Counting copies: every `burn.receipt` audit record is one copy used by
//! (user's exported name, image SHA-256), whatever its result — a cancelled or failed burn
//! may still have left restricted data on a disc.
//!
//! A station builds a [`UsageIndex`] from its own log at start-up and feeds it every receipt
//! it appends (a second check behind the master's copy grants, `docs/protocol.md` §5.9). A
//! burn is identified by its **copy id**, the UUID the station gives each copy before asking
//! for its grant, so a copy recorded twice (relayed and pushed, or synced again) counts once.
//! Receipts written before copy ids existed are named by their station and `seq` instead.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::SystemTime;

use burnstand_audit::Record;

use crate::error::PolicyError;

/// The audit event that records one copy.
pub const RECEIPT_EVENT: &str = "burn.receipt";

/// Most burns an index holds (about 200 bytes each: 40 MB at the limit). Beyond it the index
/// is saturated and reports every quota as used up: failing closed, and loudly, beats
/// miscounting. A lab burning a thousand discs a day reaches it after five centuries.
pub const MAX_USAGE_ENTRIES: usize = 200_000;

/// Copies used, for quota decisions.
pub trait Usage {
    /// Copies of `sha256` burned by the user with exported name `user` whose receipt ended
    /// at or after `since` (all of them when `None`).
    fn used(&self, user: &[u8], sha256: &str, since: Option<SystemTime>) -> u32;
}

/// One burn, as a receipt describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burn {
    /// The copy's UUID (or `station#seq` for a receipt from before copy ids).
    pub copy_id: String,
    /// The user's exported name (decoded from the record's hex).
    pub user: Vec<u8>,
    /// Lower-case hex SHA-256 of the image.
    pub sha256: String,
    /// When the copy ended.
    pub end: SystemTime,
}

impl Burn {
    /// The burn a `burn.receipt` record describes; `None` for other records and for receipts
    /// that lack a field (which `burnstand audit verify` would still accept as a record).
    pub fn from_record(record: &Record) -> Option<Burn> {
        if record.event != RECEIPT_EVENT {
            return None;
        }
        let copy_id = match record.get_str("copy_id") {
            Some(id) => id.to_owned(),
            None => format!(
                "{}#{}",
                record.get_str("station")?,
                record.get_u64("station_seq").unwrap_or(record.seq)
            ),
        };
        Some(Burn {
            copy_id,
            user: hex::decode(record.get_str("user_exported")?).ok()?,
            sha256: record.get_str("sha256")?.to_ascii_lowercase(),
            end: humantime::parse_rfc3339(record.get_str("end")?).ok()?,
        })
    }
}

/// Burns by (user, image), deduplicated by copy id.
#[derive(Debug, Default)]
pub struct UsageIndex {
    by_user: HashMap<Vec<u8>, Vec<Burn>>,
    seen: HashSet<String>,
    saturated: bool,
}

impl UsageIndex {
    /// An empty index.
    pub fn new() -> Self {
        UsageIndex::default()
    }

    /// Indexes every receipt of the log at `path` and of its rotated segments (a missing
    /// file is an empty log): rotation does not reset anyone's quota.
    pub fn from_log(path: &Path) -> Result<UsageIndex, PolicyError> {
        let mut index = UsageIndex::new();
        burnstand_audit::scan_log_strict(path, |record, _| {
            if let Some(burn) = Burn::from_record(record) {
                index.record(burn);
            }
        })?;
        Ok(index)
    }

    /// Counts one burn (again: a burn already counted is ignored).
    pub fn record(&mut self, burn: Burn) {
        if self.seen.len() >= MAX_USAGE_ENTRIES {
            if !self.saturated {
                tracing::error!(
                    max = MAX_USAGE_ENTRIES,
                    "usage index full: every quota now counts as used up"
                );
            }
            self.saturated = true;
            return;
        }
        if self.seen.insert(burn.copy_id.clone()) {
            self.by_user
                .entry(burn.user.clone())
                .or_default()
                .push(burn);
        }
    }

    /// The burns known for one user, newest first (for telling a station what the master
    /// knows, most relevant first).
    pub fn burns_of(&self, user: &[u8]) -> Vec<&Burn> {
        let mut burns: Vec<&Burn> = self.by_user.get(user).into_iter().flatten().collect();
        burns.sort_by_key(|b| std::cmp::Reverse(b.end));
        burns
    }

    /// How many burns are indexed.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no burn is indexed.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

impl Usage for UsageIndex {
    fn used(&self, user: &[u8], sha256: &str, since: Option<SystemTime>) -> u32 {
        if self.saturated {
            return u32::MAX;
        }
        let Some(burns) = self.by_user.get(user) else {
            return 0;
        };
        let n = burns
            .iter()
            .filter(|b| b.sha256.eq_ignore_ascii_case(sha256))
            .filter(|b| match since {
                None => true,
                Some(since) => b.end >= since,
            })
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}
