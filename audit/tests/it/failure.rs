//! Fail closed: a failed write or fsync poisons the log; what it leaves behind is handled.

use burnstand_audit::{verify, AuditLog, Error, OpenOptions, Problem, TestOnlyFailure};

use crate::common::{sample_event, tmp_log, write_log};

#[test]
fn failed_write_poisons_the_log_and_leaves_a_torn_tail() {
    let (_dir, path) = tmp_log();
    let mut log = OpenOptions::new()
        .test_only_failure(TestOnlyFailure::Write {
            on_append: 3,
            partial_bytes: 40,
        })
        .open(&path)
        .unwrap();
    assert_eq!(log.append(&sample_event(1)).unwrap().seq, 1);
    assert_eq!(log.append(&sample_event(2)).unwrap().seq, 2);
    assert!(log.is_healthy());

    let err = log.append(&sample_event(3)).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("refuse new sessions"), "{err}");
    assert!(!log.is_healthy());

    let size = std::fs::metadata(&path).unwrap().len();
    for i in 4..7 {
        let err = log.append(&sample_event(i)).unwrap_err();
        match &err {
            Error::Poisoned { cause, .. } => {
                assert!(cause.contains("write of record 3 failed"), "{cause}")
            }
            other => panic!("expected Poisoned, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        size,
        "a poisoned log writes nothing"
    );
    drop(log);

    let report = verify(&path).unwrap();
    assert_eq!(report.problem, Some(Problem::TornTail { line: 3, len: 40 }));
    assert_eq!(report.records, 2);
    assert!(matches!(
        AuditLog::open(&path),
        Err(Error::TornTail {
            line: 3,
            len: 40,
            ..
        })
    ));

    let mut log = AuditLog::open_repairing(&path).unwrap();
    assert!(log.is_healthy());
    // Record 3 is the repair's own record of the cut.
    assert_eq!(log.last_seq(), 3);
    assert_eq!(log.append(&sample_event(4)).unwrap().seq, 4);
    drop(log);
    assert!(verify(&path).unwrap().is_ok());
}

#[test]
fn write_failing_before_any_byte_leaves_an_intact_log() {
    let (_dir, path) = tmp_log();
    write_log(&path, 2);
    let mut log = OpenOptions::new()
        .test_only_failure(TestOnlyFailure::Write {
            on_append: 1,
            partial_bytes: 0,
        })
        .open(&path)
        .unwrap();
    assert!(matches!(
        log.append(&sample_event(3)),
        Err(Error::Write { .. })
    ));
    assert!(matches!(
        log.append(&sample_event(3)),
        Err(Error::Poisoned { .. })
    ));
    drop(log);
    let report = verify(&path).unwrap();
    assert!(report.is_ok());
    assert_eq!(report.records, 2);
}

#[test]
fn failed_fsync_poisons_the_log() {
    let (_dir, path) = tmp_log();
    let mut log = OpenOptions::new()
        .test_only_failure(TestOnlyFailure::Sync { on_append: 2 })
        .open(&path)
        .unwrap();
    log.append(&sample_event(1)).unwrap();
    let err = log.append(&sample_event(2)).unwrap_err();
    assert!(matches!(err, Error::Sync { .. }), "{err:?}");
    assert!(!log.is_healthy());
    let err = log.append(&sample_event(3)).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err:?}");
    assert!(
        err.to_string().contains("fsync of record 2 failed"),
        "{err}"
    );
    drop(log);
    // The line itself was written whole: it is a valid record that was never acknowledged
    // (the safe direction: recorded but not acknowledged, never the reverse).
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, 2);
}
