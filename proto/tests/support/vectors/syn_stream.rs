//! Vectors for SYN_STREAM (spec #frame-syn-stream).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn syn_stream() -> Group {
    let mut g = Group::new("syn_stream", "frame-syn-stream");
    g.valid(
        "get-no-body",
        "A GET without a body: FIN on SYN_STREAM, priority 3 as routers send, the five request pseudo-headers first.",
        with(SynStream::new(sid(1), get_request()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "post-with-body",
        "A POST whose body follows in DATA: no FIN.",
        SynStream::new(sid(3), post_request()),
    );
    g.valid(
        "priority-0",
        "Priority 0 (highest) sits in the top 3 bits of byte 8 of the payload.",
        with(SynStream::new(sid(5), get_request()), |f| {
            f.set_fin(true).set_priority(0);
        }),
    );
    g.valid(
        "priority-7",
        "Priority 7 (lowest) is 0xe0 in byte 8 of the payload.",
        with(SynStream::new(sid(7), get_request()), |f| {
            f.set_fin(true).set_priority(7);
        }),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        with(SynStream::new(StreamId::MAX, get_request()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "unidirectional",
        "FLAG_UNIDIRECTIONAL (0x02) decodes like any flag; refusing it with RST PROTOCOL_ERROR is a session-level rule, not a codec error.",
        with(SynStream::new(sid(9), get_request()), |f| {
            f.set_flags(SynStream::FLAG_UNIDIRECTIONAL | FIN);
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits (0xfc) are kept by the codec, which lets receivers ignore them and lets them round-trip.",
        with(SynStream::new(sid(11), get_request()), |f| {
            f.set_flags(0xfd);
        }),
    );
    g.valid(
        "associated-stream-id",
        "A nonzero associated-stream-id decodes; zroute refuses it with RST PROTOCOL_ERROR above the codec.",
        with(SynStream::new(sid(13), get_request()), |f| {
            f.set_fin(true).set_associated_stream_id(sid(2));
        }),
    );
    g.valid(
        "nonzero-slot",
        "A nonzero slot (CREDENTIAL is gone) decodes, is kept, and is ignored by receivers.",
        with(SynStream::new(sid(15), get_request()), |f| {
            f.set_fin(true).set_slot(7);
        }),
    );
    g.valid(
        "empty-block",
        "A name/value block with zero pairs is well-formed; the missing pseudo-headers are a stream error found above the codec.",
        SynStream::new(sid(17), HeaderBlock::new()),
    );
    let canonical = with(SynStream::new(sid(19), get_request()), |f| {
        f.set_fin(true);
    });
    let mut bytes = wire(canonical.clone());
    bytes[8] |= 0x80; // X bit of stream-id
    bytes[12] |= 0x80; // X bit of associated-stream-id
    bytes[16] |= 0x1f; // the 5 unused bits after priority
    g.lenient(
        "reserved-bits-set",
        "The X bits before both stream ids and the 5 unused bits after priority must be ignored on receipt; re-encoding clears them.",
        bytes,
        canonical,
    );
    let max = with(
        SynStream::new(
            sid(21),
            filled_block(&[(":method", "GET")], MAX_PAYLOAD_LEN - 10),
        ),
        |f| {
            f.set_fin(true);
        },
    );
    g.valid(
        "max-payload",
        "A payload of exactly 65,536 bytes (10 fixed, 65,526 of block) is the largest every receiver must accept.",
        max,
    );
    g.invalid(
        "too-large",
        "A SYN_STREAM with a 65,537-byte payload (well-formed otherwise) is over the limit; its stream id is readable, so RST FRAME_TOO_LARGE (a worker checks first that the id is a new odd one, as for any SYN_STREAM).",
        wire(SynStream::new(
            sid(23),
            filled_block(&[(":method", "GET")], MAX_PAYLOAD_LEN - 9),
        )),
        "frame-too-large",
        stream_err(23, RstCode::FRAME_TOO_LARGE),
    )
    .section("error-table");
    g.invalid(
        "payload-9-bytes",
        "SYN_STREAM's fixed part is 10 bytes; a 9-byte payload is a session error.",
        control(SYN_STREAM, 0, &cat(&[&be(1), &be(0), &[0x60]])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-4-bytes",
        "A SYN_STREAM holding only a stream id is shorter than the 10-byte fixed part: session error.",
        control(SYN_STREAM, FIN, &be(1)),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    let body = raw_block(&[(b":method", b"GET")]);
    g.invalid(
        "zero-stream-id",
        "Stream id 0 on SYN_STREAM names no stream: session error PROTOCOL_ERROR.",
        control(SYN_STREAM, FIN, &cat(&[&be(0), &be(0), &[0x60, 0], &body])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id-x-bit",
        "Only the X bit set (0x80000000) is still stream id 0, since receivers ignore X: session error.",
        control(SYN_STREAM, FIN, &cat(&[&be(X), &be(0), &[0x60, 0], &body])),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}
