//! Fuzz target `config`: see `larder_fuzz::check_config` for the invariants it asserts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| larder_fuzz::check_config(data));
