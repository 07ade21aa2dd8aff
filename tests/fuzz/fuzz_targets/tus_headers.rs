//! The tus request headers (version, lengths, metadata, checksum).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::http::fuzzing::tus_headers(data));
