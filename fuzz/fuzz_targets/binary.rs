//! Fuzz target `binary`: see `larder_fuzz::check_binary` for the invariants it asserts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| larder_fuzz::check_binary(data));
