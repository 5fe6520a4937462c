//! Any bytes as a peer's greeting, whole and in arbitrary cuts
//! (body: zmtp/tests/fuzzing, `greeting`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::greeting(data));
