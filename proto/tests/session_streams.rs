//! Spec sections: #streams, #stream-ids, #stream-states, #stream-request, #stream-response,
//! #stream-reset, #stream-closed, #capacity, #http-request, #http-response, #http-body,
//! #frame-size, #header-block-limits.

use bytes::Bytes;
use zroute_proto::frame::{Data, Frame, Headers, RstStream, SynReply, SynStream};
use zroute_proto::session::{
    CommandError, Event, ResetOrigin, RouterConfig, StreamState, WorkerConfig,
};
use zroute_proto::{FrameType, HeaderBlock, RstCode, StreamId};
use zroute_test_support::fields::{block, request, response};
use zroute_test_support::pair::{Dir, Pair, body_of};

fn id(n: u32) -> StreamId {
    StreamId::new(n)
}

/// spec: #stream-request, #stream-response, #stream-states — a GET and its streamed answer.
#[test]
fn get_with_streamed_response() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("GET", "/hello", &[]), true)
        .unwrap();
    assert_eq!(sid, id(1));
    assert_eq!(
        pair.router().stream_state(sid),
        Some(StreamState::HalfClosedLocal)
    );
    pair.drive();
    let events = pair.take_worker_events();
    let [
        Event::Request {
            id: got,
            headers,
            fin: true,
        },
    ] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*got, sid);
    assert_eq!(headers.get(":path").unwrap(), "/hello");
    assert_eq!(
        pair.worker.stream_state(sid),
        Some(StreamState::HalfClosedRemote)
    );

    pair.worker
        .reply(sid, response(200, &[("content-type", "text/plain")]), false)
        .unwrap();
    pair.worker
        .send_data(sid, Bytes::from_static(b"Hello "), false)
        .unwrap();
    pair.worker
        .send_data(sid, Bytes::from_static(b"world"), true)
        .unwrap();
    assert_eq!(
        pair.worker.open_streams(),
        0,
        "both sides finished: the worker forgets the stream"
    );
    pair.drive();
    let events = pair.take_router_events();
    assert!(
        matches!(&events[0], Event::Response { fin: false, headers, .. } if headers.get(":status").unwrap() == "200")
    );
    assert_eq!(body_of(&events, sid), (b"Hello world".to_vec(), true));
    assert_eq!(pair.router().open_streams(), 0);
}

/// spec: #stream-ids — ids are odd and increasing.
#[test]
fn stream_ids_are_odd_and_increasing() {
    let mut pair = Pair::established();
    let ids: Vec<u32> = (0..4)
        .map(|_| {
            pair.router()
                .open_stream(request("GET", "/", &[]), true)
                .unwrap()
                .get()
        })
        .collect();
    assert_eq!(ids, [1, 3, 5, 7]);
}

/// spec: #stream-ids — a SYN_STREAM whose id does not increase is a session error.
#[test]
fn reused_stream_id_is_a_session_error() {
    let mut pair = Pair::established();
    pair.router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.drive();
    pair.inject(
        Dir::ToWorker,
        Frame::from(SynStream::new(id(1), request("GET", "/", &[]))).to_bytes(),
    );
    pair.drive();
    assert!(pair.worker.is_closed());
    assert!(pair.sent(Dir::ToRouter).any(|f| matches!(f, Frame::GoAway(g) if g.status() == zroute_proto::GoAwayStatus::PROTOCOL_ERROR)));
}

/// spec: #stream-ids — workers never open streams: the router resets a worker's SYN_STREAM.
#[test]
fn worker_syn_stream_is_reset() {
    let mut pair = Pair::established();
    pair.inject(
        Dir::ToRouter,
        Frame::from(SynStream::new(id(2), request("GET", "/", &[]))).to_bytes(),
    );
    pair.drive();
    assert!(pair.sent(Dir::ToWorker).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id() == id(2) && r.code() == RstCode::PROTOCOL_ERROR)));
    assert!(!pair.router().is_closed());
}

/// spec: #stream-request — a POST body and request trailers reach the worker.
#[test]
fn upload_with_request_trailers() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("POST", "/echo", &[("content-length", "6")]), false)
        .unwrap();
    pair.router()
        .send_data(sid, Bytes::from_static(b"abc"), false)
        .unwrap();
    pair.router()
        .send_data(sid, Bytes::from_static(b"def"), false)
        .unwrap();
    pair.router()
        .send_trailers(sid, block(&[("x-checksum", "1")]))
        .unwrap();
    pair.drive();
    let events = pair.take_worker_events();
    assert_eq!(body_of(&events, sid), (b"abcdef".to_vec(), false));
    assert!(
        matches!(events.last(), Some(Event::Trailers { headers, .. }) if headers.get("x-checksum").unwrap() == "1")
    );
    assert_eq!(
        pair.worker.stream_state(sid),
        Some(StreamState::HalfClosedRemote)
    );
}

/// spec: #stream-response — response trailers travel as HEADERS with FIN.
#[test]
fn response_trailers() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/trailers");
    pair.worker.reply(sid, response(200, &[]), false).unwrap();
    pair.worker
        .send_data(sid, Bytes::from_static(b"ok"), false)
        .unwrap();
    pair.worker
        .send_trailers(sid, block(&[("x-trailer", "done")]))
        .unwrap();
    pair.drive();
    let sent_trailers = pair.sent(Dir::ToRouter).find_map(|f| match f {
        Frame::Headers(h) => Some(h.clone()),
        _ => None,
    });
    assert!(sent_trailers.unwrap().is_fin());
    let events = pair.take_router_events();
    assert!(
        matches!(events.last(), Some(Event::Trailers { headers, .. }) if headers.get("x-trailer").unwrap() == "done")
    );
    assert_eq!(pair.router().open_streams(), 0);
}

/// spec: #stream-reset — a client gone becomes CANCEL; the worker hears it and never answers an RST with an RST.
#[test]
fn router_cancel_reaches_worker() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/slow");
    pair.take_worker_events();
    pair.router().reset(sid, RstCode::CANCEL);
    pair.drive();
    assert_eq!(
        pair.take_worker_events(),
        [Event::Reset {
            id: sid,
            code: RstCode::CANCEL,
            origin: ResetOrigin::Peer
        }]
    );
    // A late reply races the RST: the router ignores it, and nobody sends another RST.
    assert_eq!(
        pair.worker.reply(sid, response(200, &[]), true),
        Err(CommandError::UnknownStream)
    );
    pair.inject(
        Dir::ToRouter,
        Frame::from(RstStream::new(sid, RstCode::CANCEL)).to_bytes(),
    );
    pair.drive();
    let rsts = pair
        .wire
        .iter()
        .filter(|(_, _, f)| matches!(f, Frame::RstStream(_)))
        .count();
    assert_eq!(rsts, 1, "only the router's CANCEL");
}

/// spec: #stream-closed — frames on a closed stream are ignored; on a never-opened one they get INVALID_STREAM.
#[test]
fn closed_versus_never_opened() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.worker.reply(sid, response(204, &[]), true).unwrap();
    pair.drive();
    pair.take_router_events();
    pair.clear_wire();

    pair.inject(
        Dir::ToRouter,
        Frame::from(Data::new(sid, Bytes::from_static(b"late"))).to_bytes(),
    );
    pair.drive();
    assert!(
        pair.sent(Dir::ToWorker)
            .all(|f| !matches!(f, Frame::RstStream(_))),
        "closed stream: ignored"
    );

    let mut reply = SynReply::new(id(99), response(200, &[]));
    reply.set_fin(true);
    pair.inject(Dir::ToRouter, Frame::from(reply).to_bytes());
    pair.drive();
    assert!(pair.sent(Dir::ToWorker).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id() == id(99) && r.code() == RstCode::INVALID_STREAM)));
    assert!(!pair.router().is_closed());
}

/// spec: #capacity — the router stays within the worker's capacity; a worker refuses what exceeds it.
#[test]
fn capacity_and_refused_stream() {
    let mut config = WorkerConfig::new("w");
    config.max_concurrent_streams = 2;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    pair.router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    pair.router()
        .open_stream(request("GET", "/", &[]), true)
        .unwrap();
    assert!(!pair.router().can_open_stream());
    assert_eq!(
        pair.router().open_stream(request("GET", "/", &[]), true),
        Err(CommandError::AtCapacity)
    );
    pair.drive();
    // A router that ignored the capacity would send this one:
    pair.inject(
        Dir::ToWorker,
        Frame::from(SynStream::new(id(5), request("GET", "/", &[]))).to_bytes(),
    );
    pair.drive();
    assert!(pair.sent(Dir::ToRouter).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id() == id(5) && r.code() == RstCode::REFUSED_STREAM)));
}

/// spec: #syn-stream-checks — at capacity, a malformed block is still PROTOCOL_ERROR
/// (step 3 comes before step 4), but a bad request head is REFUSED_STREAM (step 4
/// comes before step 6).
#[test]
fn syn_stream_check_order() {
    let mut config = WorkerConfig::new("w");
    config.max_concurrent_streams = 1;
    let mut pair = Pair::established_with(config, RouterConfig::default());
    pair.open_get("/slow");
    pair.drive();

    let names: Vec<String> = (0..200).map(|i| format!("x-h{i}")).collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    pair.inject(
        Dir::ToWorker,
        Frame::from(SynStream::new(id(3), block(&pairs))).to_bytes(),
    );
    let no_host = block(&[(":method", "GET"), (":path", "/"), (":version", "HTTP/1.1")]);
    pair.inject(
        Dir::ToWorker,
        Frame::from(SynStream::new(id(5), no_host)).to_bytes(),
    );
    pair.drive();
    let code_of = |pair: &Pair, stream: StreamId| {
        pair.sent(Dir::ToRouter).find_map(|f| match f {
            Frame::RstStream(r) if r.stream_id() == stream => Some(r.code()),
            _ => None,
        })
    };
    assert_eq!(code_of(&pair, id(3)), Some(RstCode::PROTOCOL_ERROR));
    assert_eq!(code_of(&pair, id(5)), Some(RstCode::REFUSED_STREAM));
    assert!(!pair.worker.is_closed());
}

/// spec: #capacity — SETTINGS MAX_CONCURRENT_STREAMS changes the capacity at runtime.
#[test]
fn capacity_changes_at_runtime() {
    let mut pair = Pair::established();
    pair.worker.set_capacity(0).unwrap();
    pair.drive();
    assert_eq!(
        pair.take_router_events(),
        [Event::CapacityChanged { capacity: 0 }]
    );
    assert!(!pair.router().can_open_stream());
    pair.worker.set_capacity(3).unwrap();
    pair.drive();
    assert!(pair.router().can_open_stream());
}

/// spec: #http-response — a SYN_REPLY without :status resets the stream, and the session lives on.
#[test]
fn reply_without_status_is_reset() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.inject(
        Dir::ToRouter,
        Frame::from(SynReply::new(sid, block(&[(":version", "HTTP/1.1")]))).to_bytes(),
    );
    pair.drive();
    let events = pair.take_router_events();
    assert!(
        matches!(events.as_slice(), [Event::Reset {
            id,
            code: RstCode::PROTOCOL_ERROR,
            origin: ResetOrigin::Local(error),
        }] if *id == sid && error.frame_type == Some(FrameType::SYN_REPLY)),
        "{events:?}"
    );
    assert!(
        pair.sent(Dir::ToWorker)
            .any(|f| matches!(f, Frame::RstStream(r) if r.code() == RstCode::PROTOCOL_ERROR))
    );
    assert!(pair.router().can_open_stream());
}

/// spec: #stream-response — ordering errors: DATA before SYN_REPLY, a second SYN_REPLY, HEADERS without FIN, DATA after FIN.
#[test]
fn response_ordering_errors() {
    type Case = (&'static str, fn(StreamId) -> Vec<Frame>, RstCode);
    let cases: [Case; 4] = [
        (
            "data before reply",
            |s| vec![Data::new(s, Bytes::from_static(b"x")).into()],
            RstCode::PROTOCOL_ERROR,
        ),
        (
            "second reply",
            |s| {
                vec![
                    SynReply::new(s, response(200, &[])).into(),
                    SynReply::new(s, response(200, &[])).into(),
                ]
            },
            RstCode::STREAM_IN_USE,
        ),
        (
            "headers without fin",
            |s| {
                let mut h = Headers::trailers(s, block(&[("x", "1")]));
                h.set_fin(false);
                vec![SynReply::new(s, response(200, &[])).into(), h.into()]
            },
            RstCode::PROTOCOL_ERROR,
        ),
        (
            "data after fin",
            |s| {
                let mut d = Data::new(s, Bytes::new());
                d.set_fin(true);
                vec![
                    SynReply::new(s, response(200, &[])).into(),
                    d.into(),
                    Data::new(s, Bytes::from_static(b"x")).into(),
                ]
            },
            RstCode::STREAM_ALREADY_CLOSED,
        ),
    ];
    for (name, frames, code) in cases {
        let mut pair = Pair::established();
        // Keep the request open so the stream is still active after the worker's FIN.
        let sid = pair
            .router()
            .open_stream(request("POST", "/", &[]), false)
            .unwrap();
        pair.drive();
        pair.clear_wire();
        for f in frames(sid) {
            pair.inject(Dir::ToRouter, f.to_bytes());
        }
        pair.drive();
        let rst = pair.sent(Dir::ToWorker).find_map(|f| match f {
            Frame::RstStream(r) => Some(r.code()),
            _ => None,
        });
        assert_eq!(rst, Some(code), "{name}");
        assert!(!pair.router().is_closed(), "{name}: the session survives");
    }
}

/// A GET answered, as raw frames from the worker, with `content-length:
/// declared` and one DATA frame of `sent`; returns the stream and the
/// router's events.
fn reply_with_length(
    pair: &mut Pair,
    declared: &str,
    sent: &[u8],
    fin: bool,
) -> (StreamId, Vec<Event>) {
    let sid = pair.open_get("/");
    pair.inject(
        Dir::ToRouter,
        Frame::from(SynReply::new(
            sid,
            response(200, &[("content-length", declared)]),
        ))
        .to_bytes(),
    );
    let mut data = Data::new(sid, Bytes::copy_from_slice(sent));
    data.set_fin(fin);
    pair.inject(Dir::ToRouter, Frame::from(data).to_bytes());
    pair.drive();
    (sid, pair.take_router_events())
}

/// The last event is the router's own RST_STREAM(PROTOCOL_ERROR).
fn assert_local_protocol_reset(events: &[Event]) {
    assert!(
        matches!(
            events.last(),
            Some(Event::Reset {
                code: RstCode::PROTOCOL_ERROR,
                origin: ResetOrigin::Local(_),
                ..
            })
        ),
        "{events:?}"
    );
}

/// spec: #http-response — content-length binds the body; a mismatch resets the stream.
#[test]
fn content_length_mismatch_is_reset() {
    let mut pair = Pair::established();
    let (_, events) = reply_with_length(&mut pair, "5", b"abc", true);
    assert_local_protocol_reset(&events);
    // The worker's own session refuses to send such a body.
    let sid = pair.open_get("/");
    pair.worker
        .reply(sid, response(200, &[("content-length", "5")]), false)
        .unwrap();
    assert_eq!(
        pair.worker.send_data(sid, Bytes::from_static(b"abc"), true),
        Err(CommandError::InvalidMessage)
    );
}

/// spec: #http-body — the bytes within a declared length are passed on
/// before the stream error, whether the body runs past the length or ends
/// short of it.
#[test]
fn content_length_mismatch_passes_on_the_declared_bytes() {
    let mut pair = Pair::established();
    for (declared, sent, fin, passed) in [
        ("5", &b"0123456789abcdefghij"[..], false, &b"01234"[..]),
        ("100", &b"0123456789"[..], true, &b"0123456789"[..]),
    ] {
        let (sid, events) = reply_with_length(&mut pair, declared, sent, fin);
        assert_eq!(
            body_of(&events, sid),
            (passed.to_vec(), false),
            "{events:?}"
        );
        assert_local_protocol_reset(&events);
        // The stream is gone (its bytes were credited with it): a late
        // release is ignored.
        pair.router().release_capacity(sid, passed.len());
        pair.drive();
    }
}

/// spec: #http-response — HEAD responses may declare a length and carry no body.
#[test]
fn head_response_keeps_content_length() {
    let mut pair = Pair::established();
    let sid = pair
        .router()
        .open_stream(request("HEAD", "/large", &[]), true)
        .unwrap();
    pair.drive();
    pair.worker
        .reply(sid, response(200, &[("content-length", "1048576")]), true)
        .unwrap();
    pair.drive();
    assert!(matches!(
        pair.take_router_events()[..],
        [Event::Response { fin: true, .. }]
    ));
}

/// spec: #http-request — a request breaking the mapping rules is reset, not delivered.
#[test]
fn bad_request_heads_are_reset() {
    let mut pair = Pair::established();
    for (n, bad) in [block(&[(":method", "GET"), (":path", "/")]), {
        let mut r = request("GET", "/", &[]);
        r.insert("transfer-encoding", "chunked").unwrap();
        r
    }]
    .into_iter()
    .enumerate()
    {
        let sid = id(101 + 2 * n as u32);
        pair.inject(
            Dir::ToWorker,
            Frame::from(SynStream::new(sid, bad)).to_bytes(),
        );
        pair.drive();
        assert!(
            pair.sent(Dir::ToRouter).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id() == sid && r.code() == RstCode::PROTOCOL_ERROR)),
            "case {n}"
        );
    }
    assert!(
        pair.take_worker_events()
            .iter()
            .all(|e| !matches!(e, Event::Request { .. }))
    );
}

/// spec: #http-body — the content-length rule is waived for HEAD responses and 304 only: a 204
/// whose content-length promises bytes it never sends is a stream error, and a worker cannot
/// send one.
#[test]
fn no_content_response_keeps_the_content_length_rule() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    assert_eq!(
        pair.worker
            .reply(sid, response(204, &[("content-length", "5")]), true),
        Err(CommandError::InvalidMessage)
    );
    let mut reply = SynReply::new(sid, response(204, &[("content-length", "5")]));
    reply.set_fin(true);
    pair.inject(Dir::ToRouter, Frame::from(reply).to_bytes());
    pair.drive();
    assert!(pair.sent(Dir::ToWorker).any(|f| matches!(f, Frame::RstStream(r) if r.stream_id() == sid && r.code() == RstCode::PROTOCOL_ERROR)));

    // A 304 may describe a body it does not send.
    let sid = pair.open_get("/");
    pair.worker
        .reply(sid, response(304, &[("content-length", "5")]), true)
        .unwrap();
    pair.drive();
    assert_eq!(pair.router().open_streams(), 0);
}

/// spec: #http-request, #http-response — the sender rules on heads: no `host` field in a
/// request, and `:version` in every response.
#[test]
fn sender_rules_on_heads() {
    let mut pair = Pair::established();
    assert_eq!(
        pair.router()
            .open_stream(request("GET", "/", &[("host", "example.com")]), true),
        Err(CommandError::InvalidMessage)
    );
    let sid = pair.open_get("/");
    assert_eq!(
        pair.worker.reply(sid, block(&[(":status", "200")]), true),
        Err(CommandError::InvalidMessage)
    );
    pair.worker.reply(sid, response(200, &[]), true).unwrap();
}

/// spec: #frame-size — a head or trailer block that would not fit in one 65,536-byte payload
/// is refused before anything is sent.
#[test]
fn heads_must_fit_in_one_frame() {
    let big = "x".repeat(65_536);
    let mut pair = Pair::established();
    assert_eq!(
        pair.router()
            .open_stream(request("POST", "/", &[("x-big", &big)]), false),
        Err(CommandError::InvalidMessage)
    );
    let sid = pair
        .router()
        .open_stream(request("POST", "/", &[]), false)
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.router().send_trailers(sid, block(&[("x-big", &big)])),
        Err(CommandError::InvalidMessage)
    );
    assert_eq!(
        pair.worker
            .reply(sid, response(200, &[("x-big", &big)]), false),
        Err(CommandError::InvalidMessage)
    );
    pair.worker.reply(sid, response(200, &[]), false).unwrap();
    assert_eq!(
        pair.worker.send_trailers(sid, block(&[("x-big", &big)])),
        Err(CommandError::InvalidMessage)
    );
    pair.drive();
    assert!(
        pair.wire
            .iter()
            .all(|(_, _, f)| f.encoded_len() <= 8 + 65_536)
    );
}

fn many_pairs(base: HeaderBlock, total: usize) -> HeaderBlock {
    let mut b = base;
    let mut i = 0;
    while b.len() < total {
        b.insert(format!("x-h-{i}"), "1").unwrap();
        i += 1;
    }
    b
}

/// spec: #header-block-limits — a block with more pairs than the receiver's limit (default 100)
/// is malformed: the router resets such a SYN_REPLY, the worker such a SYN_STREAM, whose id
/// is then used up.
#[test]
fn blocks_over_the_pair_limits_are_stream_errors() {
    let mut pair = Pair::established();
    let sid = pair.open_get("/");
    pair.take_router_events();
    pair.inject(
        Dir::ToRouter,
        Frame::from(SynReply::new(sid, many_pairs(response(200, &[]), 101))).to_bytes(),
    );
    pair.drive();
    let events = pair.take_router_events();
    assert!(
        matches!(events.as_slice(), [Event::Reset {
            id,
            code: RstCode::PROTOCOL_ERROR,
            origin: ResetOrigin::Local(error),
        }] if *id == sid && error.frame_type == Some(FrameType::SYN_REPLY)),
        "{events:?}"
    );

    pair.clear_wire();
    pair.take_worker_events();
    let next = id(sid.get() + 2);
    let syn = SynStream::new(next, many_pairs(request("GET", "/", &[]), 129));
    pair.inject(Dir::ToWorker, Frame::from(syn).to_bytes());
    pair.inject(
        Dir::ToWorker,
        Frame::from(Data::new(next, Bytes::from_static(b"x"))).to_bytes(),
    );
    pair.drive();
    let rsts: Vec<_> = pair
        .sent(Dir::ToRouter)
        .filter_map(|f| match f {
            Frame::RstStream(r) => Some((r.stream_id(), r.code())),
            _ => None,
        })
        .collect();
    assert_eq!(
        rsts,
        [(next, RstCode::PROTOCOL_ERROR)],
        "DATA after it is ignored"
    );
    assert!(
        pair.take_worker_events()
            .iter()
            .all(|e| !matches!(e, Event::Request { .. }))
    );
    assert!(pair.worker.is_established() && !pair.router().is_closed());
}

/// spec: #header-block-limits — the pair limit is configurable on both sides, and 100 pairs
/// pass by default.
#[test]
fn pair_limit_is_configurable() {
    let mut worker = WorkerConfig::new("w");
    worker.max_header_pairs = 150;
    let router = RouterConfig {
        max_header_pairs: 150,
        ..RouterConfig::default()
    };
    let mut pair = Pair::established_with(worker, router);
    let sid = pair
        .router()
        .open_stream(many_pairs(request("GET", "/", &[]), 150), true)
        .unwrap();
    pair.drive();
    pair.worker
        .reply(sid, many_pairs(response(200, &[]), 150), true)
        .unwrap();
    pair.drive();
    let router_events = pair.take_router_events();
    assert!(matches!(
        router_events[..],
        [Event::Response { fin: true, .. }]
    ));

    let mut pair = Pair::established();
    pair.router()
        .open_stream(many_pairs(request("GET", "/", &[]), 100), true)
        .unwrap();
    pair.drive();
    assert!(matches!(
        pair.take_worker_events()[..],
        [Event::Request { .. }]
    ));
}
