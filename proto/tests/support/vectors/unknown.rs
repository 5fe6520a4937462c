//! Vectors for Frame types this version does not define (spec #frame-unknown).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn unknown() -> Group {
    let mut g = Group::new("unknown", "frame-unknown");
    let unknown = |ty: u16, flags, payload: &[u8]| {
        Unknown::new(
            FrameType::from_wire(ty),
            flags,
            Bytes::copy_from_slice(payload),
        )
    };
    g.valid(
        "noop",
        "Type 5 (NOOP, removed in SPDY/3) is unknown: it decodes as an unknown frame, which receivers ignore.",
        unknown(5, 0, &[]),
    );
    g.valid(
        "credential",
        "Type 10 (CREDENTIAL, removed in SPDY/3.1) is unknown: decoded whole and ignored.",
        unknown(
            10,
            0,
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef],
        ),
    );
    g.valid(
        "type-0",
        "Type 0 is not assigned: an unknown frame.",
        unknown(0, 0, b"\x00\x01"),
    );
    g.valid(
        "type-11",
        "Type 11, the first past SPDY's range, is unknown.",
        unknown(11, 0, b"future"),
    );
    g.valid(
        "zroute-next",
        "Type 0x5A03, next to zroute's own types, is unknown to v1.",
        unknown(0x5a03, 0, &be(1)),
    );
    g.valid(
        "type-max-with-flags",
        "Type 0xffff with every flag bit set keeps its flags and payload.",
        unknown(0xffff, 0xff, &[0xff; 16]),
    );
    g.invalid(
        "too-large",
        "An unknown frame with a 65,537-byte payload is over the limit before it can be ignored, and has no stream: session error PROTOCOL_ERROR.",
        wire(unknown(0x5a03, 0, &vec![0; MAX_PAYLOAD_LEN + 1])),
        "frame-too-large",
        SESSION_PROTOCOL_ERROR,
    )
    .section("error-table");
    g.invalid(
        "version-2",
        "The version rule holds for unknown types too: a version-2 frame of type 5 is a session error UNSUPPORTED_VERSION.",
        control_raw(2, 5, 0, 0, &[]),
        "unsupported-version",
        Reaction::Session(GoAwayStatus::UNSUPPORTED_VERSION),
    );
    g
}
