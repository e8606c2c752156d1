#![no_main]
//! cargo fuzz run burner_parser — the body is burnstand_fuzz::burner_parser, which the corpus replay test also runs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| burnstand_fuzz::burner_parser(data));
