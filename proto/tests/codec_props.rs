//! Property tests of the frame codec: every valid frame survives a round trip,
//! and no input, however broken, makes the decoder panic or produce a frame
//! that does not round-trip itself.
//!
//! spec: #frame-header, #frame-types, #header-block-layout, #security-compression (blocks are
//! plain bytes: no compression context to carry between frames).

use bytes::Bytes;
use proptest::prelude::*;
use zroute_proto::codes::{FrameType, GoAwayStatus, RstCode, SettingId};
use zroute_proto::frame::{
    Data, GoAway, Headers, Hello, MAX_PAYLOAD_LEN, MAX_WINDOW, Ping, RstStream, Setting, Settings,
    SynReply, SynStream, Unknown, Welcome, WindowUpdate,
};
use zroute_proto::{Frame, HeaderBlock, StreamId};

const TOKEN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~";

fn name() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(TOKEN), 1..12),
    )
        .prop_map(|(pseudo, body)| {
            let mut name = if pseudo { vec![b':'] } else { Vec::new() };
            name.extend(body);
            name
        })
}

/// A value of 0..4 non-empty segments joined by NUL: never CR or LF, never
/// an empty segment, but possibly entirely empty.
fn value() -> impl Strategy<Value = Vec<u8>> {
    let byte = any::<u8>().prop_map(|b| match b {
        0 | b'\r' | b'\n' => b'x',
        b => b,
    });
    prop::collection::vec(prop::collection::vec(byte, 1..16), 0..4)
        .prop_map(|segments| segments.join(&0))
}

fn header_block() -> impl Strategy<Value = HeaderBlock> {
    prop::collection::vec((name(), value()), 0..8).prop_map(|pairs| {
        let mut block = HeaderBlock::new();
        for (n, v) in pairs {
            // Later duplicates are simply dropped: names must be unique.
            if block.get(&n).is_none() {
                block.insert(n, v).expect("generated pairs are valid");
            }
        }
        block
    })
}

fn stream_id() -> impl Strategy<Value = StreamId> {
    (1..=StreamId::MAX.get()).prop_map(StreamId::new)
}

fn any_stream_id() -> impl Strategy<Value = StreamId> {
    (0..=StreamId::MAX.get()).prop_map(StreamId::new)
}

fn unknown_type() -> impl Strategy<Value = FrameType> {
    any::<u16>()
        .prop_map(FrameType::from_wire)
        .prop_filter("known frame types decode as themselves", |t| {
            t.name().is_none()
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    let flags = any::<u8>;
    prop_oneof![
        (
            stream_id(),
            any_stream_id(),
            0..8u8,
            any::<u8>(),
            flags(),
            header_block()
        )
            .prop_map(|(id, assoc, priority, slot, flags, block)| {
                let mut f = SynStream::new(id, block);
                f.set_associated_stream_id(assoc)
                    .set_priority(priority)
                    .set_slot(slot)
                    .set_flags(flags);
                Frame::from(f)
            }),
        (stream_id(), flags(), header_block()).prop_map(|(id, flags, block)| {
            let mut f = SynReply::new(id, block);
            f.set_flags(flags);
            Frame::from(f)
        }),
        (stream_id(), any::<u32>(), flags()).prop_map(|(id, code, flags)| {
            let mut f = RstStream::new(id, RstCode::from_wire(code));
            f.set_flags(flags);
            Frame::from(f)
        }),
        (
            flags(),
            prop::collection::vec((any::<u8>(), 0..=0xff_ffffu32, any::<u32>()), 0..8)
        )
            .prop_map(|(flags, entries)| {
                let mut f = Settings::new();
                f.set_flags(flags);
                for (flags, id, value) in entries {
                    f.push_entry(Setting {
                        flags,
                        id: SettingId::from_wire(id),
                        value,
                    });
                }
                Frame::from(f)
            }),
        (any::<u32>(), flags()).prop_map(|(id, flags)| {
            let mut f = Ping::new(id);
            f.set_flags(flags);
            Frame::from(f)
        }),
        (any_stream_id(), any::<u32>(), flags()).prop_map(|(id, status, flags)| {
            let mut f = GoAway::new(id, GoAwayStatus::from_wire(status));
            f.set_flags(flags);
            Frame::from(f)
        }),
        (stream_id(), flags(), header_block()).prop_map(|(id, flags, block)| {
            let mut f = Headers::trailers(id, block);
            f.set_flags(flags);
            Frame::from(f)
        }),
        (any_stream_id(), 1..=MAX_WINDOW, flags()).prop_map(|(id, delta, flags)| {
            let mut f = WindowUpdate::new(id, delta);
            f.set_flags(flags);
            Frame::from(f)
        }),
        (
            stream_id(),
            flags(),
            prop::collection::vec(any::<u8>(), 0..512)
        )
            .prop_map(|(id, flags, payload)| {
                let mut f = Data::new(id, payload.into());
                f.set_flags(flags);
                Frame::from(f)
            }),
        (
            any::<u16>(),
            any::<u32>(),
            0..=MAX_WINDOW,
            flags(),
            header_block()
        )
            .prop_map(|(version, capacity, window, flags, attrs)| {
                let mut f = Hello::new(version, capacity, window, attrs);
                f.set_flags(flags);
                Frame::from(f)
            }),
        (
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            0..=MAX_WINDOW,
            flags(),
            header_block()
        )
            .prop_map(|(version, interval, liveness, window, flags, attrs)| {
                let mut f = Welcome::new(version, interval, liveness, window, attrs);
                f.set_flags(flags);
                Frame::from(f)
            }),
        (
            unknown_type(),
            flags(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(|(ty, flags, payload)| Frame::from(Unknown::new(
                ty,
                flags,
                payload.into()
            ))),
    ]
}

/// Parts with a correct length field and any payload, so that decoding gets
/// past the header checks and into each type's own rules.
fn framed_part() -> impl Strategy<Value = Vec<u8>> {
    let control_type = prop_oneof![
        prop::sample::select(vec![1u16, 2, 3, 4, 6, 7, 8, 9, 0x5a01, 0x5a02]),
        any::<u16>(),
    ];
    let first_word = prop_oneof![
        control_type.prop_map(|ty| 0x8003_0000 | u32::from(ty)),
        any::<u32>().prop_map(|w| w & 0x7fff_ffff),
    ];
    (
        first_word,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..96),
    )
        .prop_map(|(word, flags, payload)| {
            let mut part = word.to_be_bytes().to_vec();
            part.extend_from_slice(
                &((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes(),
            );
            part.extend(payload);
            part
        })
}

/// Valid frames with a few bytes overwritten, length field untouched or not.
fn mutated_part() -> impl Strategy<Value = Vec<u8>> {
    (
        frame(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    )
        .prop_map(|(frame, edits)| {
            let mut part = frame.to_bytes().to_vec();
            for (at, byte) in edits {
                let i = at.index(part.len());
                part[i] = byte;
            }
            part
        })
}

fn any_part() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        framed_part(),
        mutated_part(),
    ]
}

proptest! {
    #[test]
    fn valid_frames_round_trip(frame in frame()) {
        let bytes = frame.to_bytes();
        prop_assert_eq!(frame.encoded_len(), bytes.len());
        prop_assert!(bytes.len() - 8 <= MAX_PAYLOAD_LEN);
        let length_field = u32::from_be_bytes([0, bytes[5], bytes[6], bytes[7]]) as usize;
        prop_assert_eq!(length_field, bytes.len() - 8);
        let mut via_encode = Vec::new();
        frame.encode(&mut via_encode);
        prop_assert_eq!(&via_encode[..], &bytes[..]);
        prop_assert_eq!(Frame::decode(bytes), Ok(frame));
    }

    #[test]
    fn decoding_any_bytes_is_total(part in any_part()) {
        match Frame::decode(Bytes::from(part.clone())) {
            Ok(frame) => {
                // Decoding may drop reserved bits but never changes a frame's size.
                let again = frame.to_bytes();
                prop_assert_eq!(again.len(), part.len());
                prop_assert_eq!(frame.encoded_len(), part.len());
                prop_assert_eq!(Frame::decode(again), Ok(frame));
            }
            Err(e) => {
                // Every error maps to a reaction, and a stream reaction names a real stream.
                if let zroute_proto::frame::Reaction::Stream(id, _) = e.reaction() {
                    prop_assert!(!id.is_zero());
                }
                prop_assert!(!e.name().is_empty());
            }
        }
    }
}
