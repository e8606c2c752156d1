//! The async wrapper: concurrent appends serialize into one valid chain; health is shared.

use std::collections::BTreeSet;

use burnstand_audit::{
    line_hash, read_records, verify, AuditLog, Error, Event, OpenOptions, SharedAuditLog,
    TestOnlyFailure,
};

use crate::common::{read_lines, sample_event, tmp_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_appends_make_one_valid_chain() {
    let (_dir, path) = tmp_log();
    let shared = SharedAuditLog::new(AuditLog::open(&path).unwrap());
    let tasks: Vec<_> = (0..100u64)
        .map(|task| {
            let shared = shared.clone();
            tokio::spawn(async move {
                shared
                    .append(Event::new("bind").field("task", task))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut appended = Vec::new();
    for t in tasks {
        appended.push(t.await.unwrap());
    }
    assert!(shared.is_healthy());

    let seqs: BTreeSet<u64> = appended.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (1..=100).collect());

    // Each future resolved with its own record's hash: it was on disk by then.
    let lines = read_lines(&path);
    for a in &appended {
        assert_eq!(a.hash, line_hash(lines[a.seq as usize - 1].as_bytes()));
    }

    let last = appended.iter().max_by_key(|a| a.seq).unwrap();
    assert!(verify(&path).unwrap().ends_at(100, &last.hash));
    let records = read_records(&path).unwrap();
    let got_seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(got_seqs, (1..=100).collect::<Vec<_>>());
    let tasks: BTreeSet<u64> = records.iter().map(|r| r.get_u64("task").unwrap()).collect();
    assert_eq!(tasks, (0..100).collect());
}

#[tokio::test]
async fn failure_turns_every_clone_unhealthy() {
    let (_dir, path) = tmp_log();
    let log = OpenOptions::new()
        .test_only_failure(TestOnlyFailure::Sync { on_append: 2 })
        .open(&path)
        .unwrap();
    let shared = SharedAuditLog::from(log);
    let other = shared.clone();
    shared.append(sample_event(1)).await.unwrap();
    assert!(other.is_healthy());
    assert!(matches!(
        shared.append(sample_event(2)).await,
        Err(Error::Sync { .. })
    ));
    assert!(!other.is_healthy());
    assert!(matches!(
        other.append(sample_event(3)).await,
        Err(Error::Poisoned { .. })
    ));
}
