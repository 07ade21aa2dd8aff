//! `Authorization` header values: Basic, Bearer, anything else.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::http::fuzzing::authorization(data));
