//! The router's side of a worker connection, fed an `Arbitrary` list of
//! worker parts and HTTP-side commands (body: proto/tests/fuzzing,
//! `router_frames`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::router_frames(data));
