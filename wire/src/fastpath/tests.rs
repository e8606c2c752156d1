//! Unit tests of the fast path: known answers, round trips, and refusals.

use super::vectors;
use super::*;

#[test]
fn nfold_matches_rfc_3961() {
    vectors::check_nfold().unwrap();
}

#[test]
fn aes_cts_matches_rfc_3962() {
    vectors::check_cts().unwrap();
}

#[test]
fn key_derivation_matches_mit_and_rfc_8009() {
    vectors::check_derive().unwrap();
}

#[test]
fn encryption_matches_mit_and_rfc_8009() {
    vectors::check_encryptions().unwrap();
}

#[test]
fn self_test_passes() {
    self_test().unwrap();
}
