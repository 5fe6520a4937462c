//! Matching a received frame: its [`FrameView`], the field matchers a case
//! writes, and the diff a failed match shows.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

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
    /// The frame must come through a connection to this address of the
    /// suite's ROUTER (a case with `dns`).
    pub at: Option<std::net::Ipv4Addr>,
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
                "at" => {
                    m.at = Some(
                        v.as_str()
                            .and_then(|a| a.parse().ok())
                            .ok_or("`at` must be an IPv4 address")?,
                    );
                }
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
            let v = view.header(name);
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
            let v = view.header(name);
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
        if let Some(at) = self.at {
            write!(f, " at {at}")?;
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

impl FrameView {
    /// The value of header `name`, as a matcher compares it.
    fn header(&self, name: &str) -> Option<Value> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| Value::Str(v.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            id: "w1".into(),
            capacity: 4,
            last_stream: 5,
        }
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
}
