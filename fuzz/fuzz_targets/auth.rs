//! Fuzz target `auth`: see `larder_fuzz::check_auth` for the invariants it asserts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| larder_fuzz::check_auth(data));
