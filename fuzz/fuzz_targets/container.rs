//! The container parsers on arbitrary bytes (see [`neco_fuzz::check_container`]).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| neco_fuzz::check_container(data));
