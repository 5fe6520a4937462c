//! Any bytes as a command body and as READY metadata; what parses
//! round-trips (body: zmtp/tests/fuzzing, `commands`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::commands(data));
