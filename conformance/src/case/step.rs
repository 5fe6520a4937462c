//! A case's steps: what the TOML says (`RawStep`), and the checked [`Step`]
//! the runner plays, with the specs of the frames it sends and the bodies it
//! collects.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use super::matcher::{FrameMatch, Matcher};

type Table = BTreeMap<String, toml::Value>;

/// `expect` takes one frame matcher or an array of alternatives.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawExpect {
    One(Table),
    Alternatives(Vec<Table>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    expect: Option<RawExpect>,
    expect_unordered: Option<Vec<Table>>,
    expect_streams: Option<Vec<RawStreamExpect>>,
    send: Option<SendSpec>,
    send_raw: Option<String>,
    send_parts: Option<Vec<String>>,
    signal: Option<String>,
    expect_exit: Option<bool>,
    expect_none_for_ms: Option<u64>,
    expect_body: Option<BodySpec>,
    /// For `expect_none_for_ms`: not even PING or WINDOW_UPDATE is allowed.
    #[serde(default)]
    strict: bool,
    /// A deadline for this step alone (it never extends the case deadline).
    within_ms: Option<u64>,
    /// For `expect_none_for_ms`: frames from other routing ids count too.
    #[serde(default)]
    any_peer: bool,
    /// For `expect_none_for_ms`: only frames naming this stream count (all of them).
    stream: Option<u32>,
    /// The suite's nameserver answers with these addresses from now on
    /// (a case with `dns` only).
    dns: Option<Vec<String>>,
    /// The suite's nameserver answers SERVFAIL (`true`) or its answer again.
    dns_failing: Option<bool>,
    /// For `expect_none_for_ms`: the window is not multiplied by
    /// `--timeout-scale` (a lower bound the spec sets, such as a backoff).
    #[serde(default)]
    fixed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStreamExpect {
    stream: u32,
    reply: Option<Table>,
    body: Option<BodySpec>,
    trailers: Option<Table>,
}

/// One step of a case.
#[derive(Debug)]
pub enum Step {
    Expect(FrameMatch),
    /// The next frame must match one of these (each may be `non_strict`).
    ExpectOneOf(Vec<FrameMatch>),
    /// The next frames must match all of these, each once, in any order.
    ExpectUnordered(Vec<FrameMatch>),
    /// Whole responses of several streams, whose frames may interleave.
    ExpectStreams(Vec<StreamExpect>),
    Send(SendSpec),
    SendRaw(Vec<u8>),
    /// Several parts in one message, each hex (an empty string is an empty part).
    SendParts(Vec<Vec<u8>>),
    /// Sends a signal (`TERM`, `INT`, ...) to the worker process.
    Signal(String),
    /// The suite's nameserver answers with these addresses from now on.
    Dns(Vec<std::net::Ipv4Addr>),
    /// The suite's nameserver answers SERVFAIL, or stops doing so.
    DnsFailing(bool),
    /// The worker process exits (PING and WINDOW_UPDATE may come first).
    ExpectExit,
    ExpectNone {
        ms: u64,
        strict: bool,
        any_peer: bool,
        fixed: bool,
        stream: Option<u32>,
    },
    ExpectBody(BodySpec),
    /// `step` with its own deadline of `ms` (scaled), capped by the case deadline.
    Within {
        ms: u64,
        step: Box<Self>,
    },
}

/// The expected response on one stream of an `expect_streams` step.
#[derive(Debug)]
pub struct StreamExpect {
    pub stream: u32,
    /// Matches the first frame of the stream (default: a SYN_REPLY).
    pub reply: FrameMatch,
    /// Checked when the stream's response ends (FIN on DATA or HEADERS).
    pub body: Option<BodySpec>,
    /// Matches the HEADERS frame that ends the stream; without it, trailers fail.
    pub trailers: Option<FrameMatch>,
}

/// A frame the suite sends, with typed fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendSpec {
    #[serde(rename = "type")]
    pub frame_type: String,
    /// Stream id; SYN_STREAM allocates the next odd id when absent, other
    /// frames default to the last SYN_STREAM's id.
    pub stream: Option<u32>,
    /// FLAG_FIN; SYN_STREAM and DATA default to `true`.
    pub fin: Option<bool>,
    /// SYN_STREAM convenience: `:method` (default GET).
    pub method: Option<String>,
    /// SYN_STREAM convenience: `:path` (with `:version`, `:host`, `:scheme` defaults).
    pub path: Option<String>,
    /// Extra header fields; an array value is joined with NUL.
    #[serde(default)]
    pub headers: BTreeMap<String, toml::Value>,
    /// DATA payload as text.
    pub text: Option<String>,
    /// DATA payload as hex.
    pub hex: Option<String>,
    /// WINDOW_UPDATE delta.
    pub delta: Option<u32>,
    /// RST_STREAM / GOAWAY status, by name or number.
    pub code: Option<toml::Value>,
    /// PING id.
    pub id: Option<u32>,
    /// GOAWAY last-good stream id.
    pub last_good: Option<u32>,
    /// SETTINGS entries: `[[id, value], ...]`.
    #[serde(default)]
    pub settings: Vec<(u32, u32)>,
    /// SYN_STREAM: send this many (an integer, or "capacity" for the HELLO's value).
    pub repeat: Option<toml::Value>,
}

/// Collects DATA of one stream and checks the body.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// Defaults to the last SYN_STREAM's id.
    pub stream: Option<u32>,
    /// Stop after this many bytes instead of at FIN (FIN before is a failure).
    pub upto: Option<usize>,
    pub text: Option<String>,
    pub hex: Option<String>,
    pub length: Option<usize>,
    pub regex: Option<String>,
    /// Number of non-empty DATA frames.
    pub nonempty_frames: Option<usize>,
    /// Byte i of the body is i mod 256 (`/large`).
    #[serde(default)]
    pub index_mod_256: bool,
    /// The body is JSON and contains (at least) these members.
    pub json: Option<toml::Value>,
    /// The body is JSON and has none of these members (paths like `headers/:foo`).
    #[serde(default)]
    pub json_absent: Vec<String>,
}

pub(super) fn parse_step(s: RawStep) -> Result<Step, String> {
    let n = usize::from(s.expect.is_some())
        + usize::from(s.expect_unordered.is_some())
        + usize::from(s.expect_streams.is_some())
        + usize::from(s.send.is_some())
        + usize::from(s.send_raw.is_some())
        + usize::from(s.send_parts.is_some())
        + usize::from(s.signal.is_some())
        + usize::from(s.dns.is_some())
        + usize::from(s.dns_failing.is_some())
        + usize::from(s.expect_exit == Some(true))
        + usize::from(s.expect_none_for_ms.is_some())
        + usize::from(s.expect_body.is_some());
    if n != 1 {
        return Err(format!("exactly one action expected, found {n}"));
    }
    let all = |ts: &[Table]| {
        ts.iter()
            .map(FrameMatch::parse)
            .collect::<Result<Vec<_>, _>>()
    };
    let step = if let Some(e) = s.expect {
        match e {
            RawExpect::One(t) => Step::Expect(FrameMatch::parse(&t)?),
            RawExpect::Alternatives(ts) if ts.is_empty() => {
                return Err("`expect` needs at least one alternative".into());
            }
            RawExpect::Alternatives(ts) => {
                let alts = all(&ts)?;
                if alts.iter().all(|a| a.non_strict.is_some()) {
                    return Err("at least one alternative must be strict".into());
                }
                Step::ExpectOneOf(alts)
            }
        }
    } else if let Some(ts) = s.expect_unordered {
        let ms = all(&ts)?;
        if ms.is_empty() || ms.iter().any(|m| m.non_strict.is_some() || m.new_peer) {
            return Err("`expect_unordered` needs plain matchers".into());
        }
        Step::ExpectUnordered(ms)
    } else if let Some(streams) = s.expect_streams {
        let mut out = Vec::new();
        for r in streams {
            if let Some(b) = &r.body {
                check_body_spec(b)?;
            }
            let reply = match &r.reply {
                Some(t) => FrameMatch::parse(t)?,
                None => FrameMatch {
                    frame_type: Some(Matcher::Str("SYN_REPLY".into())),
                    ..FrameMatch::default()
                },
            };
            out.push(StreamExpect {
                stream: r.stream,
                reply,
                body: r.body,
                trailers: r.trailers.as_ref().map(FrameMatch::parse).transpose()?,
            });
        }
        Step::ExpectStreams(out)
    } else if let Some(send) = s.send {
        Step::Send(send)
    } else if let Some(hex) = s.send_raw {
        Step::SendRaw(parse_hex(&hex)?)
    } else if let Some(parts) = s.send_parts {
        Step::SendParts(
            parts
                .iter()
                .map(|p| parse_hex(p))
                .collect::<Result<_, _>>()?,
        )
    } else if let Some(answer) = s.dns {
        Step::Dns(loopback_addresses(&answer)?)
    } else if let Some(failing) = s.dns_failing {
        Step::DnsFailing(failing)
    } else if let Some(sig) = s.signal {
        if !matches!(sig.as_str(), "TERM" | "INT" | "HUP" | "USR1" | "USR2") {
            return Err(format!("unsupported signal {sig:?}"));
        }
        Step::Signal(sig)
    } else if s.expect_exit == Some(true) {
        Step::ExpectExit
    } else if let Some(ms) = s.expect_none_for_ms {
        Step::ExpectNone {
            ms,
            strict: s.strict,
            any_peer: s.any_peer,
            fixed: s.fixed,
            stream: s.stream,
        }
    } else if let Some(b) = s.expect_body {
        check_body_spec(&b)?;
        Step::ExpectBody(b)
    } else {
        unreachable!("counted above")
    };
    Ok(match s.within_ms {
        Some(ms) => Step::Within {
            ms,
            step: Box::new(step),
        },
        None => step,
    })
}

fn check_body_spec(b: &BodySpec) -> Result<(), String> {
    if let Some(r) = &b.regex {
        Regex::new(r).map_err(|e| format!("bad regex: {e}"))?;
    }
    if let Some(h) = &b.hex {
        parse_hex(h)?;
    }
    Ok(())
}

/// Parses a hex string; white space is ignored.
pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in {s:?}"));
    }
    digits
        .chunks(2)
        .map(|c| {
            let txt = std::str::from_utf8(c).map_err(|e| e.to_string())?;
            u8::from_str_radix(txt, 16).map_err(|_| format!("bad hex {txt:?} in {s:?}"))
        })
        .collect()
}

/// Addresses the suite's ROUTER is bound on: 127.0.0.1 to 127.0.0.3.
pub(super) fn loopback_addresses(list: &[String]) -> Result<Vec<std::net::Ipv4Addr>, String> {
    list.iter()
        .map(|a| match a.parse::<std::net::Ipv4Addr>() {
            Ok(ip) if matches!(ip.octets(), [127, 0, 0, 1..=3]) => Ok(ip),
            _ => Err(format!(
                "DNS answer {a:?}: the suite's ROUTER is on 127.0.0.1 to 127.0.0.3 only"
            )),
        })
        .collect()
}
