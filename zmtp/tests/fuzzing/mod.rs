//! The bodies of the cargo-fuzz targets (zmtp/fuzz/fuzz_targets), kept here
//! so that a stable test (`fuzz_corpus.rs`) runs every committed seed and
//! regression input through the very same code in CI, without nightly.
//!
//! Every body takes the raw fuzzer input as the octets a peer sends, so a
//! seed is a readable ZMTP byte stream. How that stream is cut into reads,
//! which limits apply, and what our side sends meanwhile are drawn with
//! `arbitrary::Unstructured` from the same input: the fuzzer steers both by
//! mutating one buffer, and the invariants say the cuts must not matter.

#![allow(
    dead_code,
    reason = "each fuzz target uses one body; the stable test uses them all"
)]
#![allow(
    unreachable_pub,
    reason = "a test-only module shared by several crates"
)]

use std::time::Duration;

use arbitrary::Unstructured;
use bytes::{Bytes, BytesMut};

use zroute_zmtp::frame::put_header;
use zroute_zmtp::{
    Command, Config, Connection, Error, Event, Flags, Frame, FrameDecoder, FrameError, Greeting,
    GreetingDecoder, GreetingError, Limits, Mechanism, Metadata, Role, SendError, SocketType,
    Version,
};

/// The names of the targets, as in zmtp/fuzz/Cargo.toml.
pub const TARGETS: &[&str] = &["greeting", "frames", "commands", "connection"];

/// Cuts `len` octets into chunk lengths (at least one octet each, summing to
/// `len`). The cap is drawn first so that one-octet reads, reads that end
/// inside a LONG size field, and whole reads all come up often.
fn cuts(u: &mut Unstructured<'_>, len: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = len;
    while rest > 0 {
        let n = if u.is_empty() {
            rest
        } else {
            let cap = *u.choose(&[1, 2, 3, 9, 64, usize::MAX]).unwrap_or(&rest);
            u.int_in_range(1..=rest.min(cap)).unwrap_or(rest)
        };
        out.push(n);
        rest -= n;
    }
    out
}

/// Small limits, so that the fuzzer reaches every bound with short inputs.
/// Zero is allowed: a bound of zero must refuse, not misbehave.
fn tight_limits(u: &mut Unstructured<'_>) -> Limits {
    let mut small = |m: u16| usize::from(u.arbitrary::<u16>().unwrap_or(0) % m);
    Limits {
        max_frame_bytes: small(1024),
        max_message_bytes: small(4096),
        max_message_parts: small(16),
        max_command_bytes: small(1024),
    }
}

// ---------------------------------------------------------------- greeting

/// Any bytes as a peer's greeting: the one-shot decoder and the incremental
/// one, fed in arbitrary cuts, agree; what is accepted is a ZMTP 3 greeting
/// with the expected mechanism, and survives re-encoding.
pub fn greeting(data: &[u8]) {
    // The mechanism the bytes name, when they are long enough to name one,
    // so that inputs get past the mechanism check as often as they fail it.
    let named = data.get(12..32).map(|raw| {
        let mut m = [0; 20];
        m.copy_from_slice(raw);
        Mechanism::from_bytes(m)
    });
    for expected in [Some(Mechanism::NULL), named].into_iter().flatten() {
        let whole = Greeting::decode(data, expected);
        let mut u = Unstructured::new(data);
        let mut decoder = GreetingDecoder::new(expected);
        let mut incremental = Ok(None);
        let mut consumed = 0;
        for n in cuts(&mut u, data.len()) {
            let mut input = &data[consumed..consumed + n];
            let before = input.len();
            incremental = decoder.decode(&mut input);
            consumed += before - input.len();
            assert!(decoder.received() <= 64, "a greeting is 64 octets");
            match &incremental {
                Ok(None) => assert!(input.is_empty(), "None with input left"),
                Ok(Some(_)) | Err(_) => break,
            }
        }
        match (&whole, &incremental) {
            (Ok(a), Ok(Some(b))) => {
                assert_eq!(a, b, "split changed the greeting");
                assert_eq!(consumed, 64, "read past the greeting");
            }
            (Err(GreetingError::Truncated { len }), Ok(None)) => {
                assert_eq!(*len, data.len());
                assert!(data.len() < 64);
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "split changed the error"),
            (a, b) => panic!("whole {a:?} but in cuts {b:?}"),
        }
        if let Ok(g) = whole {
            assert_eq!((data[0], data[9]), (0xFF, 0x7F), "bad signature accepted");
            assert!(g.version() >= Version::V3_0, "old version accepted");
            assert_eq!(g.mechanism(), expected, "other mechanism accepted");
            assert_eq!(g.as_server(), data[32] != 0);
            let mut again = Vec::new();
            g.encode(&mut again);
            assert_eq!(again.len(), 64);
            // Padding is not significant and as-server is read as a bool;
            // the rest up to as-server comes back as received.
            let mut want = data[..33].to_vec();
            want[1..9].fill(0);
            want[32] = u8::from(want[32] != 0);
            assert_eq!(again[..33], want[..]);
            assert_eq!(Greeting::decode(&again, expected), Ok(g));
        }
    }
}

// ------------------------------------------------------------------ frames

/// What a frame stream decoded to: the frames up to the first error, and it.
#[derive(Debug, PartialEq)]
struct Decoded {
    frames: Vec<(bool, bool, Bytes)>,
    error: Option<FrameError>,
}

/// Decodes `data` in the given chunk lengths, checking after every call
/// that the decoder holds no more than `limits` allow.
fn decode_frames(data: &[u8], chunks: &[usize], limits: Limits) -> Decoded {
    let mut decoder = FrameDecoder::new(limits);
    // Between calls a frame in progress holds at most its header (under 9
    // octets) or its body, which was checked against a bound before any of
    // it was kept; a refused header (9 octets) may stay in a failed decoder.
    let bound = limits.max_frame_bytes.max(limits.max_command_bytes).max(8);
    let mut out = Decoded {
        frames: Vec::new(),
        error: None,
    };
    let (mut parts, mut bytes) = (0usize, 0usize);
    let mut at = 0;
    'chunks: for &n in chunks {
        let mut input = &data[at..at + n];
        at += n;
        while !input.is_empty() {
            let result = decoder.decode(&mut input);
            let slack = if result.is_err() { 1 } else { 0 };
            assert!(
                decoder.buffered() <= bound + slack,
                "holds {} octets, above {bound} ({limits:?}, {result:?})",
                decoder.buffered()
            );
            match result {
                Err(e) => {
                    out.error = Some(e);
                    break 'chunks;
                }
                Ok(None) => assert!(input.is_empty(), "None with input left"),
                Ok(Some(frame)) => {
                    check_frame(&frame, limits, &mut parts, &mut bytes);
                    assert_eq!(decoder.in_message(), parts > 0);
                    out.frames
                        .push((frame.is_command(), frame.is_more(), frame.into_body()));
                }
            }
        }
    }
    out
}

/// A frame the decoder gave out is within the limits, and so is the
/// message it belongs to (`parts` and `bytes` so far, updated here).
fn check_frame(frame: &Frame, limits: Limits, parts: &mut usize, bytes: &mut usize) {
    let bits = frame.flags().bits();
    assert_eq!(bits & 0xF8, 0, "reserved flags accepted");
    let len = frame.body().len();
    if frame.is_command() {
        assert!(!frame.is_more(), "a command with MORE accepted");
        assert!(len <= limits.max_command_bytes, "command above its bound");
        return;
    }
    assert!(len <= limits.max_frame_bytes, "frame above its bound");
    *parts += 1;
    *bytes += len;
    assert!(*parts <= limits.max_message_parts, "too many parts");
    assert!(
        *bytes <= limits.max_message_bytes,
        "message above its bound"
    );
    if !frame.is_more() {
        (*parts, *bytes) = (0, 0);
    }
}

/// Any bytes as a frame stream, under the default limits and under small
/// arbitrary ones: decoding in arbitrary cuts, one octet at a time, or all
/// at once gives the same frames and the same error; nothing above the
/// limits is held or given out; re-encoded frames decode the same.
pub fn frames(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let chunks = cuts(&mut u, data.len());
    let tight = tight_limits(&mut u);
    for limits in [Limits::default(), tight] {
        let whole = decode_frames(data, &[data.len()], limits);
        let split = decode_frames(data, &chunks, limits);
        assert_eq!(whole, split, "the cuts changed the result");
        if data.len() <= 1024 {
            let ones = vec![1; data.len()];
            assert_eq!(whole, decode_frames(data, &ones, limits), "octet by octet");
        }
        // Our encoder writes what was decoded (short sizes where they fit);
        // decoding that gives the same frames.
        let mut again = BytesMut::new();
        for (command, more, body) in &whole.frames {
            let kind = if *command {
                Flags::COMMAND
            } else {
                Flags::NONE
            };
            put_header(&mut again, kind, *more, body.len());
            again.extend_from_slice(body);
        }
        let redone = decode_frames(&again, &[again.len()], limits);
        assert_eq!(redone.error, None, "a re-encoded frame was refused");
        assert_eq!(redone.frames, whole.frames);
    }
}

// ---------------------------------------------------------------- commands

/// Any bytes as a command frame's body, and as READY metadata: whatever
/// parses encodes back to the very same octets and parses equal.
pub fn commands(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    if let Ok(command) = Command::parse(body.clone()) {
        let mut out = BytesMut::new();
        command.encode(&mut out);
        let limits = Limits {
            max_command_bytes: data.len(),
            ..Limits::default()
        };
        let mut input = &out[..];
        let frame = FrameDecoder::new(limits)
            .decode(&mut input)
            .expect("our command frame decodes")
            .expect("our command frame is whole");
        assert!(input.is_empty(), "one frame written");
        assert!(frame.is_command() && !frame.is_more());
        assert_eq!(frame.body(), &body, "the encoding is not canonical");
        assert_eq!(Command::parse(frame.into_body()).as_ref(), Ok(&command));
        match &command {
            Command::Ping { context, .. } | Command::Pong { context } => {
                assert!(context.len() <= 16, "PING context above 16 octets")
            }
            Command::Error { reason } => assert!(reason.len() <= 255),
            _ => {}
        }
    }
    if let Ok(metadata) = Metadata::parse(body.clone()) {
        let mut out = Vec::new();
        metadata.encode(&mut out);
        assert_eq!(out, data, "metadata does not re-encode the same");
        assert_eq!(metadata.encoded_len(), data.len());
        assert_eq!(Metadata::parse(Bytes::from(out)), Ok(metadata.clone()));
        // Names are unique without case, so every name finds itself.
        for (name, value) in metadata.iter() {
            assert_eq!(metadata.get(name), Some(value), "a repeated name");
        }
        if let Some(name) = metadata.socket_type() {
            let _ = SocketType::from_name(name);
        }
        assert!(metadata.identity().is_none_or(|id| !id.is_empty()));
    }
}

// -------------------------------------------------------------- connection

/// Everything a connection did with one peer stream.
#[derive(Debug, Default)]
struct Run {
    events: Vec<Event>,
    error: Option<Error>,
    /// The octets our side wrote: greeting, commands and messages.
    out: BytesMut,
    /// The messages our side sent, in order.
    sent: Vec<Vec<Vec<u8>>>,
    /// The PING contexts our side sent.
    pings: usize,
}

/// The bound on [`Connection::buffered`]: the message in progress, plus a
/// command frame or a header read in the middle of it. CURVE widens the
/// frame bounds by its boxes' overhead (INITIATE's is the largest, under
/// 1 KiB), and once ready may frame a whole message as a command.
fn held_bound(limits: Limits, curve: bool) -> usize {
    if curve {
        limits.max_message_bytes + limits.max_command_bytes.max(limits.max_frame_bytes) + 1024
    } else {
        limits.max_message_bytes + limits.max_command_bytes.max(8)
    }
}

/// Feeds `data` to a connection in the chunks `script` draws, interleaving
/// sends, pings and polls; checks the invariants after every step.
fn drive(role: Role, config: Config, data: &[u8], script: Option<&mut Unstructured<'_>>) -> Run {
    let limits = config.limits;
    let ours = config.socket_type();
    let curve = config.mechanism() == Mechanism::CURVE;
    let mut conn = Connection::new(role, config);
    let mut run = Run::default();
    let mut at = 0;
    let mut script = script;
    loop {
        let op = match script.as_deref_mut() {
            Some(u) if !u.is_empty() => u.int_in_range(0..=5u8).unwrap_or(0),
            // Out of script: feed the rest in one read.
            _ => 0,
        };
        match op {
            0 | 1 => {
                if at == data.len() {
                    break;
                }
                let n = match script.as_deref_mut() {
                    Some(u) if !u.is_empty() => {
                        let cap = *u.choose(&[1, 9, 64, usize::MAX]).unwrap_or(&usize::MAX);
                        u.int_in_range(1..=(data.len() - at).min(cap))
                            .unwrap_or(data.len() - at)
                    }
                    _ => data.len() - at,
                };
                let result = conn.handle_bytes(&data[at..at + n]);
                at += n;
                match (&run.error, result) {
                    (None, Ok(())) => {}
                    (None, Err(e)) => run.error = Some(e),
                    (Some(first), again) => {
                        assert_eq!(again.as_ref(), Err(first), "the error is not sticky");
                    }
                }
            }
            2 => {
                let u = script.as_deref_mut().expect("op 2 comes from a script");
                let count = u.int_in_range(0..=3u8).unwrap_or(1);
                let mut parts = Vec::new();
                for _ in 0..count {
                    // Up to 300 octets: short and LONG frames both.
                    let len = usize::from(u.int_in_range(0..=300u16).unwrap_or(0));
                    parts.push(vec![u.arbitrary::<u8>().unwrap_or(0); len]);
                }
                let result = conn.send_message(&parts, &mut run.out);
                let want = if run.error.is_some() {
                    Err(SendError::Failed)
                } else if !conn.is_ready() {
                    Err(SendError::NotReady)
                } else if parts.is_empty() {
                    Err(SendError::EmptyMessage)
                } else {
                    Ok(())
                };
                assert_eq!(result, want, "send_message");
                if result.is_ok() {
                    run.sent.push(parts);
                }
            }
            3 => {
                let u = script.as_deref_mut().expect("op 3 comes from a script");
                let ttl = Duration::from_millis(u.arbitrary::<u32>().unwrap_or(0).into());
                let len = usize::from(u.int_in_range(0..=17u8).unwrap_or(0));
                let context = vec![b'c'; len];
                let result = conn.send_ping(ttl, &context, &mut run.out);
                if result.is_ok() {
                    assert!(conn.is_ready() && len <= 16, "PING sent when it may not be");
                    run.pings += 1;
                } else {
                    assert!(
                        !conn.is_ready()
                            || len > 16
                            || !conn.peer_version().is_some_and(Version::has_heartbeats),
                        "PING refused: {result:?}"
                    );
                }
            }
            4 => drain_events(&mut conn, &mut run, ours, limits),
            _ => {
                let _ = conn.poll_transmit(&mut run.out);
            }
        }
        assert!(
            conn.buffered() <= held_bound(limits, curve),
            "held above the limits"
        );
        if run.error.is_some() {
            assert_eq!(conn.error(), run.error.as_ref());
            assert!(!conn.is_ready());
            assert_eq!(conn.buffered(), 0, "a failed connection still holds octets");
        }
    }
    drain_events(&mut conn, &mut run, ours, limits);
    let _ = conn.poll_transmit(&mut run.out);
    run
}

/// Takes every pending event, checking each against the limits and the
/// order of the handshake.
fn drain_events(conn: &mut Connection, run: &mut Run, ours: SocketType, limits: Limits) {
    while let Some(event) = conn.poll_event() {
        let ready_before = run.events.iter().any(|e| matches!(e, Event::Ready(_)));
        match &event {
            Event::Ready(peer) => {
                assert!(!ready_before, "two READY events");
                assert_eq!(ours.zroute_peer(), Some(peer.socket_type()));
                if ours == SocketType::ROUTER
                    && let Some(id) = peer.identity()
                {
                    assert!(id.len() <= 255 && id[0] != 0, "bad identity accepted");
                }
            }
            Event::Message(parts) => {
                assert!(ready_before, "a message before READY");
                assert!(!parts.is_empty() && parts.len() <= limits.max_message_parts);
                assert!(parts.iter().all(|p| p.len() <= limits.max_frame_bytes));
                let total: usize = parts.iter().map(Bytes::len).sum();
                assert!(total <= limits.max_message_bytes, "message above its bound");
            }
            Event::Ping { ttl } => {
                assert!(ready_before, "a PING before READY");
                assert!(*ttl <= Duration::from_millis(u64::from(u16::MAX) * 100));
            }
            Event::Pong { context } => {
                assert!(ready_before, "a PONG before READY");
                assert!(context.len() <= 16);
            }
            _ => {}
        }
        run.events.push(event);
    }
}

/// What our side wrote must be ZMTP itself: our greeting (or its opening
/// alone, until the peer's opening is in), then command
/// frames that parse and (under NULL, where they are not boxed) the
/// messages and PINGs we sent, whole and in order.
fn check_output(run: &Run, mechanism: Mechanism) {
    let mut input = &run.out[..];
    let Some(greeting) = GreetingDecoder::new(mechanism)
        .decode(&mut input)
        .expect("our greeting decodes")
    else {
        // The rest of our greeting waits for the peer's opening (signature
        // and major version), which this input never completed.
        assert_eq!(run.out.len(), 11, "only our greeting's opening");
        return;
    };
    assert_eq!(greeting.version(), Version::V3_1);
    let open = Limits {
        max_frame_bytes: usize::MAX,
        max_message_bytes: usize::MAX,
        max_message_parts: usize::MAX,
        max_command_bytes: usize::MAX,
    };
    let mut decoder = FrameDecoder::new(open);
    let mut messages = Vec::new();
    let mut message = Vec::new();
    let mut pings = 0;
    while !input.is_empty() {
        let frame = decoder
            .decode(&mut input)
            .expect("our frames decode")
            .expect("our output ends on a frame boundary");
        if frame.is_command() {
            let command = Command::parse(frame.into_body()).expect("our commands parse");
            pings += usize::from(matches!(command, Command::Ping { .. }));
        } else {
            let more = frame.is_more();
            message.push(frame.into_body().to_vec());
            if !more {
                messages.push(std::mem::take(&mut message));
            }
        }
    }
    assert!(message.is_empty(), "a message left without its last frame");
    if mechanism == Mechanism::NULL {
        assert_eq!(messages, run.sent, "what we sent is not what we wrote");
        assert_eq!(pings, run.pings);
    }
}

/// Our CURVE keys: any 32 octets are a Curve25519 secret or public key.
const KEY: [u8; 32] = [7; 32];

/// Any bytes as what a peer sends to a connection of either role, as a
/// ROUTER and as a DEALER, over NULL and CURVE, under default and small
/// limits: no panic; the first error is returned again ever after; nothing
/// above the limits is held or given out; the events and the error do not
/// depend on how the octets were cut or on what we sent meanwhile; our own
/// output is ZMTP.
///
/// CURVE runs get the input with a NULL mechanism name rewritten to CURVE,
/// so that the seeds reach the CURVE handshake's parsers (HELLO, INITIATE,
/// a MESSAGE before the handshake) rather than stopping at the greeting.
/// No input can complete that handshake, as our keys are random.
pub fn connection(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let tight = tight_limits(&mut u);
    let mut as_curve = data.to_vec();
    if let Some(name) = as_curve.get_mut(12..32)
        && name == Mechanism::NULL.as_bytes()
    {
        name.copy_from_slice(Mechanism::CURVE.as_bytes());
    }
    let runs = [
        (Role::Server, Config::router(), data),
        (Role::Server, Config::dealer(), data),
        (Role::Client, Config::router(), data),
        (Role::Client, Config::dealer(), data),
        (
            Role::Server,
            Config::router().with_curve_server(KEY, |_| true),
            &as_curve[..],
        ),
        (
            Role::Client,
            Config::dealer().with_curve_client(KEY, KEY),
            &as_curve[..],
        ),
    ];
    for (role, base, input) in runs {
        for limits in [Limits::default(), tight] {
            let config = base.clone().with_limits(limits);
            let mechanism = config.mechanism();
            let whole = drive(role, config.clone(), input, None);
            let mut script = Unstructured::new(input);
            let scripted = drive(role, config, input, Some(&mut script));
            assert_eq!(whole.events, scripted.events, "cuts changed the events");
            assert_eq!(whole.error, scripted.error, "cuts changed the error");
            check_output(&whole, mechanism);
            check_output(&scripted, mechanism);
        }
    }
}
