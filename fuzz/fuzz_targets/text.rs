//! Fuzz target `text`: see `larder_fuzz::check_text` for the invariants it asserts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| larder_fuzz::check_text(data));
