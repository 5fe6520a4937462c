//! Drives a router session and a worker session through random scripts of
//! commands, deliveries, timeouts and garbage parts (see proto/tests/ops).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/ops/mod.rs"]
mod ops;

fuzz_target!(|data: &[u8]| ops::run(data));
