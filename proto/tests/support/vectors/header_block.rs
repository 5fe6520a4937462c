//! Vectors for Malformed name/value blocks in every frame type that carries one (spec #header-block).

#[allow(
    clippy::wildcard_imports,
    reason = "the byte builders are this module's vocabulary"
)]
use super::build::*;
use super::group::Group;

/// A malformed block to drop into every frame type that carries one.
struct BadBlock {
    name: &'static str,
    what: &'static str,
    block: Vec<u8>,
    error: &'static str,
}

fn bad_blocks() -> Vec<BadBlock> {
    let bad = |name, what, block, error| BadBlock {
        name,
        what,
        block,
        error,
    };
    let truncated = "header-block-truncated";
    let invalid_name = "invalid-header-name";
    let invalid_value = "invalid-header-value";
    vec![
        bad(
            "missing-count",
            "a block with no bytes at all, not even its count",
            vec![],
            truncated,
        ),
        bad(
            "truncated-count",
            "a block of 3 bytes, too short for its 4-byte count",
            vec![0, 0, 1],
            truncated,
        ),
        bad(
            "truncated-name-length",
            "a second pair cut off inside its name length",
            cat(&[&be(2), &raw_block(&[(b"abcdef", b"ghij")])[4..], &[0, 0, 0]]),
            truncated,
        ),
        bad(
            "truncated-name",
            "a name length of 20 with 6 name bytes left",
            cat(&[&be(1), &be(20), b"abcdef"]),
            truncated,
        ),
        bad(
            "truncated-value-length",
            "a pair cut off inside its value length",
            cat(&[&be(1), &be(4), b"abcd", &[0, 0]]),
            truncated,
        ),
        bad(
            "truncated-value",
            "a value length of 100 with 3 value bytes left",
            cat(&[&be(1), &be(1), b"a", &be(100), b"xyz"]),
            truncated,
        ),
        bad(
            "count-too-large",
            "a count of 2 with room for one 8-byte pair only",
            cat(&[&be(2), &raw_block(&[(b"a", b"b")])[4..]]),
            "header-count-too-large",
        ),
        bad(
            "huge-count",
            "a count of 0xffffffff with no pairs, refused before allocating",
            be(u32::MAX).to_vec(),
            "header-count-too-large",
        ),
        bad(
            "empty-name",
            "a name of length 0",
            raw_block(&[(b"", b"x")]),
            "empty-header-name",
        ),
        bad(
            "uppercase-name",
            "an uppercase name (Content-Type)",
            raw_block(&[(b"Content-Type", b"text/plain")]),
            "uppercase-header-name",
        ),
        bad(
            "uppercase-pseudo-name",
            "an uppercase pseudo-header name (:Path)",
            raw_block(&[(b":Path", b"/")]),
            "uppercase-header-name",
        ),
        bad(
            "invalid-name-byte",
            "a name with a space, which is not a token byte",
            raw_block(&[(b"x y", b"1")]),
            invalid_name,
        ),
        bad(
            "colon-inside-name",
            "a ':' that is not the first byte of the name",
            raw_block(&[(b"a:b", b"1")]),
            invalid_name,
        ),
        bad(
            "bare-colon-name",
            "a name that is only ':'",
            raw_block(&[(b":", b"1")]),
            invalid_name,
        ),
        bad(
            "duplicate-name",
            "the same name twice, not adjacent",
            raw_block(&[(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]),
            "duplicate-header-name",
        ),
        bad(
            "cr-in-value",
            "a CR byte in a value",
            raw_block(&[(b"x-a", b"one\rtwo")]),
            invalid_value,
        ),
        bad(
            "lf-in-value",
            "an LF byte in a value",
            raw_block(&[(b"x-a", b"one\ntwo")]),
            invalid_value,
        ),
        bad(
            "leading-nul",
            "a value starting with NUL (an empty first segment)",
            raw_block(&[(b"x-a", b"\0one")]),
            invalid_value,
        ),
        bad(
            "trailing-nul",
            "a value ending with NUL (an empty last segment)",
            raw_block(&[(b"x-a", b"one\0")]),
            invalid_value,
        ),
        bad(
            "double-nul",
            "two NULs in a row in a value (an empty middle segment)",
            raw_block(&[(b"x-a", b"one\0\0two")]),
            invalid_value,
        ),
        bad(
            "lone-nul",
            "a value that is a single NUL (two empty segments)",
            raw_block(&[(b"x-a", b"\0")]),
            invalid_value,
        ),
        bad(
            "trailing-bytes",
            "a stray byte after the last pair",
            cat(&[&raw_block(&[(b"a", b"b")]), &[0]]),
            "header-block-trailing-bytes",
        ),
        bad(
            "trailing-bytes-zero-count",
            "a count of 0 followed by 4 more bytes",
            cat(&[&be(0), &be(0)]),
            "header-block-trailing-bytes",
        ),
    ]
}

/// Puts a name/value block into a frame of one of the types that carry one.
type WrapBlock = fn(&[u8]) -> Vec<u8>;

pub(super) fn header_block() -> Group {
    let mut g = Group::new("header_block", "header-block");
    let reply = |id, pairs: &[(&str, &str)]| SynReply::new(sid(id), block(pairs));
    g.valid(
        "all-token-bytes",
        "Every byte the name rule allows: lowercase letters, digits and !#$%&'*+-.^_`|~.",
        reply(
            1,
            &[
                (":status", "200"),
                ("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz", "x"),
            ],
        ),
    );
    g.valid(
        "unknown-pseudo-header",
        "An unknown pseudo-header (':' then token bytes) is well-formed; receivers ignore it.",
        reply(3, &[(":status", "200"), (":x-future", "1")]),
    );
    g.valid(
        "empty-value",
        "A value may be entirely empty.",
        reply(5, &[(":status", "200"), ("x-empty", "")]),
    );
    g.valid(
        "three-values",
        "Three values joined by NUL, none of them empty.",
        reply(
            7,
            &[(":status", "200"), ("via", "1.1 a\u{0}1.1 b\u{0}1.1 c")],
        ),
    );
    g.valid(
        "value-bytes",
        "Any byte but CR and LF may appear in a value: tab, DEL, bytes 0x80 to 0xff that are not UTF-8, spaces at the ends (in JSON each byte is the character of the same code point).",
        SynReply::new(
            sid(9),
            HeaderBlock::from_pairs([
                (&b":status"[..], &b"200"[..]),
                (b"x-bytes", b" tab\there \x7f caf\xe9 \x80\xff "),
            ])
            .unwrap(),
        ),
    );
    g.valid(
        "zero-pairs",
        "A block of count 0 and nothing else.",
        Headers::trailers(sid(11), HeaderBlock::new()),
    );
    let many: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-h-{i}"), i.to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    g.valid(
        "hundred-pairs",
        "100 pairs, the router's default limit, all distinct.",
        reply(13, &many),
    );

    let hosts: [(&str, &str, WrapBlock, Reaction); 4] = [
        (
            "syn-stream",
            "a SYN_STREAM: a stream error PROTOCOL_ERROR",
            |b| control(SYN_STREAM, FIN, &cat(&[&be(5), &be(0), &[0x60, 0], b])),
            stream_err(5, RstCode::PROTOCOL_ERROR),
        ),
        (
            "syn-reply",
            "a SYN_REPLY: a stream error PROTOCOL_ERROR",
            |b| control(SYN_REPLY, 0, &cat(&[&be(5), b])),
            stream_err(5, RstCode::PROTOCOL_ERROR),
        ),
        (
            "headers",
            "a HEADERS: a stream error PROTOCOL_ERROR",
            |b| control(HEADERS, FIN, &cat(&[&be(5), b])),
            stream_err(5, RstCode::PROTOCOL_ERROR),
        ),
        (
            "hello",
            "HELLO's attribute block: a session error PROTOCOL_ERROR, as HELLO has no stream",
            |b| control(HELLO, 0, &cat(&[&[0, 1, 0, 0], &be(4), &be(65_536), b])),
            SESSION_PROTOCOL_ERROR,
        ),
    ];
    for bad in bad_blocks() {
        for (host, where_, frame, reaction) in &hosts {
            let comment = format!("{} in {where_}.", capitalize(bad.what));
            g.invalid(
                &format!("{}-in-{host}", bad.name),
                &comment,
                frame(&bad.block),
                bad.error,
                *reaction,
            );
        }
    }
    g
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
