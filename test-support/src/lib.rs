//! The test harnesses shared by the proto, router and worker tests, as h2
//! keeps its own in `tests/h2-support`.
//!
//! It owns what more than one crate's tests need: the sans-IO [`pair`] of
//! sessions on a virtual clock, [`fields`] to build header blocks, and, with
//! the `live` feature, real components started for real — a test router
//! (`fake_router`), a worker that sends exactly what it is told
//! (`bad_worker`), the router and worker binaries as processes
//! (`router_process`, `process`) and HTTP clients (`http`). Every wait
//! has a deadline (`wait`). It must not hold assertions about behaviour:
//! those stay in the tests that read like the spec; and it is never a
//! dependency of shipped code.
//!
//! Without `live` it builds on `zroute-proto` alone, so the protocol crate's
//! tests stay free of tokio and ZeroMQ.

#![allow(
    unreachable_pub,
    missing_debug_implementations,
    reason = "a test-only crate: its items are for the tests that import them"
)]

pub mod fields;
pub mod pair;

#[cfg(feature = "live")]
pub mod bad_worker;
#[cfg(feature = "live")]
pub mod cert;
#[cfg(feature = "live")]
pub mod fake_router;
#[cfg(feature = "live")]
pub mod http;
#[cfg(feature = "live")]
pub mod process;
#[cfg(feature = "live")]
pub mod router_process;
#[cfg(feature = "live")]
pub mod wait;
