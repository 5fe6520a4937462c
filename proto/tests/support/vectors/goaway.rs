//! Vectors for GOAWAY (spec #frame-goaway).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn goaway() -> Group {
    let mut g = Group::new("goaway", "frame-goaway");
    let statuses = [
        (
            "ok",
            0,
            GoAwayStatus::OK,
            "a router draining or shutting down sends last-good 0",
        ),
        (
            "ok-worker-drain",
            41,
            GoAwayStatus::OK,
            "a draining worker names the highest stream it will process",
        ),
        (
            "protocol-error",
            0,
            GoAwayStatus::PROTOCOL_ERROR,
            "a session-level protocol violation",
        ),
        (
            "internal-error",
            0,
            GoAwayStatus::INTERNAL_ERROR,
            "the sender failed",
        ),
        (
            "flow-control-error",
            7,
            GoAwayStatus::FLOW_CONTROL_ERROR,
            "zroute assigns 3, which SPDY/3.1 mentions but does not list",
        ),
        (
            "unknown-session",
            0,
            GoAwayStatus::UNKNOWN_SESSION,
            "zroute's 4: the router does not know this peer, which must re-register",
        ),
        (
            "unsupported-version",
            0,
            GoAwayStatus::UNSUPPORTED_VERSION,
            "zroute's 5: the router does not speak the HELLO's version",
        ),
        (
            "refused",
            0,
            GoAwayStatus::REFUSED,
            "zroute's 6: registration refused by policy",
        ),
    ];
    for (name, last_good, status, why) in statuses {
        g.valid(
            name,
            &format!("GOAWAY {status} ({}): {why}.", status.to_wire()),
            GoAway::new(sid(last_good), status),
        )
        .section("goaway-codes");
    }
    g.valid(
        "unknown-status-7",
        "Status 7 is unknown; it decodes and round-trips unchanged and a receiver treats it as INTERNAL_ERROR.",
        GoAway::new(sid(0), GoAwayStatus::from_wire(7)),
    )
    .section("goaway-codes");
    g.valid(
        "unknown-status-max",
        "Status 0xffffffff decodes and round-trips as an unknown status.",
        GoAway::new(sid(0), GoAwayStatus::from_wire(u32::MAX)),
    )
    .section("goaway-codes");
    g.valid(
        "max-last-good",
        "Last-good-stream-id 2^31-1, the largest.",
        GoAway::new(StreamId::MAX, GoAwayStatus::OK),
    );
    g.valid(
        "unknown-flags",
        "GOAWAY defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(GoAway::new(sid(0), GoAwayStatus::OK), |f| {
            f.set_flags(0xff);
        }),
    );
    g.lenient(
        "reserved-bit-set",
        "The X bit before last-good-stream-id is ignored on receipt and cleared on re-encoding.",
        control(GOAWAY, 0, &cat(&[&be(X | 9), &be(0)])),
        GoAway::new(sid(9), GoAwayStatus::OK),
    );
    g.wrong_sizes(
        "GOAWAY",
        8,
        |len| control(GOAWAY, 0, &vec![0; len]),
        &[
            ("payload-empty", 0, "0"),
            ("payload-4-bytes", 4, "4 (SPDY/2's size)"),
            ("payload-12-bytes", 12, "12"),
        ],
    );
    g
}
