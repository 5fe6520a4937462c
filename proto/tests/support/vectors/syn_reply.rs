//! Vectors for SYN_REPLY (spec #frame-syn-reply).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn syn_reply() -> Group {
    let mut g = Group::new("syn_reply", "frame-syn-reply");
    let ok = || {
        block(&[
            (":status", "200"),
            (":version", "HTTP/1.1"),
            ("content-type", "text/plain"),
            ("content-length", "17"),
        ])
    };
    g.valid(
        "ok-with-body",
        "A 200 response head whose body follows in DATA: no FIN.",
        SynReply::new(sid(1), ok()),
    );
    g.valid(
        "no-content-fin",
        "A 204 response ends the stream with FIN on SYN_REPLY.",
        with(
            SynReply::new(
                sid(3),
                block(&[(":status", "204"), (":version", "HTTP/1.1")]),
            ),
            |f| {
                f.set_fin(true);
            },
        ),
    );
    g.valid(
        "status-with-reason",
        ":status may carry a reason phrase after the code; the codec keeps the value as sent.",
        with(
            SynReply::new(
                sid(5),
                block(&[(":status", "404 Not Found"), (":version", "HTTP/1.1")]),
            ),
            |f| {
                f.set_fin(true);
            },
        ),
    );
    g.valid(
        "status-with-own-reason",
        "An application's own reason phrase, with a tab (spec #reason-phrase): the router puts it on an HTTP/1.x status line as it is.",
        SynReply::new(
            sid(1),
            block(&[(":status", "200 Totally\tFine"), (":version", "HTTP/1.1")]),
        ),
    );
    g.valid(
        "set-cookie-values",
        "Several set-cookie headers travel as one value with NUL separators.",
        SynReply::new(
            sid(7),
            block(&[
                (":status", "200"),
                (":version", "HTTP/1.1"),
                ("set-cookie", "a=1; Path=/\0b=2; HttpOnly"),
            ]),
        ),
    );
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        with(SynReply::new(StreamId::MAX, ok()), |f| {
            f.set_fin(true);
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown flag bits (0xfe) next to FIN are kept by the codec and ignored by receivers.",
        with(SynReply::new(sid(9), ok()), |f| {
            f.set_flags(0xff);
        }),
    );
    g.valid(
        "empty-block",
        "A block with zero pairs is well-formed; the missing :status is a stream error found above the codec.",
        SynReply::new(sid(11), HeaderBlock::new()),
    );
    let canonical = SynReply::new(sid(13), ok());
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
        "SYN_REPLY needs at least the 4-byte stream id: a 3-byte payload is a session error.",
        control(SYN_REPLY, 0, &[0, 0, 1]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-empty",
        "An empty SYN_REPLY payload is a session error.",
        control(SYN_REPLY, FIN, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "zero-stream-id",
        "Stream id 0 on SYN_REPLY names no stream: session error PROTOCOL_ERROR.",
        control(
            SYN_REPLY,
            FIN,
            &cat(&[&be(0), &raw_block(&[(b":status", b"200")])]),
        ),
        "zero-stream-id",
        SESSION_PROTOCOL_ERROR,
    );
    g
}
