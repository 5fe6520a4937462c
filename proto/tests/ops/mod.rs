//! Random operation scripts against a `Pair`, decoded from raw bytes so the
//! same interpreter serves the proptest (`session_ops.rs`, on stable, in CI)
//! and the cargo-fuzz target (`proto/fuzz/fuzz_targets/session.rs`).
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

use bytes::Bytes;

use super::pair::{Dir, Pair, block, request, response};
use zroute_proto::frame::{Frame, MAX_PAYLOAD_LEN};
use zroute_proto::session::{Event, RouterConfig, WorkerConfig};
use zroute_proto::{GoAwayStatus, RstCode, StreamId};

/// Reads small numbers off the script; a short script just ends early.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
}

pub fn run(data: &[u8]) {
    let mut s = Script(data);
    let Some(knobs) = s.byte() else { return };
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

    while let Some(op) = s.byte() {
        let arg = s.byte().unwrap_or(0);
        let pick = |streams: &[StreamId]| {
            streams
                .get(usize::from(arg) % streams.len().max(1))
                .copied()
        };
        let wire_before = pair.wire.len();
        match op % 16 {
            0 => {
                if pair.router.as_ref().is_some_and(|r| r.can_open_stream()) {
                    let fin = arg & 1 == 0;
                    let head = if fin {
                        request("GET", "/", &[])
                    } else {
                        request("POST", "/echo", &[])
                    };
                    if let Ok(id) = pair.router().open_stream(head, fin) {
                        streams.push(id);
                    }
                }
            }
            1 => {
                if let (Some(id), Some(r)) = (pick(&streams), pair.router.as_mut()) {
                    let len = r.send_capacity(id).min(usize::from(arg) * 97);
                    let _ = r.send_data(id, Bytes::from(vec![b'u'; len]), arg & 1 == 1);
                }
            }
            2 => {
                if let (Some(id), Some(r)) = (pick(&streams), pair.router.as_mut()) {
                    r.reset(id, RstCode::CANCEL);
                }
            }
            3 => {
                if let Some(id) = pick(&streams) {
                    let _ = pair.worker.reply(
                        id,
                        response(200 + u16::from(arg % 4), &[]),
                        arg & 1 == 1,
                    );
                }
            }
            4 => {
                if let Some(id) = pick(&streams) {
                    let len = pair.worker.send_capacity(id).min(usize::from(arg) * 131);
                    let _ = pair
                        .worker
                        .send_data(id, Bytes::from(vec![b'd'; len]), arg & 1 == 1);
                }
            }
            5 => {
                if let Some(id) = pick(&streams) {
                    let _ = pair.worker.send_trailers(id, block(&[("x-t", "1")]));
                }
            }
            6 => {
                // Consume whatever arrived.
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
            7 => pair.worker.go_away(GoAwayStatus::OK),
            8 => {
                if let Some(r) = pair.router.as_mut() {
                    r.go_away(GoAwayStatus::OK);
                }
            }
            9 => {
                let _ = pair.worker.set_capacity(u32::from(arg % 5));
            }
            10 => pair.advance(Duration::from_millis(u64::from(arg) * 4)),
            11 | 12 => {
                let len = usize::from(arg % 48);
                let mut part = s.bytes(len).unwrap_or_default().to_vec();
                // Give most parts a consistent header so they reach the handlers.
                if part.len() >= 8 {
                    if part[0] & 0x80 != 0 {
                        part[0] = 0x80;
                        part[1] = 3;
                    }
                    let body = (part.len() - 8) as u32;
                    part[5..8].copy_from_slice(&body.to_be_bytes()[1..]);
                }
                let dir = if op % 16 == 11 {
                    Dir::ToWorker
                } else {
                    Dir::ToRouter
                };
                pair.inject(dir, part);
            }
            13 => pair.restart_router(),
            14 => {
                if pair.worker.is_closed() {
                    pair.reregister(&WorkerConfig::new("fuzz-again"));
                    streams.clear();
                }
            }
            _ => pair.loss = f64::from(arg % 4) / 10.0,
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
