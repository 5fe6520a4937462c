//! Vectors for RST_STREAM (spec #frame-rst-stream).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn rst_stream() -> Group {
    let mut g = Group::new("rst_stream", "frame-rst-stream");
    let codes = [
        ("protocol-error", RstCode::PROTOCOL_ERROR),
        ("invalid-stream", RstCode::INVALID_STREAM),
        ("refused-stream", RstCode::REFUSED_STREAM),
        ("unsupported-version", RstCode::UNSUPPORTED_VERSION),
        ("cancel", RstCode::CANCEL),
        ("internal-error", RstCode::INTERNAL_ERROR),
        ("flow-control-error", RstCode::FLOW_CONTROL_ERROR),
        ("stream-in-use", RstCode::STREAM_IN_USE),
        ("stream-already-closed", RstCode::STREAM_ALREADY_CLOSED),
        ("frame-too-large", RstCode::FRAME_TOO_LARGE),
    ];
    for (i, (name, code)) in (0u32..).zip(codes) {
        g.valid(
            name,
            &format!("RST_STREAM with status {code} ({}).", code.to_wire()),
            RstStream::new(sid(2 * i + 1), code),
        )
        .section("rst-codes");
    }
    g.valid(
        "unknown-code-0",
        "Status 0 is not a code; it decodes and round-trips unchanged and a receiver treats it as INTERNAL_ERROR.",
        RstStream::new(sid(1), RstCode::from_wire(0)),
    )
    .section("rst-codes");
    g.valid(
        "unknown-code-10",
        "Status 10 (INVALID_CREDENTIALS) was removed in SPDY/3.1; it decodes and round-trips as an unknown code.",
        RstStream::new(sid(1), RstCode::from_wire(10)),
    )
    .section("rst-codes");
    g.valid(
        "unknown-code-max",
        "Status 0xffffffff decodes and round-trips as an unknown code.",
        RstStream::new(sid(1), RstCode::from_wire(u32::MAX)),
    )
    .section("rst-codes");
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        RstStream::new(StreamId::MAX, RstCode::CANCEL),
    );
    g.valid(
        "unknown-flags",
        "RST_STREAM defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(RstStream::new(sid(3), RstCode::CANCEL), |f| {
            f.set_flags(0xff);
        }),
    );
    g.lenient(
        "reserved-bit-set",
        "The X bit before the stream id is ignored on receipt and cleared on re-encoding.",
        control(RST_STREAM, 0, &cat(&[&be(X | 5), &be(5)])),
        RstStream::new(sid(5), RstCode::CANCEL),
    );
    g.invalid(
        "payload-7-bytes",
        "RST_STREAM's payload is exactly 8 bytes; 7 is a session error.",
        control(RST_STREAM, 0, &cat(&[&be(1), &[0, 0, 5]])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-9-bytes",
        "RST_STREAM's payload is exactly 8 bytes; 9 is a session error.",
        control(RST_STREAM, 0, &cat(&[&be(1), &be(5), &[0]])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-empty",
        "An empty RST_STREAM payload is a session error.",
        control(RST_STREAM, 0, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id",
        "RST_STREAM for stream 0 names no stream: session error PROTOCOL_ERROR.",
        control(RST_STREAM, 0, &cat(&[&be(0), &be(5)])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-x-bit",
        "Only the X bit set is still stream id 0: session error PROTOCOL_ERROR.",
        control(RST_STREAM, 0, &cat(&[&be(X), &be(5)])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}
