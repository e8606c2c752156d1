#![no_main]
//! cargo fuzz run datastream_roundtrip — the body is burnstand_fuzz::datastream_roundtrip, which the corpus replay test also runs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| burnstand_fuzz::datastream_roundtrip(data));
