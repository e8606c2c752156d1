//! Unit tests of [`super`] (the job report and the job's outcome).
use super::*;
use crate::receipt::CopyResult;
use burnstand_wire::burner::ErrorCode;

fn base() -> Receipt {
    let image = burnstand_wire::burner::ImageInfo {
        id: "exam".into(),
        name: "Exam".into(),
        size: 10,
        sha256: burnstand_wire::burner::Sha256([0; 32]),
        md5: burnstand_wire::burner::Md5([0; 16]),
        restricted: true,
    };
    let mut r = Receipt::for_image(&image, 1);
    r.station_id = "s1".into();
    r.station_name = "Station 1".into();
    r
}

fn burned(copy: u32, state: CopyState) -> CopyEntry {
    let mut r = base();
    r.copies.push(CopyResult {
        copy: 1,
        passed: state == CopyState::Verified,
        bytes: 10,
        readback_md5: "ab".into(),
    });
    r.problem = (state != CopyState::Verified).then(|| "the connection closed\n  more".into());
    CopyEntry::burned(copy, state, &r)
}

fn report(copies: Vec<CopyEntry>, requested: u32) -> JobReport {
    let mut report = JobReport::new(&base(), requested, requested);
    report.copies = copies;
    report
}

#[test]
fn every_copy_verified_is_success() {
    let mut r = report(
        vec![
            burned(2, CopyState::Verified),
            burned(1, CopyState::Verified),
        ],
        2,
    );
    assert!(r.conclude(Ending::default()).is_ok());
    assert_eq!(r.result, BurnResult::Verified);
    assert_eq!((r.verified, r.copies[0].copy), (2, 1), "sorted by copy");
    let text = r.human();
    assert!(text.contains("VERIFIED: all 2 discs"), "{text}");
    assert!(
        text.contains("copy 1/2        verified on Station 1"),
        "{text}"
    );
}

#[test]
fn a_failed_copy_is_exit_code_25_and_named() {
    let mut r = report(
        vec![
            burned(1, CopyState::Verified),
            burned(2, CopyState::Failed),
            CopyEntry::not_burned(3, "no drive was left"),
        ],
        3,
    );
    let e = r.conclude(Ending::default()).unwrap_err();
    assert_eq!((e.exit_code(), e.name()), (25, "copies_failed"));
    let text = e.to_string();
    assert!(
        text.contains("only 1 of 3 copies verified: copy 2 failed on Station 1 (the connection closed); copy 3 not burned (no drive was left)"),
        "{text}"
    );
    assert!(text.contains("burnstand burn exam --copies 2"), "{text}");
    assert_eq!(r.result, BurnResult::Failed);
    assert!(r
        .human()
        .contains("copy 2/3        FAILED on Station 1: the connection closed"));
}

#[test]
fn verify_failures_then_quota_then_drive_errors_decide_the_code() {
    let quota = || ClientError::Station {
        station: "Station 2".into(),
        code: ErrorCode::Denied,
        text: "quota used up".into(),
    };
    let mut r = report(
        vec![
            burned(1, CopyState::VerifyFailed),
            CopyEntry::not_burned(2, "quota"),
        ],
        2,
    );
    let ending = Ending {
        quota: Some(quota()),
        ..Ending::default()
    };
    assert_eq!(r.conclude(ending).unwrap_err().exit_code(), 21);

    let mut r = report(
        vec![
            burned(1, CopyState::Verified),
            CopyEntry::not_burned(2, "quota"),
        ],
        2,
    );
    let ending = Ending {
        quota: Some(quota()),
        ..Ending::default()
    };
    assert_eq!(r.conclude(ending).unwrap_err().exit_code(), 16);

    // Nothing burned at all: the drives' first error, as a one-station burn would say it.
    let mut r = report(vec![CopyEntry::not_burned(1, "no disc")], 1);
    let ending = Ending {
        drive_errors: vec![ClientError::Station {
            station: "Station 1".into(),
            code: ErrorCode::NoMedium,
            text: "no disc".into(),
        }],
        ..Ending::default()
    };
    assert_eq!(r.conclude(ending).unwrap_err().exit_code(), 18);
}

#[test]
fn ctrl_c_wins_and_the_job_reads_cancelled() {
    let mut r = report(
        vec![
            burned(1, CopyState::Verified),
            burned(2, CopyState::Cancelled),
        ],
        2,
    );
    let ending = Ending {
        interrupted: true,
        ..Ending::default()
    };
    assert_eq!(r.conclude(ending).unwrap_err().exit_code(), 130);
    assert_eq!(r.result, BurnResult::Cancelled);
    assert!(r.human().contains("CANCELLED on Station 1"));
}
