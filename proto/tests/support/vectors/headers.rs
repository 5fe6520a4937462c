//! Vectors for HEADERS (spec #frame-headers).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn headers() -> Group {
    let mut g = Group::new("headers", "frame-headers");
    let trailer = || block(&[("x-trailer", "done")]);
    g.valid(
        "trailers",
        "Trailers: HEADERS with FIN, as zroute v1 always sends it.",
        Headers::trailers(sid(1), trailer()),
    );
    g.valid(
        "several-trailers",
        "Several trailers, one of them with NUL-joined values.",
        Headers::trailers(
            sid(3),
            block(&[
                ("grpc-status", "0"),
                ("grpc-message", ""),
                ("server-timing", "db;dur=53\0app;dur=47.2"),
            ]),
        ),
    );
    g.valid(
        "no-fin",
        "HEADERS without FIN decodes; zroute answers it with RST PROTOCOL_ERROR above the codec.",
        with(Headers::trailers(sid(5), trailer()), |f| {
            f.set_fin(false);
        }),
    );
    g.valid(
        "empty-block",
        "HEADERS with FIN and no pairs is well-formed: it just ends the stream.",
        Headers::trailers(sid(7), HeaderBlock::new()),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        Headers::trailers(StreamId::MAX, trailer()),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits next to FIN are kept by the codec and ignored by receivers.",
        with(Headers::trailers(sid(9), trailer()), |f| {
            f.set_flags(0x81);
        }),
    );
    let canonical = Headers::trailers(sid(11), trailer());
    let mut bytes = wire(canonical.clone());
    bytes[8] |= 0x80;
    g.lenient(
        "reserved-bit-set",
        "The X bit before the stream id is ignored on receipt and cleared on re-encoding.",
        bytes,
        canonical,
    );
    g.invalid(
        "payload-3-bytes",
        "HEADERS needs at least the 4-byte stream id: a 3-byte payload is a session error.",
        control(HEADERS, FIN, &[0, 0, 1]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id",
        "Stream id 0 on HEADERS names no stream: session error PROTOCOL_ERROR.",
        control(HEADERS, FIN, &cat(&[&be(0), &raw_block(&[])])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-x-bit",
        "Only the X bit set is still stream id 0: session error PROTOCOL_ERROR.",
        control(HEADERS, FIN, &cat(&[&be(X), &raw_block(&[])])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}
