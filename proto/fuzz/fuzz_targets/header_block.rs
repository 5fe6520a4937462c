//! Any bytes as a name/value block (body: proto/tests/fuzzing, `header_block`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::header_block(data));
