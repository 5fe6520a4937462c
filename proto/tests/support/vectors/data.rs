//! Vectors for DATA (spec #frame-data).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn data() -> Group {
    let mut g = Group::new("data", "frame-data");
    let bytes = |b: &[u8]| Bytes::copy_from_slice(b);
    g.valid(
        "body",
        "A DATA frame with a body and more to come: no FIN.",
        Data::new(sid(1), bytes(b"hello, world")),
    );
    g.valid(
        "body-fin",
        "The last DATA of a direction carries FIN.",
        with(Data::new(sid(1), bytes(b"bye")), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "empty-fin",
        "An empty DATA with FIN ends a direction without sending bytes.",
        with(Data::new(sid(3), Bytes::new()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "empty-no-fin",
        "An empty DATA without FIN is well-formed (and pointless).",
        Data::new(sid(5), Bytes::new()),
    );
    g.valid(
        "binary",
        "DATA is opaque: all 256 byte values, NUL, CR and LF included.",
        Data::new(sid(7), (0..=255u8).collect::<Vec<_>>().into()),
    );
    g.valid(
        "even-stream-id",
        "Stream parity is a session rule: DATA for stream 2 decodes.",
        Data::new(sid(2), bytes(b"x")),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1, in the 31 bits after the C bit.",
        with(Data::new(StreamId::MAX, bytes(b"x")), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits (0xfe) are kept by the codec and ignored by receivers.",
        with(Data::new(sid(9), bytes(b"x")), |f| {
            f.set_flags(0xfe);
        }),
    );
    let body = |n: usize| (0..n).map(|i| i as u8).collect::<Vec<u8>>();
    g.valid(
        "max-payload",
        "A DATA payload of exactly 65,536 bytes (byte i = i mod 256) is the largest every receiver must accept.",
        with(Data::new(sid(11), body(MAX_PAYLOAD_LEN).into()), |f| {
            f.set_fin(true);
        }),
    )
    .section("limits");
    g.invalid(
        "too-large",
        "A DATA payload of 65,537 bytes is over the limit; its stream id is readable, so RST FRAME_TOO_LARGE, unless the payload overruns the session receive window it still counts against (then GOAWAY FLOW_CONTROL_ERROR) or the stream is closed (then no RST).",
        data_raw(13, 0, MAX_PAYLOAD_LEN as u32 + 1, &body(MAX_PAYLOAD_LEN + 1)),
        "frame-too-large",
        stream_err(13, RstCode::FRAME_TOO_LARGE),
    )
    .section("error-table");
    g.invalid(
        "zero-stream-id",
        "DATA for stream 0 names no stream: session error PROTOCOL_ERROR.",
        data_raw(0, 0, 5, b"hello"),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-empty-fin",
        "An empty DATA with FIN for stream 0 is still a session error.",
        data_raw(0, FIN, 0, &[]),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}
