//! Cases are data: one TOML file per case under `cases/<section>/<name>.toml`.
//!
//! This module loads and validates them; matchers are compiled at load time so
//! that a broken regex is a suite error, not a failed case.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

/// Requirement level of the spec sentence a case checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
    May,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
            Self::May => "MAY",
        })
    }
}

/// One conformance case, as loaded from its TOML file.
#[derive(Debug)]
pub struct Case {
    pub id: String,
    pub section: String,
    pub level: Level,
    pub requirement: String,
    pub feature: Option<String>,
    pub timeout_ms: u64,
    pub worker_args: Vec<String>,
    pub welcome: WelcomeSpec,
    pub auto_ping: bool,
    pub hello: FrameMatch,
    pub steps: Vec<Step>,
    pub path: PathBuf,
}

/// What the suite answers the worker's HELLO with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WelcomeSpec {
    /// `false`: never send WELCOME (handshake cases).
    #[serde(default = "yes")]
    pub send: bool,
    #[serde(default = "default_interval")]
    pub heartbeat_interval_ms: u32,
    #[serde(default = "default_liveness")]
    pub heartbeat_liveness: u32,
    #[serde(default = "default_window")]
    pub initial_window_size: u32,
    /// Protocol Version (default 1; other values make the WELCOME invalid).
    #[serde(default = "default_version")]
    pub version: u16,
    /// Attribute block (default empty).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl Default for WelcomeSpec {
    fn default() -> Self {
        Self {
            send: true,
            heartbeat_interval_ms: default_interval(),
            heartbeat_liveness: default_liveness(),
            initial_window_size: default_window(),
            version: default_version(),
            attributes: BTreeMap::new(),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_interval() -> u32 {
    1000
}
fn default_liveness() -> u32 {
    3
}
fn default_window() -> u32 {
    65_536
}
fn default_version() -> u16 {
    1
}
fn default_timeout() -> u64 {
    5000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    id: String,
    section: String,
    level: Level,
    requirement: String,
    feature: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    worker_args: Vec<String>,
    #[serde(default)]
    welcome: WelcomeSpec,
    #[serde(default = "yes")]
    auto_ping: bool,
    #[serde(default)]
    hello: BTreeMap<String, toml::Value>,
    #[serde(default)]
    steps: Vec<RawStep>,
}

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
struct RawStep {
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

/// A compiled field matcher.
#[derive(Clone, Debug)]
pub enum Matcher {
    Any,
    Absent,
    Int(i64),
    Str(String),
    Bool(bool),
    OneOf(Vec<Self>),
    Regex(Regex),
    Range { min: Option<i64>, max: Option<i64> },
    Parity { even: bool },
}

impl Matcher {
    pub fn parse(v: &toml::Value) -> Result<Self, String> {
        Ok(match v {
            toml::Value::Integer(i) => Self::Int(*i),
            toml::Value::Boolean(b) => Self::Bool(*b),
            toml::Value::String(s) if s == "any" => Self::Any,
            toml::Value::String(s) => Self::Str(s.clone()),
            toml::Value::Array(a) => {
                Self::OneOf(a.iter().map(Self::parse).collect::<Result<_, _>>()?)
            }
            toml::Value::Table(t) => {
                let get_int = |k: &str| -> Result<Option<i64>, String> {
                    match t.get(k) {
                        None => Ok(None),
                        Some(toml::Value::Integer(i)) => Ok(Some(*i)),
                        Some(other) => Err(format!("`{k}` must be an integer, not {other}")),
                    }
                };
                if let Some(r) = t.get("regex") {
                    let r = r.as_str().ok_or("`regex` must be a string")?;
                    Self::Regex(Regex::new(r).map_err(|e| format!("bad regex {r:?}: {e}"))?)
                } else if let Some(a) = t.get("one_of") {
                    Self::parse(&toml::Value::Array(
                        a.as_array().ok_or("`one_of` must be an array")?.clone(),
                    ))?
                } else if t.get("absent") == Some(&toml::Value::Boolean(true)) {
                    Self::Absent
                } else if let Some(p) = t.get("parity") {
                    match p.as_str() {
                        Some("even") => Self::Parity { even: true },
                        Some("odd") => Self::Parity { even: false },
                        _ => return Err("`parity` must be \"even\" or \"odd\"".into()),
                    }
                } else if t.contains_key("min") || t.contains_key("max") {
                    Self::Range {
                        min: get_int("min")?,
                        max: get_int("max")?,
                    }
                } else {
                    return Err(format!("unknown matcher table {v}"));
                }
            }
            other => return Err(format!("unsupported matcher value {other}")),
        })
    }

    /// Does `value` (None: the field or header is missing) match? `vars`
    /// substitutes `{id}`, `{capacity}`, `{last_stream}` in expected strings.
    pub fn matches(&self, value: Option<&Value>, vars: &Vars) -> bool {
        let Some(value) = value else {
            return match self {
                Self::Absent => true,
                Self::OneOf(alts) => alts.iter().any(|m| m.matches(None, vars)),
                _ => false,
            };
        };
        match self {
            Self::Any => true,
            Self::Absent => false,
            Self::Int(i) => value.as_int() == Some(*i),
            Self::Bool(b) => matches!(value, Value::Bool(v) if v == b),
            Self::Str(s) => {
                let s = vars.subst(s);
                value.as_text() == s || value.name() == Some(s.as_str())
            }
            Self::OneOf(alts) => alts.iter().any(|m| m.matches(Some(value), vars)),
            Self::Regex(r) => r.is_match(&value.as_text()),
            Self::Range { min, max } => value
                .as_int()
                .is_some_and(|i| min.is_none_or(|m| i >= m) && max.is_none_or(|m| i <= m)),
            Self::Parity { even } => value.as_int().is_some_and(|i| (i % 2 == 0) == *even),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::Absent => f.write_str("absent"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Str(s) => write!(f, "{s:?}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::OneOf(a) => {
                f.write_str("one of [")?;
                for (i, m) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{m}")?;
                }
                f.write_str("]")
            }
            Self::Regex(r) => write!(f, "/{}/", r.as_str()),
            Self::Range { min, max } => write!(
                f,
                "{}..={}",
                min.map_or(String::new(), |m| m.to_string()),
                max.map_or(String::new(), |m| m.to_string())
            ),
            Self::Parity { even } => f.write_str(if *even { "even" } else { "odd" }),
        }
    }
}

/// A field value of a received frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Str(String),
    Bool(bool),
    /// A status code: its number and, if known, its name.
    Code(u32, Option<&'static str>),
}

impl Value {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Code(c, _) => Some(i64::from(*c)),
            Self::Str(s) => s.parse().ok(),
            Self::Bool(_) => None,
        }
    }

    pub fn as_text(&self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Str(s) => s.clone(),
            Self::Bool(b) => b.to_string(),
            Self::Code(c, Some(n)) => format!("{n}({c})"),
            Self::Code(c, None) => c.to_string(),
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            Self::Code(_, n) => *n,
            _ => None,
        }
    }
}

/// Values known once the worker has registered, for templates.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    pub id: String,
    pub capacity: u32,
    pub last_stream: u32,
}

impl Vars {
    pub fn subst(&self, s: &str) -> String {
        s.replace("{id}", &self.id)
            .replace("{capacity}", &self.capacity.to_string())
            .replace("{last_stream}", &self.last_stream.to_string())
    }
}

/// A frame matcher: type plus field and header matchers.
#[derive(Clone, Debug, Default)]
pub struct FrameMatch {
    pub frame_type: Option<Matcher>,
    /// HELLO only: the frame must come from a routing id other than the current one.
    pub new_peer: bool,
    /// An alternative the spec merely tolerates: matching it gives NON-STRICT
    /// (FAIL under `--strict`); the text says what the strict behaviour was.
    pub non_strict: Option<String>,
    /// Matching this alternative ends the case (the remaining steps are skipped).
    pub end: bool,
    pub fields: Vec<(String, Matcher)>,
    pub headers: Vec<(String, Matcher)>,
}

impl FrameMatch {
    pub fn parse(t: &BTreeMap<String, toml::Value>) -> Result<Self, String> {
        let mut m = Self::default();
        for (k, v) in t {
            match k.as_str() {
                "type" => m.frame_type = Some(Matcher::parse(v)?),
                "new_peer" => m.new_peer = v.as_bool().ok_or("`new_peer` must be a boolean")?,
                "non_strict" => {
                    m.non_strict = Some(
                        v.as_str()
                            .ok_or("`non_strict` must be a string (why it is tolerated)")?
                            .to_owned(),
                    );
                }
                "end" => m.end = v.as_bool().ok_or("`end` must be a boolean")?,
                "headers" => {
                    let h = v.as_table().ok_or("`headers` must be a table")?;
                    for (name, hv) in h {
                        m.headers.push((name.clone(), Matcher::parse(hv)?));
                    }
                }
                _ => m.fields.push((k.clone(), Matcher::parse(v)?)),
            }
        }
        Ok(m)
    }

    /// Why `view` does not match, or `None` if it does.
    pub fn mismatch(&self, view: &FrameView, vars: &Vars) -> Option<String> {
        if let Some(t) = &self.frame_type
            && !t.matches(Some(&Value::Str(view.frame_type.to_owned())), vars)
        {
            return Some(format!("type {} is not {t}", view.frame_type));
        }
        for (name, m) in &self.fields {
            let v = view.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            if !m.matches(v, vars) {
                let got = v.map_or("missing".to_owned(), Value::as_text);
                return Some(format!("field {name} = {got}, expected {m}"));
            }
        }
        for (name, m) in &self.headers {
            let v = view
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| Value::Str(v.clone()));
            if !m.matches(v.as_ref(), vars) {
                let got = v.map_or("missing".to_owned(), |v| format!("{:?}", v.as_text()));
                return Some(format!("header {name} = {got}, expected {m}"));
            }
        }
        None
    }
}

impl FrameMatch {
    /// A field-by-field comparison of this matcher with a received frame: one
    /// line per expected item, marked `ok` or `!!`, then the frame's other fields.
    pub fn diff(&self, view: &FrameView, vars: &Vars) -> Vec<String> {
        let mark = |ok: bool| if ok { "ok" } else { "!!" };
        let mut lines = Vec::new();
        if let Some(t) = &self.frame_type {
            let ok = t.matches(Some(&Value::Str(view.frame_type.to_owned())), vars);
            lines.push(format!(
                "{} {:<22} expected {:<28} actual {}",
                mark(ok),
                "type",
                t.to_string(),
                view.frame_type
            ));
        }
        for (name, m) in &self.fields {
            let v = view.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
            let got = v.map_or("(missing)".to_owned(), Value::as_text);
            lines.push(format!(
                "{} {:<22} expected {:<28} actual {got}",
                mark(m.matches(v, vars)),
                name,
                m.to_string()
            ));
        }
        for (name, m) in &self.headers {
            let v = view
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| Value::Str(v.clone()));
            let got = v
                .as_ref()
                .map_or("(missing)".to_owned(), |v| format!("{:?}", v.as_text()));
            lines.push(format!(
                "{} {:<22} expected {:<28} actual {got}",
                mark(m.matches(v.as_ref(), vars)),
                format!("[{name}]"),
                m.to_string()
            ));
        }
        for (name, v) in &view.fields {
            if !self.fields.iter().any(|(n, _)| n == name) {
                lines.push(format!(
                    "   {:<22} {:<37} actual {}",
                    name,
                    "(not checked)",
                    v.as_text()
                ));
            }
        }
        for (name, v) in &view.headers {
            if !self.headers.iter().any(|(n, _)| n == name) {
                lines.push(format!(
                    "   {:<22} {:<37} actual {v:?}",
                    format!("[{name}]"),
                    "(not checked)"
                ));
            }
        }
        lines
    }
}

impl fmt::Display for FrameMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.frame_type {
            Some(Matcher::Str(t)) => f.write_str(t)?,
            Some(t) => write!(f, "{t}")?,
            None => f.write_str("any frame")?,
        }
        if self.new_peer {
            f.write_str(" from a new routing id")?;
        }
        for (n, m) in &self.fields {
            write!(f, " {n}={m}")?;
        }
        for (n, m) in &self.headers {
            write!(f, " [{n}: {m}]")?;
        }
        if let Some(why) = &self.non_strict {
            write!(f, " (NON-STRICT: {why})")?;
        }
        Ok(())
    }
}

/// The matchable view of a received frame.
#[derive(Clone, Debug)]
pub struct FrameView {
    pub frame_type: &'static str,
    pub fields: Vec<(&'static str, Value)>,
    pub headers: Vec<(String, String)>,
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

impl Case {
    pub fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let raw: RawCase = toml::from_str(text).map_err(|e| e.to_string())?;
        let hello = FrameMatch::parse(&raw.hello)?;
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (i, s) in raw.steps.into_iter().enumerate() {
            let step = parse_step(s).map_err(|e| format!("step {}: {e}", i + 1))?;
            steps.push(step);
        }
        Ok(Self {
            id: raw.id,
            section: raw.section,
            level: raw.level,
            requirement: raw.requirement,
            feature: raw.feature,
            timeout_ms: raw.timeout_ms,
            worker_args: raw.worker_args,
            welcome: raw.welcome,
            auto_ping: raw.auto_ping,
            hello,
            steps,
            path: path.to_owned(),
        })
    }
}

fn parse_step(s: RawStep) -> Result<Step, String> {
    let n = usize::from(s.expect.is_some())
        + usize::from(s.expect_unordered.is_some())
        + usize::from(s.expect_streams.is_some())
        + usize::from(s.send.is_some())
        + usize::from(s.send_raw.is_some())
        + usize::from(s.send_parts.is_some())
        + usize::from(s.signal.is_some())
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

/// The bundled cases directory.
pub fn default_cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cases")
}

/// Loads every `*.toml` under `dir`, sorted by id; ids must be unique and
/// match the file's place (`<section dir>/<name>.toml` gives `<section dir>/<name>`).
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, String> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut cases = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let case = Case::parse(&text, &f).map_err(|e| format!("{}: {e}", f.display()))?;
        let rel = f.strip_prefix(dir).unwrap_or(&f).with_extension("");
        let want: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
        if want.join("/") != case.id {
            return Err(format!(
                "{}: id {:?} does not match the file's path",
                f.display(),
                case.id
            ));
        }
        cases.push(case);
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = cases.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(format!("duplicate case id {}", w[0].id));
    }
    Ok(cases)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// `*` matches any run of characters (including `/`), `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The anchors (`<a id="...">`) of a spec text.
pub fn spec_anchors(spec: &str) -> Vec<String> {
    let re = Regex::new(r#"<a id="([^"]+)"></a>"#).expect("static regex");
    re.captures_iter(spec).map(|c| c[1].to_owned()).collect()
}

/// The spec next to the workspace.
pub fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/PROTOCOL.md")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Case, String> {
        Case::parse(text, Path::new("test.toml"))
    }

    const HEAD: &str = r#"
id = "x/y"
section = "handshake"
level = "MUST"
requirement = "A worker MUST send HELLO as the first frame on a new socket."
"#;

    fn vars() -> Vars {
        Vars {
            id: "w1".into(),
            capacity: 4,
            last_stream: 5,
        }
    }

    #[test]
    fn parses_a_case_with_every_step_kind() {
        let text = format!(
            r#"{HEAD}
feature = "trailers"
timeout_ms = 1234
worker_args = ["--capacity", "2"]
welcome = {{ initial_window_size = 1000 }}
hello = {{ type = "HELLO", capacity = {{ min = 1 }} }}

[[steps]]
send = {{ type = "SYN_STREAM", path = "/hello", headers = {{ x-multi = ["a", "b"] }} }}
[[steps]]
send_raw = "80 03 12 34 00 00 00 00"
[[steps]]
expect = {{ type = ["SYN_REPLY", "RST_STREAM"], stream = 1, headers = {{ ":status" = {{ regex = "^200" }} }} }}
[[steps]]
expect_none_for_ms = 100
strict = true
[[steps]]
expect_body = {{ text = "Hello from {{id}}", nonempty_frames = 1 }}
"#
        );
        let case = parse(&text).unwrap();
        assert_eq!(case.id, "x/y");
        assert_eq!(case.level, Level::Must);
        assert_eq!(case.feature.as_deref(), Some("trailers"));
        assert_eq!(case.timeout_ms, 1234);
        assert_eq!(case.welcome.initial_window_size, 1000);
        assert_eq!(case.welcome.heartbeat_interval_ms, 1000, "spec default");
        assert!(case.welcome.send);
        assert_eq!(case.steps.len(), 5);
        assert!(matches!(&case.steps[1], Step::SendRaw(b) if b.len() == 8 && b[2] == 0x12));
        assert!(matches!(
            case.steps[3],
            Step::ExpectNone {
                ms: 100,
                strict: true,
                any_peer: false,
                fixed: false,
                stream: None,
            }
        ));
    }

    #[test]
    fn rejects_bad_cases() {
        assert!(
            parse(&format!("{HEAD}\n[[steps]]\n"))
                .unwrap_err()
                .contains("exactly one action")
        );
        let two = format!("{HEAD}\n[[steps]]\nsend_raw = \"00\"\nexpect_none_for_ms = 1\n");
        assert!(parse(&two).unwrap_err().contains("exactly one action"));
        let bad_re = format!("{HEAD}\n[[steps]]\nexpect = {{ type = {{ regex = \"(\" }} }}\n");
        assert!(parse(&bad_re).unwrap_err().contains("bad regex"));
        assert!(parse(&format!("{HEAD}\n[[steps]]\nsend_raw = \"0g\"\n")).is_err());
        assert!(
            parse(&format!("{HEAD}\nbogus = 1\n")).is_err(),
            "unknown keys are errors"
        );
        assert!(parse(&HEAD.replace("MUST\"\n", "MUSTN'T\"\n")).is_err());
    }

    #[test]
    fn parses_alternatives_unordered_streams_and_step_deadlines() {
        let text = format!(
            r#"{HEAD}
[[steps]]
expect = [{{ type = "GOAWAY" }}, {{ type = "HELLO", new_peer = true, non_strict = "no GOAWAY", end = true }}]
[[steps]]
within_ms = 300
expect_unordered = [{{ type = "PING" }}, {{ type = "DATA", stream = 1 }}]
[[steps]]
expect_streams = [{{ stream = 1, body = {{ text = "ok" }}, trailers = {{ type = "HEADERS" }} }}]
[[steps]]
send_parts = ["80 03 00 06 00 00 00 04 00 00 00 01", ""]
[[steps]]
signal = "TERM"
[[steps]]
expect_exit = true
"#
        );
        let case = parse(&text).unwrap();
        let Step::ExpectOneOf(alts) = &case.steps[0] else {
            panic!("{:?}", case.steps[0])
        };
        assert_eq!(alts.len(), 2);
        assert_eq!(alts[1].non_strict.as_deref(), Some("no GOAWAY"));
        assert!(alts[1].end && alts[1].new_peer && !alts[0].end);
        assert!(matches!(
            &case.steps[1],
            Step::Within { ms: 300, step } if matches!(&**step, Step::ExpectUnordered(m) if m.len() == 2)
        ));
        let Step::ExpectStreams(streams) = &case.steps[2] else {
            panic!("{:?}", case.steps[2])
        };
        assert_eq!(streams[0].reply.to_string(), "SYN_REPLY", "default reply");
        assert!(streams[0].trailers.is_some());
        assert!(matches!(&case.steps[3], Step::SendParts(p) if p.len() == 2 && p[1].is_empty()));
        assert!(matches!(&case.steps[4], Step::Signal(s) if s == "TERM"));
        assert!(matches!(case.steps[5], Step::ExpectExit));

        let all_tolerated =
            format!("{HEAD}\n[[steps]]\nexpect = [{{ type = \"PING\", non_strict = \"x\" }}]\n");
        assert!(parse(&all_tolerated).unwrap_err().contains("strict"));
        let bad_signal = format!("{HEAD}\n[[steps]]\nsignal = \"KILL\"\n");
        assert!(parse(&bad_signal).is_err());
    }

    fn m(toml_value: &str) -> Matcher {
        let v: toml::Value = toml::from_str(&format!("v = {toml_value}")).unwrap();
        Matcher::parse(&v["v"]).unwrap()
    }

    #[test]
    fn matchers() {
        let v = vars();
        let int = Value::Int(7);
        assert!(m("7").matches(Some(&int), &v));
        assert!(!m("8").matches(Some(&int), &v));
        assert!(m("\"any\"").matches(Some(&int), &v));
        assert!(!m("\"any\"").matches(None, &v), "any means present");
        assert!(m("{ absent = true }").matches(None, &v));
        assert!(m("[1, 7]").matches(Some(&int), &v));
        assert!(m("{ one_of = [1, 7] }").matches(Some(&int), &v));
        assert!(!m("[1, 2]").matches(Some(&int), &v));
        assert!(m("{ min = 1 }").matches(Some(&int), &v));
        assert!(!m("{ min = 1, max = 6 }").matches(Some(&int), &v));
        assert!(m("{ parity = \"odd\" }").matches(Some(&int), &v));
        assert!(!m("{ parity = \"even\" }").matches(Some(&int), &v));
        assert!(m("true").matches(Some(&Value::Bool(true)), &v));
        assert!(m("\"{last_stream}\"").matches(Some(&Value::Int(5)), &v));
        let text = Value::Str("text/plain; charset=utf-8".into());
        assert!(m(r#"{ regex = '^text/plain\s*(;.*)?$' }"#).matches(Some(&text), &v));
        assert!(!m(r#"{ regex = '^application/json' }"#).matches(Some(&text), &v));
        let code = Value::Code(3, Some("REFUSED_STREAM"));
        assert!(m("\"REFUSED_STREAM\"").matches(Some(&code), &v));
        assert!(m("3").matches(Some(&code), &v));
        assert!(!m("\"CANCEL\"").matches(Some(&code), &v));
        assert!(m("\"Hello from {id}\"").matches(Some(&Value::Str("Hello from w1".into())), &v));
        assert!(Matcher::parse(&toml::Value::Float(1.5)).is_err());
    }

    #[test]
    fn frame_matcher_checks_type_fields_and_headers() {
        let t: BTreeMap<String, toml::Value> = toml::from_str(
            r#"type = "SYN_REPLY"
stream = 1
headers = { ":status" = "200", "x-gone" = { absent = true } }"#,
        )
        .unwrap();
        let fm = FrameMatch::parse(&t).unwrap();
        let view = |ty, stream, status: &str| FrameView {
            frame_type: ty,
            fields: vec![("stream", Value::Int(stream))],
            headers: vec![(":status".into(), status.into())],
        };
        let v = vars();
        assert_eq!(fm.mismatch(&view("SYN_REPLY", 1, "200"), &v), None);
        assert!(
            fm.mismatch(&view("DATA", 1, "200"), &v)
                .unwrap()
                .contains("type")
        );
        assert!(
            fm.mismatch(&view("SYN_REPLY", 3, "200"), &v)
                .unwrap()
                .contains("stream")
        );
        assert!(
            fm.mismatch(&view("SYN_REPLY", 1, "404"), &v)
                .unwrap()
                .contains(":status")
        );
        let mut extra = view("SYN_REPLY", 1, "200");
        extra.headers.push(("x-gone".into(), "here".into()));
        assert!(fm.mismatch(&extra, &v).unwrap().contains("x-gone"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("handshake/*", "handshake/hello-has-id"));
        assert!(glob_match("*", "a/b"));
        assert!(glob_match("*/hello-*-id", "handshake/hello-has-id"));
        assert!(glob_match("test-app/get-hell?", "test-app/get-hello"));
        assert!(!glob_match("handshake/*", "heartbeat/echo"));
        assert!(!glob_match("test-app/get", "test-app/get-hello"));
    }

    #[test]
    fn hex() {
        assert_eq!(parse_hex("80 03\n00 06").unwrap(), [0x80, 3, 0, 6]);
        assert!(parse_hex("8").is_err());
    }
}
