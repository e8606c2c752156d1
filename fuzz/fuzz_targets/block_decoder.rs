#![no_main]
//! cargo fuzz run block_decoder — the body is burnstand_fuzz::block_decoder, which the corpus replay test also runs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| burnstand_fuzz::block_decoder(data));
