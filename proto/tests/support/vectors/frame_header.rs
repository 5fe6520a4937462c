//! Vectors for The 8-byte frame header every frame starts with (spec #frame-header).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn frame_header() -> Group {
    let mut g = Group::new("frame_header", "frame-header");
    let ping = control(PING, 0, &be(1));
    g.invalid(
        "empty-part",
        "A zero-length part is shorter than the 8-byte header; receivers drop such parts before decoding (transport), and this is what the codec reports if one reaches it.",
        vec![],
        "truncated",
        SESSION_PROTOCOL_ERROR,
    )
    .section("error-table");
    g.invalid(
        "seven-bytes",
        "A part of 7 bytes cannot hold the 8-byte frame header: session error PROTOCOL_ERROR.",
        ping[..7].to_vec(),
        "truncated",
        SESSION_PROTOCOL_ERROR,
    )
    .section("error-table");
    g.invalid(
        "length-too-large",
        "The length field (5) must equal the part's size minus 8 (4): a mismatch is a session error.",
        control_raw(3, PING, 0, 5, &be(1)),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "length-too-small",
        "The length field (3) is below the part's size minus 8 (4); a part holds exactly one frame, so this is a session error.",
        control_raw(3, PING, 0, 3, &be(1)),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "length-field-max",
        "A length field of 0xffffff on an 8-byte part is a length mismatch, not an oversized frame: the payload is empty.",
        control_raw(3, PING, 0, 0xff_ffff, &[]),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "data-length-mismatch",
        "A DATA frame whose length field disagrees with the part is a session error even though its stream id is readable: the frame boundary is lost.",
        data_raw(1, 0, 6, b"hello"),
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    let syn = wire(SynStream::new(sid(1), get_request()));
    let mut short = syn.clone();
    short.pop();
    g.invalid(
        "syn-stream-length-mismatch",
        "A SYN_STREAM one byte shorter than its length field says is a session error, not a stream error.",
        short,
        "length-mismatch",
        SESSION_PROTOCOL_ERROR,
    );
    let unsupported = Reaction::Session(GoAwayStatus::UNSUPPORTED_VERSION);
    g.invalid(
        "version-2",
        "A SPDY/2 PING: every control frame must carry version 3, anything else is a session error UNSUPPORTED_VERSION.",
        control_raw(2, PING, 0, 4, &be(1)),
        "unsupported-version",
        unsupported,
    );
    let mut v4 = syn;
    v4[1] = 4;
    g.invalid(
        "version-4",
        "A well-formed SYN_STREAM with version 4 is a session error UNSUPPORTED_VERSION, not a stream error.",
        v4,
        "unsupported-version",
        unsupported,
    );
    g.invalid(
        "version-0",
        "Control version 0 is not 3: session error UNSUPPORTED_VERSION.",
        control_raw(0, PING, 0, 4, &be(1)),
        "unsupported-version",
        unsupported,
    );
    g.invalid(
        "version-max",
        "Control version 0x7fff is not 3: session error UNSUPPORTED_VERSION.",
        control_raw(0x7fff, PING, 0, 4, &be(1)),
        "unsupported-version",
        unsupported,
    );
    let hello = wire(Hello::new(1, 8, 65_536, block(&[("id", "w1")])));
    let mut hello_v1 = hello;
    hello_v1[1] = 1;
    g.invalid(
        "hello-version-1",
        "zroute's own frames carry SPDY version 3 too: a HELLO with version 1 in its frame header is a session error UNSUPPORTED_VERSION.",
        hello_v1,
        "unsupported-version",
        unsupported,
    );
    g
}
