//! Vectors for WELCOME (spec #frame-welcome).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn welcome() -> Group {
    let mut g = Group::new("welcome", "frame-welcome");
    let attrs = || block(&[("router", "r-1"), ("session", "5f2c9a01")]);
    g.valid(
        "defaults",
        "The usual answer: version 1, heartbeat every 1000 ms, liveness 3, the default window, router and session ids.",
        Welcome::new(1, 1000, 3, 65_536, attrs()),
    );
    g.valid(
        "no-attributes",
        "Both attributes are informational; a WELCOME without them is well-formed.",
        Welcome::new(1, 1000, 3, 65_536, HeaderBlock::new()),
    );
    g.valid(
        "max-values",
        "Each fixed field at its largest: interval and liveness 0xffffffff, window 2^31-1.",
        Welcome::new(1, u32::MAX, u32::MAX, MAX_WINDOW, attrs()),
    );
    g.valid(
        "unknown-flags",
        "WELCOME defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(Welcome::new(1, 250, 4, 1 << 16, attrs()), |f| {
            f.set_flags(0xff);
        }),
    );
    let canonical = Welcome::new(1, 1000, 3, 65_536, attrs());
    let mut bytes = wire(canonical.clone());
    bytes[10] = 0x12; // reserved(16)
    bytes[11] = 0x34;
    bytes[20] |= 0x80; // X bit of initial-window-size
    g.lenient(
        "reserved-bits-set",
        "The reserved 16 bits after version and the X bit before initial-window-size are ignored on receipt and cleared on re-encoding.",
        bytes,
        canonical,
    );
    let fixed = cat(&[&[0, 1, 0, 0], &be(1000), &be(3), &be(65_536)]);
    g.invalid(
        "payload-15-bytes",
        "WELCOME's fixed part is 16 bytes; a 15-byte payload is a session error (for the worker: a failed handshake).",
        control(WELCOME, 0, &fixed[..15]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-12-bytes",
        "A WELCOME laid out like a HELLO (12 bytes) is too short: session error.",
        control(WELCOME, 0, &fixed[..12]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "fixed-part-only",
        "A 16-byte payload has no room for the attribute block's count: truncated block, a session error.",
        control(WELCOME, 0, &fixed),
        "header-block-truncated",
        SESSION_PROTOCOL_ERROR,
    )
    .section("header-block");
    g.invalid(
        "uppercase-attribute",
        "An uppercase attribute name makes WELCOME's block malformed: a session error (the worker's handshake fails).",
        control(
            WELCOME,
            0,
            &cat(&[&fixed, &raw_block(&[(b"Router", b"r-1")])]),
        ),
        "uppercase-header-name",
        SESSION_PROTOCOL_ERROR,
    )
    .section("header-block");
    g
}
