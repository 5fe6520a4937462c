//! Vectors for SETTINGS (spec #frame-settings).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

pub(super) fn settings() -> Group {
    let mut g = Group::new("settings", "frame-settings");
    let entry = |flags, id: u32, value| Setting {
        flags,
        id: SettingId::from_wire(id),
        value,
    };
    g.valid(
        "no-entries",
        "A SETTINGS frame with zero entries is a 4-byte payload.",
        Settings::new(),
    );
    g.valid(
        "max-concurrent-streams",
        "A worker announcing a new capacity (id 4).",
        with(Settings::new(), |f| {
            f.push(SettingId::MAX_CONCURRENT_STREAMS, 100);
        }),
    );
    g.valid(
        "max-concurrent-streams-0",
        "Capacity 0 means the worker takes no new streams for now; the codec sees an ordinary value.",
        with(Settings::new(), |f| {
            f.push(SettingId::MAX_CONCURRENT_STREAMS, 0);
        }),
    );
    g.valid(
        "initial-window-size",
        "A new initial window (id 7) of 1 MiB.",
        with(Settings::new(), |f| {
            f.push(SettingId::INITIAL_WINDOW_SIZE, 1 << 20);
        }),
    );
    g.valid(
        "initial-window-size-too-large",
        "INITIAL_WINDOW_SIZE above 2^31-1 decodes; the session answers it with GOAWAY FLOW_CONTROL_ERROR.",
        with(Settings::new(), |f| {
            f.push(SettingId::INITIAL_WINDOW_SIZE, u32::MAX);
        }),
    );
    g.valid(
        "duplicate-ids-in-order",
        "Entries keep their order so that a later duplicate wins when applied.",
        with(Settings::new(), |f| {
            f.push(SettingId::INITIAL_WINDOW_SIZE, 1024)
                .push(SettingId::MAX_CONCURRENT_STREAMS, 8)
                .push(SettingId::INITIAL_WINDOW_SIZE, 2048);
        }),
    );
    g.valid(
        "spdy-ids",
        "Every SPDY/3.1 id decodes; zroute acts on 4 and 7 only and ignores the rest.",
        with(Settings::new(), |f| {
            for id in 1..=8 {
                f.push(SettingId::from_wire(id), id * 10);
            }
        }),
    );
    g.valid(
        "unknown-id",
        "Unknown ids (here 0 and 0xabcdef, the largest 24-bit ids included) decode and round-trip; receivers ignore them.",
        with(Settings::new(), |f| {
            f.push_entry(entry(0, 0, 1))
                .push_entry(entry(0, 0xab_cdef, 2))
                .push_entry(entry(0, 0xff_ffff, 3));
        }),
    );
    g.valid(
        "clear-settings-flag",
        "FLAG_SETTINGS_CLEAR_SETTINGS (0x01) decodes and is ignored: zroute persists nothing.",
        with(Settings::new(), |f| {
            f.set_flags(Settings::FLAG_CLEAR_SETTINGS)
                .push(SettingId::MAX_CONCURRENT_STREAMS, 16);
        }),
    );
    g.valid(
        "entry-flags",
        "Entry flags PERSIST_VALUE (0x01), PERSISTED (0x02), both, and unknown bits decode and round-trip; receivers ignore them.",
        with(Settings::new(), |f| {
            f.push_entry(entry(0x01, 4, 10))
                .push_entry(entry(0x02, 7, 20))
                .push_entry(entry(0x03, 4, 30))
                .push_entry(entry(0xfc, 7, 40));
        }),
    );
    g.valid(
        "unknown-flags",
        "Unknown frame flag bits are kept by the codec and ignored by receivers.",
        with(Settings::new(), |f| {
            f.set_flags(0xff).push(SettingId::MAX_CONCURRENT_STREAMS, 1);
        }),
    );
    let entry8 = cat(&[&[0, 0, 0, 4], &be(100)]);
    g.invalid(
        "payload-empty",
        "SETTINGS needs at least its 4-byte entry count: session error.",
        control(SETTINGS, 0, &[]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "payload-3-bytes",
        "A 3-byte SETTINGS payload cannot hold the entry count: session error.",
        control(SETTINGS, 0, &[0, 0, 0]),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "count-above-entries",
        "The payload must be exactly 4+8n bytes for a count of n: count 2 with one entry is a session error.",
        control(SETTINGS, 0, &cat(&[&be(2), &entry8])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "count-below-entries",
        "Count 1 with two entries is a session error.",
        control(SETTINGS, 0, &cat(&[&be(1), &entry8, &entry8])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "count-0-with-entry",
        "Count 0 followed by an entry is a session error.",
        control(SETTINGS, 0, &cat(&[&be(0), &entry8])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "partial-entry",
        "Count 1 with an entry and 4 stray bytes is not 4+8n bytes: session error.",
        control(SETTINGS, 0, &cat(&[&be(1), &entry8, &be(0)])),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g.invalid(
        "huge-count",
        "Count 0xffffffff with no entries is a session error, found without allocating for the count.",
        control(SETTINGS, 0, &be(u32::MAX)),
        "bad-payload-size",
        SESSION_PROTOCOL_ERROR,
    );
    g
}
