//! Any bytes as a peer's stream into a `Connection` of either role, with
//! sends, pings and polls between reads (body: zmtp/tests/fuzzing,
//! `connection`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::connection(data));
