//! Unit tests of [`super::verdict`]: what a copy's result means for its drive and the job.
use super::*;

fn station(code: ErrorCode, text: &str) -> Result<(), ClientError> {
    Err(ClientError::Station {
        station: "s".into(),
        code,
        text: text.into(),
    })
}

#[test]
fn burned_copies_end_as_the_station_said() {
    assert_eq!(verdict(&Ok(()), true, true, false), Verdict::Verified);
    let failed = Err(ClientError::VerifyFailed {
        failed: 1,
        copies: 1,
    });
    assert_eq!(verdict(&failed, true, true, false), Verdict::VerifyFailed);
    let burn_failed = station(ErrorCode::BurnFailed, "xorriso: FAILURE");
    assert_eq!(verdict(&burn_failed, true, true, false), Verdict::Failed);
    let ctrl_c = Err(ClientError::Interrupted("x".into()));
    assert_eq!(verdict(&ctrl_c, false, true, false), Verdict::Cancelled);
}

#[test]
fn a_lost_connection_after_burn_is_a_failed_copy_never_burned_twice() {
    let lost = Err(ClientError::ConnectionLost("closed".into()));
    assert_eq!(verdict(&lost, false, true, false), Verdict::Failed);
    assert_eq!(verdict(&lost, false, false, false), Verdict::Refused);
}

#[test]
fn refusals_before_the_start_go_back_unless_the_policy_says_no() {
    let quota = station(
        ErrorCode::Denied,
        "the master refused the copy: quota used up",
    );
    assert_eq!(verdict(&quota, false, true, true), Verdict::Quota);
    let unreachable = station(
        ErrorCode::Denied,
        "this image is limited and the master that counts its copies cannot be reached from the station right now",
    );
    assert_eq!(verdict(&unreachable, false, true, false), Verdict::Refused);
    let busy = station(ErrorCode::Busy, "this session is already burning");
    assert_eq!(verdict(&busy, false, true, true), Verdict::Busy);
    assert_eq!(verdict(&busy, false, true, false), Verdict::Refused);
    let no_disc = station(ErrorCode::NoMedium, "no burnable disc");
    assert_eq!(verdict(&no_disc, false, true, true), Verdict::NeedsDisc);
    assert_eq!(verdict(&no_disc, false, true, false), Verdict::Refused);
    let unknown = station(ErrorCode::UnknownImage, "no image");
    assert_eq!(verdict(&unknown, false, true, false), Verdict::Refused);
}
