//! Vectors for WINDOW_UPDATE (spec #frame-window-update).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn window_update() -> Group {
    let mut g = Group::new("window_update", "frame-window-update");
    g.valid(
        "stream-delta-1",
        "The smallest delta, 1, for a stream window.",
        WindowUpdate::new(sid(1), 1),
    );
    g.valid(
        "stream-delta-max",
        "The largest delta, 2^31-1, for a stream window.",
        WindowUpdate::new(sid(3), MAX_WINDOW),
    );
    g.valid(
        "session-window",
        "Stream id 0 updates the session window.",
        WindowUpdate::new(StreamId::ZERO, 32_768),
    )
    .section("flow-control-windows");
    g.valid(
        "session-delta-max",
        "The largest delta for the session window.",
        WindowUpdate::new(StreamId::ZERO, MAX_WINDOW),
    )
    .section("flow-control-windows");
    g.valid(
        "max-stream-id",
        "The largest stream id, 2^31-1.",
        WindowUpdate::new(StreamId::MAX, 65_536),
    );
    g.valid(
        "unknown-flags",
        "WINDOW_UPDATE defines no flags; set bits are kept by the codec and ignored by receivers.",
        with(WindowUpdate::new(sid(5), 100), |f| {
            f.set_flags(0xff);
        }),
    );
    g.lenient(
        "reserved-bits-set",
        "The X bits before the stream id and the delta are ignored on receipt and cleared on re-encoding.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(X | 7), &be(X | 1)])),
        WindowUpdate::new(sid(7), 1),
    );
    g.invalid(
        "zero-delta-stream",
        "Delta 0 for a stream is a stream error PROTOCOL_ERROR.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(9), &be(0)])),
        "zero-window-delta",
        stream_err(9, RstCode::PROTOCOL_ERROR),
    )
    .section("flow-control-errors");
    g.invalid(
        "zero-delta-session",
        "Delta 0 for the session window (stream 0) is a session error PROTOCOL_ERROR.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(0), &be(0)])),
        "zero-window-delta",
        SESSION_PROTOCOL_ERROR,
    )
    .section("flow-control-errors");
    g.invalid(
        "zero-delta-x-bit",
        "A delta with only its X bit set is delta 0 once X is ignored: stream error PROTOCOL_ERROR.",
        control(WINDOW_UPDATE, 0, &cat(&[&be(11), &be(X)])),
        "zero-window-delta",
        stream_err(11, RstCode::PROTOCOL_ERROR),
    )
    .section("flow-control-errors");
    g.wrong_sizes(
        "WINDOW_UPDATE",
        8,
        |len| control(WINDOW_UPDATE, 0, &[0, 0, 0, 1].repeat(3)[..len]),
        &[
            ("payload-empty", 0, "0"),
            ("payload-4-bytes", 4, "4"),
            ("payload-12-bytes", 12, "12"),
        ],
    );
    g
}
