//! Random operation scripts against a `Pair` (a router session and a worker
//! session, so both roles): an `Arbitrary` list of `Op`s, decoded from raw
//! bytes so the same interpreter serves the proptest (`session_ops.rs`, on
//! stable, in CI) and the cargo-fuzz target (`proto/fuzz/fuzz_targets/session.rs`).
//!
//! What must hold whatever the script: nothing panics, the harness never
//! livelocks, no session sends a frame above the size limit, and one input
//! part never makes a session send more than a handful of frames.

#![allow(
    dead_code,
    reason = "shared with the fuzz crate, which uses only `run`"
)]
#![allow(
    unreachable_pub,
    reason = "a test-only module shared by several crates"
)]

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;

use zroute_proto::frame::{Frame, MAX_PAYLOAD_LEN};
use zroute_proto::session::{Event, RouterConfig, WorkerConfig};
use zroute_proto::{GoAwayStatus, RstCode, StreamId};
use zroute_test_support::fields::{block, request, response};
use zroute_test_support::pair::{Dir, Pair};

/// How the pair is set up: window sizes, concurrency, latency, reordering.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Knobs(pub u8);

/// One step of a script: a command to either session, a delivery policy, a
/// clock advance, or a raw part injected towards either side.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    /// The router opens a stream (GET with FIN, or a POST to stream into).
    Open {
        get: bool,
    },
    /// The router sends request body bytes (up to its window).
    Upload {
        stream: u8,
        len: u8,
        fin: bool,
    },
    /// The router resets a stream (CANCEL).
    Cancel {
        stream: u8,
    },
    /// The worker answers a stream.
    Reply {
        stream: u8,
        status: u8,
        fin: bool,
    },
    /// The worker sends response body bytes (up to its window).
    Respond {
        stream: u8,
        len: u8,
        fin: bool,
    },
    /// The worker ends a stream with trailers.
    Trailers {
        stream: u8,
    },
    /// Both sides consume what arrived (and so release window).
    Consume,
    WorkerGoAway,
    RouterGoAway,
    SetCapacity(u8),
    Advance {
        ms: u8,
    },
    /// Up to 48 raw bytes towards the worker or the router; most get a
    /// consistent frame header so they reach the handlers.
    Inject {
        to_worker: bool,
        part: Vec<u8>,
    },
    RestartRouter,
    Reregister,
    Loss(u8),
}

/// Runs a script decoded from raw bytes, as cargo-fuzz and proptest give.
pub fn run(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let Ok(knobs) = Knobs::arbitrary(&mut input) else {
        return;
    };
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(input) else {
        return;
    };
    run_ops(knobs, &ops);
}

pub fn run_ops(Knobs(knobs): Knobs, ops: &[Op]) {
    let mut worker = WorkerConfig::new("fuzz");
    worker.max_concurrent_streams = u32::from(knobs % 4) + 1;
    worker.initial_window_size = 1 << (8 + knobs % 9);
    let router = RouterConfig {
        heartbeat_interval: Duration::from_millis(100),
        initial_window_size: 1 << (8 + (knobs >> 4) % 9),
        ..RouterConfig::default()
    };
    let mut pair = Pair::new(worker, router);
    pair.latency = Duration::from_millis(u64::from(knobs % 3));
    pair.reorder = knobs & 0x80 != 0;
    pair.drive();
    let mut streams: Vec<StreamId> = Vec::new();

    for op in ops {
        let pick = |streams: &[StreamId], n: u8| {
            streams.get(usize::from(n) % streams.len().max(1)).copied()
        };
        let wire_before = pair.wire.len();
        match *op {
            Op::Open { get } => {
                if pair.router.as_ref().is_some_and(|r| r.can_open_stream()) {
                    let head = if get {
                        request("GET", "/", &[])
                    } else {
                        request("POST", "/echo", &[])
                    };
                    if let Ok(id) = pair.router().open_stream(head, get) {
                        streams.push(id);
                    }
                }
            }
            Op::Upload { stream, len, fin } => {
                if let (Some(id), Some(r)) = (pick(&streams, stream), pair.router.as_mut()) {
                    let len = r.send_capacity(id).min(usize::from(len) * 97);
                    let _ = r.send_data(id, Bytes::from(vec![b'u'; len]), fin);
                }
            }
            Op::Cancel { stream } => {
                if let (Some(id), Some(r)) = (pick(&streams, stream), pair.router.as_mut()) {
                    r.reset(id, RstCode::CANCEL);
                }
            }
            Op::Reply {
                stream,
                status,
                fin,
            } => {
                if let Some(id) = pick(&streams, stream) {
                    let _ = pair
                        .worker
                        .reply(id, response(200 + u16::from(status % 4), &[]), fin);
                }
            }
            Op::Respond { stream, len, fin } => {
                if let Some(id) = pick(&streams, stream) {
                    let len = pair.worker.send_capacity(id).min(usize::from(len) * 131);
                    let _ = pair.worker.send_data(id, Bytes::from(vec![b'd'; len]), fin);
                }
            }
            Op::Trailers { stream } => {
                if let Some(id) = pick(&streams, stream) {
                    let _ = pair.worker.send_trailers(id, block(&[("x-t", "1")]));
                }
            }
            Op::Consume => {
                for e in pair.take_worker_events() {
                    if let Event::Data { id, data, .. } = e {
                        pair.worker.release_capacity(id, data.len());
                    }
                }
                for e in pair.take_router_events() {
                    if let (Event::Data { id, data, .. }, Some(r)) = (e, pair.router.as_mut()) {
                        r.release_capacity(id, data.len());
                    }
                }
            }
            Op::WorkerGoAway => pair.worker.go_away(GoAwayStatus::OK),
            Op::RouterGoAway => {
                if let Some(r) = pair.router.as_mut() {
                    r.go_away(GoAwayStatus::OK);
                }
            }
            Op::SetCapacity(n) => {
                let _ = pair.worker.set_capacity(u32::from(n % 5));
            }
            Op::Advance { ms } => pair.advance(Duration::from_millis(u64::from(ms) * 4)),
            Op::Inject {
                to_worker,
                ref part,
            } => {
                let mut part = part[..part.len().min(48)].to_vec();
                if part.len() >= 8 {
                    if part[0] & 0x80 != 0 {
                        part[0] = 0x80;
                        part[1] = 3;
                    }
                    let body = (part.len() - 8) as u32;
                    part[5..8].copy_from_slice(&body.to_be_bytes()[1..]);
                }
                let dir = if to_worker {
                    Dir::ToWorker
                } else {
                    Dir::ToRouter
                };
                pair.inject(dir, part);
            }
            Op::RestartRouter => pair.restart_router(),
            Op::Reregister => {
                if pair.worker.is_closed() {
                    pair.reregister(&WorkerConfig::new("fuzz-again"));
                    streams.clear();
                }
            }
            Op::Loss(n) => pair.loss = f64::from(n % 4) / 10.0,
        }
        pair.drive();
        for (_, _, frame) in &pair.wire[wire_before..] {
            assert!(
                frame.encoded_len() <= 8 + MAX_PAYLOAD_LEN,
                "oversized frame sent: {}",
                frame.type_name()
            );
            if let Frame::Data(d) = frame {
                assert!(!d.stream_id().is_zero(), "DATA on stream 0");
            }
        }
    }
    pair.advance(Duration::from_secs(1));
}
