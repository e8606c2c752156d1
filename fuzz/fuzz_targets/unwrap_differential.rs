#![no_main]
//! cargo fuzz run unwrap_differential — the body is burnstand_fuzz::unwrap_differential (Rust's
//! RFC 4121 unwrap against MIT's on mutated tokens; starts a kdc-test realm on first use),
//! which the corpus replay test also runs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| burnstand_fuzz::unwrap_differential(data));
