//! One writer per log: the exclusive flock.

use burnstand_audit::{verify, AuditLog, Error};

use crate::common::{sample_event, tmp_log};

#[test]
fn second_open_is_refused_while_the_first_is_alive() {
    let (_dir, path) = tmp_log();
    let mut first = AuditLog::open(&path).unwrap();
    first.append(&sample_event(1)).unwrap();

    for second in [AuditLog::open(&path), AuditLog::open_repairing(&path)] {
        let err = second.unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err:?}");
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
    }
    // Readers take no lock.
    assert!(verify(&path).unwrap().is_ok());

    first.append(&sample_event(2)).unwrap();
    drop(first);
    let mut again = AuditLog::open(&path).unwrap();
    assert_eq!(again.append(&sample_event(3)).unwrap().seq, 3);
}
