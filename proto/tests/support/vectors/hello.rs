//! Vectors for HELLO (spec #frame-hello).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn hello() -> Group {
    let mut g = Group::new("hello", "frame-hello");
    g.valid(
        "minimal",
        "The smallest useful HELLO: version 1, capacity 16, the default window, and the required id.",
        Hello::new(1, 16, 65_536, block(&[("id", "worker-1")])),
    );
    g.valid(
        "routes",
        "Several routes are one NUL-joined `route` value: a path prefix, a host, and a wildcard host with a prefix.",
        Hello::new(
            1,
            64,
            1 << 20,
            block(&[
                ("id", "api-7f3a"),
                ("route", "/api\0example.com\0*.example.org/static"),
            ]),
        ),
    )
    .section("routing");
    g.valid(
        "features-and-labels",
        "A feature list and free-form labels next to id and route.",
        Hello::new(
            1,
            8,
            65_536,
            block(&[
                ("id", "w-3"),
                ("route", "/"),
                ("feature", "trailers"),
                ("zone", "eu-west-1"),
                ("build", "1.4.2+g3c1d"),
            ]),
        ),
    );
    g.valid(
        "max-values",
        "Capacity 0xffffffff and initial window 2^31-1, the largest each field carries.",
        Hello::new(1, u32::MAX, MAX_WINDOW, block(&[("id", "big")])),
    );
    g.valid(
        "capacity-0",
        "Capacity 0 decodes; the router rejects it with GOAWAY PROTOCOL_ERROR above the codec.",
        Hello::new(1, 0, 65_536, block(&[("id", "w0")])),
    )
    .section("handshake");
    g.valid(
        "no-id",
        "A HELLO without `id` is a well-formed block; the router rejects it above the codec.",
        Hello::new(1, 4, 65_536, HeaderBlock::new()),
    )
    .section("handshake");
    g.valid(
        "future-version",
        "A worker speaking zroute version 2 sends a well-formed HELLO; a v1 router answers GOAWAY UNSUPPORTED_VERSION above the codec.",
        Hello::new(2, 4, 65_536, block(&[("id", "w2")])),
    )
    .section("handshake");
    g.valid(
        "reserved-attribute",
        "Attribute names starting with ':' are reserved; an unknown one decodes and is ignored.",
        Hello::new(1, 4, 65_536, block(&[("id", "w4"), (":future", "1")])),
    );
    g.valid(
        "unknown-flags",
        "HELLO defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(Hello::new(1, 4, 65_536, block(&[("id", "w5")])), |f| {
            f.set_flags(0xff);
        }),
    );
    let canonical = Hello::new(1, 4, 65_536, block(&[("id", "w6")]));
    let mut bytes = wire(canonical.clone());
    bytes[10] = 0xff; // reserved(16)
    bytes[11] = 0xff;
    bytes[16] |= 0x80; // X bit of initial-window-size
    g.lenient(
        "reserved-bits-set",
        "The reserved 16 bits after version and the X bit before initial-window-size are ignored on receipt and cleared on re-encoding.",
        bytes,
        canonical,
    );
    let fixed = cat(&[&[0, 1, 0, 0], &be(4), &be(65_536)]);
    g.invalid(
        "payload-11-bytes",
        "HELLO's fixed part is 12 bytes; an 11-byte payload is a session error.",
        control(HELLO, 0, &fixed[..11]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-empty",
        "An empty HELLO payload is a session error.",
        control(HELLO, 0, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g
}
