//! Reading audit logs, and waiting for a record that other tasks or processes append.

use std::path::Path;
use std::time::Duration;

use burnstand_audit::Record;

/// The records of an audit log; empty while it does not exist (or a line is being written).
pub fn read_records(path: &Path) -> Vec<Record> {
    burnstand_audit::read_records(path).unwrap_or_default()
}

/// Keeps reading the audit log at `path` until a record satisfies `pred`, and returns all its
/// records then: how a test waits for one without sleeping. Panics if none comes within
/// `bound` (a hang guard).
pub async fn wait_for_record(
    bound: Duration,
    path: &Path,
    pred: impl Fn(&Record) -> bool,
) -> Vec<Record> {
    crate::within(bound, "an audit record", async {
        loop {
            if let Ok(records) = burnstand_audit::read_records(path) {
                if records.iter().any(&pred) {
                    return records;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Events of the records, for readable assertions.
pub fn events(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.event.as_str()).collect()
}
