#![no_main]
//! cargo fuzz run command_parser — the body is burnstand_fuzz::command_parser, which the corpus replay test also runs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| burnstand_fuzz::command_parser(data));
