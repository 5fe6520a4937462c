//! Any bytes as one direction of WebSocket records (body: proto/tests/fuzzing, `websocket_records`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzzing/mod.rs"]
mod fuzzing;

fuzz_target!(|data: &[u8]| fuzzing::websocket_records(data));
