//! Vectors for PING (spec #frame-ping).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn ping() -> Group {
    let mut g = Group::new("ping", "frame-ping");
    g.valid("id-0", "PING id 0, the smallest.", Ping::new(0));
    g.valid(
        "id-1",
        "PING id 1: the router's first (router ids are odd).",
        Ping::new(1),
    )
    .section("heartbeat");
    g.valid(
        "id-2",
        "PING id 2: the worker's first (worker ids are even).",
        Ping::new(2),
    )
    .section("heartbeat");
    g.valid(
        "id-max",
        "PING id 0xffffffff, the largest.",
        Ping::new(u32::MAX),
    );
    g.valid(
        "unknown-flags",
        "PING defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(Ping::new(7), |f| {
            f.set_flags(0xff);
        }),
    );
    g.wrong_sizes(
        "PING",
        4,
        |len| control(PING, 0, &vec![0; len]),
        &[
            ("payload-empty", 0, "0"),
            ("payload-3-bytes", 3, "3"),
            ("payload-5-bytes", 5, "5"),
            ("payload-8-bytes", 8, "8"),
        ],
    );
    g
}
