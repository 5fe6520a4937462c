//! Any bytes as a frame stream, in arbitrary cuts, under default and small
//! limits (body: zmtp/tests/fuzzing, `frames`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::frames(data));
