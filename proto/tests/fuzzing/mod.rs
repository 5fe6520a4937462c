//! The bodies of the cargo-fuzz targets (proto/fuzz/fuzz_targets), kept here
//! so that a stable test (`fuzz_corpus.rs`) runs every committed seed and
//! regression input through the very same code in CI, without nightly.
//!
//! Each body takes the raw fuzzer input; the structured ones read it through
//! `arbitrary::Unstructured`, exactly as `fuzz_target!(|ops: Vec<Op>| ..)`
//! would.

#![allow(
    dead_code,
    reason = "each fuzz target uses one body; the stable test uses them all"
)]
#![allow(
    unreachable_pub,
    reason = "a test-only module shared by several crates"
)]

use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{BufMut, Bytes, BytesMut};

use zroute_proto::frame::{
    Data, Frame, GoAway, HeaderBlock, Headers, Hello, MAX_PAYLOAD_LEN, MAX_WINDOW, Ping, RstStream,
    Setting, Settings, SynReply, WindowUpdate,
};
use zroute_proto::session::{Event, RouterConfig, UnknownPeer};
use zroute_proto::{GoAwayStatus, RstCode, Session, SettingId, StreamId, http, mapping};
use zroute_test_support::fields::{block, request};

/// The names of the targets, as in proto/fuzz/Cargo.toml.
pub const TARGETS: &[&str] = &[
    "decode_frame",
    "header_block",
    "session",
    "router_frames",
    "websocket_records",
];

/// Any bytes as one direction of a WebSocket stream's DATA (spec
/// #websocket-records), cut at a point the input chooses: reading must not
/// panic, must give the same records whatever the cut, and every record read
/// must encode back to the bytes it came from.
pub fn websocket_records(data: &[u8]) {
    use zroute_proto::websocket::{Record, RecordReader};
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(rest.len());
    let read = |parts: &[&[u8]]| {
        let mut reader = RecordReader::new(1024);
        let mut records: Vec<Record> = Vec::new();
        for part in parts {
            reader.push(part);
            loop {
                match reader.next_record() {
                    Ok(Some(record)) => records.push(record),
                    Ok(None) => break,
                    Err(e) => return (records, Some(e)),
                }
            }
        }
        let end = reader.finish().err();
        (records, end)
    };
    let whole = read(&[rest]);
    let split = read(&[&rest[..cut], &rest[cut..]]);
    assert_eq!(whole, split, "the cut changed what was read");
    let encoded: Vec<u8> = whole.0.iter().flat_map(|r| r.encode().to_vec()).collect();
    assert!(
        rest.starts_with(&encoded),
        "records do not encode back to their bytes"
    );
}

/// Any bytes: decoding must not panic, and a decoded frame must survive its
/// own round trip (reserved bits may be dropped, nothing else may change).
pub fn decode_frame(data: &[u8]) {
    let Ok(frame) = Frame::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let encoded = frame.to_bytes();
    assert_eq!(
        encoded.len(),
        data.len(),
        "re-encoding changed the frame's size"
    );
    assert_eq!(encoded.len(), frame.encoded_len());
    let again = Frame::decode(encoded).expect("a re-encoded frame decodes");
    assert_eq!(again, frame);
}

/// Any bytes as the name/value block of a HEADERS frame (the block decoder
/// is reached through the public frame decoder, as a peer reaches it). A
/// block that decodes must re-encode to the same bytes, and the HTTP
/// mappings the router and workers apply to it must not panic.
pub fn header_block(data: &[u8]) {
    let Some(len) = u32::try_from(4 + data.len())
        .ok()
        .filter(|&l| l as usize <= MAX_PAYLOAD_LEN)
    else {
        return;
    };
    let mut part = BytesMut::with_capacity(12 + data.len());
    part.put_slice(&[0x80, 3, 0, 8, Headers::FLAG_FIN]);
    part.put_slice(&len.to_be_bytes()[1..]);
    part.put_u32(1);
    part.put_slice(data);
    let Ok(Frame::Headers(frame)) = Frame::decode(part.freeze()) else {
        return;
    };
    let block = frame.headers();
    assert_eq!(block.encoded_len(), data.len(), "block length changed");
    for (name, value) in block.iter() {
        assert!(!name.is_empty(), "empty name accepted");
        assert!(
            !name.iter().any(u8::is_ascii_uppercase),
            "uppercase name accepted"
        );
        let _ = value;
    }
    let _ = http::check_request(block);
    let _ = http::check_response(block, false);
    let _ = http::check_trailers(block);
    let _ = mapping::request_from_block(block);
    let _ = mapping::response_from_block(block);
    let _ = mapping::trailers_from_block(block);
    let again = Frame::decode(Frame::from(frame.clone()).to_bytes()).expect("re-encoded block");
    assert_eq!(again, Frame::Headers(frame));
}

/// What a worker (or anything that connects to the router's socket) can
/// send, and what the router's HTTP side can do meanwhile.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Any part at all.
    Raw(Vec<u8>),
    Hello {
        version: u16,
        streams: u32,
        window: u32,
        pairs: Vec<(String, String)>,
    },
    Reply {
        stream: u8,
        status: u16,
        pairs: Vec<(String, String)>,
        fin: bool,
    },
    Data {
        stream: u8,
        len: u16,
        fin: bool,
    },
    Trailers {
        stream: u8,
        pairs: Vec<(String, String)>,
    },
    Reset {
        stream: u8,
        code: u32,
    },
    Window {
        stream: u8,
        delta: u32,
    },
    Ping(u32),
    GoAway {
        last: u8,
        status: u32,
    },
    Settings(Vec<(u8, u32, u32)>),
    /// The HTTP side: a request arrives.
    Open {
        upload: bool,
    },
    /// The HTTP side: request body bytes.
    Upload {
        stream: u8,
        len: u16,
        fin: bool,
    },
    /// The HTTP side: the client went away.
    Cancel {
        stream: u8,
    },
    /// The HTTP side: a body chunk was written to the client.
    Release {
        stream: u8,
        len: u16,
    },
    Advance {
        ms: u16,
    },
    Drain,
}

/// The router's side of one worker connection, driven as the dispatcher
/// drives it (router/src/dispatch): parts from an unknown peer go through
/// `UnknownPeer::classify` and `Session::accept`, parts from a known one
/// through `handle_part`; events are mapped to HTTP as the router does.
/// Nothing may panic, and one part may make the router send only a
/// bounded number of bounded frames.
pub fn router_frames(data: &[u8]) {
    let input = Unstructured::new(data);
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(input) else {
        return;
    };
    let config = RouterConfig {
        heartbeat_interval: Duration::from_millis(100),
        initial_window_size: 4096,
        ..RouterConfig::default()
    };
    #[allow(
        clippy::disallowed_methods,
        reason = "the virtual clock starts from one real instant"
    )]
    let mut now = Instant::now();
    let mut session: Option<Session> = None;
    let mut sessions = 0_u32;
    let mut streams: Vec<StreamId> = Vec::new();
    let pick = |streams: &[StreamId], n: u8| -> StreamId {
        streams
            .get(usize::from(n))
            .copied()
            .unwrap_or_else(|| StreamId::new(u32::from(n) * 2 + 1))
    };
    for op in ops {
        let part: Option<Bytes> = match op {
            Op::Raw(bytes) => Some(bytes.into()),
            Op::Hello {
                version,
                streams,
                window,
                pairs,
            } => {
                let mut attributes = block(&[("id", "fuzz"), ("routes", "/")]);
                extend(&mut attributes, &pairs);
                Some(Frame::from(Hello::new(version % 3, streams, window, attributes)).to_bytes())
            }
            Op::Reply {
                stream,
                status,
                pairs,
                fin,
            } => {
                let mut headers = HeaderBlock::new();
                let _ = headers.insert(":status", status.to_string());
                extend(&mut headers, &pairs);
                let mut reply = SynReply::new(pick(&streams, stream), headers);
                reply.set_fin(fin);
                Some(Frame::from(reply).to_bytes())
            }
            Op::Data { stream, len, fin } => {
                let mut frame = Data::new(
                    pick(&streams, stream),
                    Bytes::from(vec![b'd'; usize::from(len)]),
                );
                frame.set_fin(fin);
                Some(Frame::from(frame).to_bytes())
            }
            Op::Trailers { stream, pairs } => {
                let mut headers = HeaderBlock::new();
                extend(&mut headers, &pairs);
                Some(Frame::from(Headers::trailers(pick(&streams, stream), headers)).to_bytes())
            }
            Op::Reset { stream, code } => Some(
                Frame::from(RstStream::new(
                    pick(&streams, stream),
                    RstCode::from_wire(code % 16),
                ))
                .to_bytes(),
            ),
            Op::Window { stream, delta } => {
                let id = if stream == 0 {
                    StreamId::ZERO
                } else {
                    pick(&streams, stream - 1)
                };
                if (1..=MAX_WINDOW).contains(&delta) {
                    Some(Frame::from(WindowUpdate::new(id, delta)).to_bytes())
                } else {
                    // Out of range: the constructor refuses it, a peer need not.
                    let mut part = BytesMut::with_capacity(16);
                    part.put_slice(&[0x80, 3, 0, 9, 0, 0, 0, 8]);
                    part.put_u32(id.get());
                    part.put_u32(delta);
                    Some(part.freeze())
                }
            }
            Op::Ping(id) => Some(Frame::from(Ping::new(id)).to_bytes()),
            Op::GoAway { last, status } => Some(
                Frame::from(GoAway::new(
                    pick(&streams, last),
                    GoAwayStatus::from_wire(status % 8),
                ))
                .to_bytes(),
            ),
            Op::Settings(entries) => {
                let mut settings = Settings::new();
                for (flags, id, value) in entries.into_iter().take(16) {
                    settings.push_entry(Setting {
                        flags,
                        id: SettingId::from_wire(id % 12),
                        value,
                    });
                }
                Some(Frame::from(settings).to_bytes())
            }
            Op::Open { upload } => {
                if let Some(s) = session.as_mut().filter(|s| s.can_open_stream()) {
                    let head = if upload {
                        request("POST", "/echo", &[])
                    } else {
                        request("GET", "/", &[])
                    };
                    if let Ok(id) = s.open_stream(head, !upload) {
                        streams.push(id);
                    }
                }
                None
            }
            Op::Upload { stream, len, fin } => {
                if let Some(s) = session.as_mut() {
                    let id = pick(&streams, stream);
                    let len = s.send_capacity(id).min(usize::from(len));
                    let _ = s.send_data(id, Bytes::from(vec![b'u'; len]), fin);
                }
                None
            }
            Op::Cancel { stream } => {
                if let Some(s) = session.as_mut() {
                    s.reset(pick(&streams, stream), RstCode::CANCEL);
                }
                None
            }
            Op::Release { stream, len } => {
                if let Some(s) = session.as_mut() {
                    s.release_capacity(pick(&streams, stream), usize::from(len));
                }
                None
            }
            Op::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                None
            }
            Op::Drain => {
                if let Some(s) = session.as_mut() {
                    s.go_away(GoAwayStatus::OK);
                }
                None
            }
        };
        if let Some(part) = part {
            match session.as_mut().filter(|s| !s.is_closed()) {
                Some(s) => s.handle_part(now, part),
                None => match UnknownPeer::classify(part) {
                    UnknownPeer::Hello(hello) => {
                        sessions += 1;
                        match Session::accept(&config, hello, &format!("fuzz-{sessions}"), now) {
                            Ok(s) => {
                                session = Some(s);
                                streams.clear();
                            }
                            Err(rejection) => check_sent(&rejection.frame()),
                        }
                    }
                    UnknownPeer::Answer(frame) => check_sent(&frame),
                    UnknownPeer::Ignore => {}
                },
            }
        }
        let Some(s) = session.as_mut() else { continue };
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.handle_timeout(now);
        }
        let mut sent = 0;
        while let Some(frame) = s.poll_transmit(now) {
            check_sent(&frame);
            sent += 1;
            assert!(sent <= 64, "one input made the router send {sent} frames");
        }
        while let Some(event) = s.poll_event() {
            match event {
                Event::Response { headers, .. } => {
                    let status = http::check_response(&headers, false).map_or(502, |i| i.status);
                    let _ = http::is_bodiless(false, status);
                    let _ = mapping::response_from_block(&headers);
                }
                Event::Trailers { headers, .. } => {
                    let _ = mapping::trailers_from_block(&headers);
                }
                Event::Data { id, data, .. } => {
                    assert!(data.len() <= MAX_PAYLOAD_LEN);
                    s.release_capacity(id, data.len());
                }
                _ => {}
            }
        }
    }
}

fn extend(block: &mut HeaderBlock, pairs: &[(String, String)]) {
    for (name, value) in pairs.iter().take(8) {
        let _ = block.insert(name.clone(), value.clone());
    }
}

fn check_sent(frame: &Frame) {
    assert!(
        frame.encoded_len() <= 8 + MAX_PAYLOAD_LEN,
        "oversized frame sent: {}",
        frame.type_name()
    );
    let bytes = frame.to_bytes();
    assert_eq!(
        Frame::decode(bytes).as_ref(),
        Ok(frame),
        "the router sent a frame it cannot decode itself"
    );
}
