//! Any bytes as a frame (body: proto/tests/fuzzing, `decode_frame`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::decode_frame(data));
