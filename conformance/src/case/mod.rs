//! Cases are data: one TOML file per case under `cases/<section>/<name>.toml`.
//!
//! This module loads and validates them; matchers are compiled at load time so
//! that a broken regex is a suite error, not a failed case. The case file's
//! top level is here, its steps in `step.rs`, and the matchers that judge a
//! received frame in `matcher.rs`.

mod matcher;
mod step;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

pub use self::matcher::{FrameMatch, FrameView, Matcher, Value, Vars};
pub use self::step::{BodySpec, SendSpec, Step, StreamExpect, parse_hex};

use self::step::{RawStep, parse_step};

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
    /// The worker is given a name, served by the suite's nameserver, rather
    /// than the ROUTER's address (spec #transport-discovery).
    pub dns: Option<DnsSetup>,
}

/// How a case publishes the suite's ROUTER under a name. The ROUTER is
/// bound on 127.0.0.1, 127.0.0.2 and 127.0.0.3, on one port, so that each
/// address the answer names is a router endpoint of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSetup {
    /// SRV records (`dns+srv://`), each target with one of the addresses;
    /// else A records of one name (`tcp://name:port`).
    pub srv: bool,
    /// The first answer.
    pub answer: Vec<std::net::Ipv4Addr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    #[serde(default)]
    srv: bool,
    answer: Vec<String>,
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
    dns: Option<RawDns>,
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
        let dns = match raw.dns {
            None => None,
            Some(d) => Some(DnsSetup {
                srv: d.srv,
                answer: step::loopback_addresses(&d.answer)?,
            }),
        };
        Ok(Self {
            dns,
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
