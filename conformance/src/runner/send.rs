//! What the suite sends: the frames of `send` steps built from their specs,
//! raw bytes and parts, and the send failures that say something about the worker.

use bytes::Bytes;
use tokio::process::Child;
use zroute_proto::frame::{
    Data, GoAway, Headers, Ping, RstStream, Settings, SynStream, Welcome, WindowUpdate,
};
use zroute_proto::{Frame, GoAwayStatus, HeaderBlock, RstCode, SettingId, StreamId};
use zroute_transport::SendError;

use super::Run;
use super::verdict::{Outcome, Verdict, verdict};
use super::wire::describe;
use crate::case::{Case, SendSpec, parse_hex};

impl Run {
    pub(super) fn send_frame(&mut self, frame: &Frame) -> Result<(), Verdict> {
        self.note("->", describe(frame));
        self.send_bytes(&frame.to_bytes())
    }

    pub(super) fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), Verdict> {
        self.send_parts(&[bytes])
    }

    pub(super) fn send_parts(&mut self, parts: &[impl AsRef<[u8]>]) -> Result<(), Verdict> {
        let Some(peer) = self.peer.clone() else {
            return Err(verdict(
                Outcome::Error,
                "a registered worker",
                "no peer to send to",
            ));
        };
        let parts: Vec<&[u8]> = parts.iter().map(AsRef::as_ref).collect();
        for p in &parts {
            self.connection.sent(p.len());
        }
        let err = match self.socket.try_send_to(&peer, &parts) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            return Err(verdict(
                Outcome::Crash,
                "the worker to be running",
                format!("worker exited: {status}"),
            ));
        }
        Err(match err {
            SendError::HostUnreachable => verdict(
                Outcome::Fail,
                "the worker's socket to stay connected",
                "the worker's routing id is gone (socket closed)",
            ),
            e => verdict(
                Outcome::Error,
                "the send to succeed",
                format!("send failed: {e}"),
            ),
        })
    }

    pub(super) fn send_welcome(&mut self, case: &Case) -> Result<(), Verdict> {
        let w = &case.welcome;
        let mut attributes = HeaderBlock::new();
        for (n, v) in &w.attributes {
            attributes
                .insert(Bytes::from(n.clone()), Bytes::from(v.clone()))
                .map_err(|e| verdict(Outcome::Error, "valid WELCOME attributes", e.to_string()))?;
        }
        let welcome = Welcome::new(
            w.version,
            w.heartbeat_interval_ms,
            w.heartbeat_liveness,
            w.initial_window_size,
            attributes,
        );
        self.send_frame(&welcome.into())
    }

    pub(super) fn send(&mut self, s: &SendSpec, case: &Case) -> Result<(), Verdict> {
        let bad = |e: String| verdict(Outcome::Error, "a valid send step", e);
        let stream = |run: &Self| StreamId::new(s.stream.unwrap_or(run.vars.last_stream));
        match s.frame_type.as_str() {
            "SYN_STREAM" => {
                let repeat = match &s.repeat {
                    None => 1,
                    Some(toml::Value::Integer(n)) => {
                        u32::try_from(*n).map_err(|e| bad(e.to_string()))?
                    }
                    Some(toml::Value::String(v)) if v == "capacity" => self.vars.capacity,
                    Some(other) => return Err(bad(format!("bad repeat {other}"))),
                };
                if repeat > 256 {
                    return Err(verdict(
                        Outcome::Unsupported,
                        "a capacity of at most 256 streams",
                        format!("the worker announced {repeat}"),
                    ));
                }
                for _ in 0..repeat {
                    let id = s.stream.unwrap_or(self.next_stream);
                    let mut block = HeaderBlock::new();
                    if let Some(path) = &s.path {
                        let pairs = [
                            (":method", s.method.as_deref().unwrap_or("GET")),
                            (":path", path.as_str()),
                            (":version", "HTTP/1.1"),
                            (":host", "example.com"),
                            (":scheme", "http"),
                        ];
                        for (n, v) in pairs {
                            if !s.headers.contains_key(n) {
                                block
                                    .insert(Bytes::from(n), Bytes::from(v.to_owned()))
                                    .map_err(|e| bad(e.to_string()))?;
                            }
                        }
                    }
                    add_headers(&mut block, &s.headers).map_err(bad)?;
                    if s.method.as_deref() == Some("HEAD")
                        || s.headers.get(":method").and_then(toml::Value::as_str) == Some("HEAD")
                    {
                        self.monitor.head_requests.insert(id);
                    }
                    let mut syn = SynStream::new(StreamId::new(id), block);
                    syn.set_fin(s.fin.unwrap_or(true));
                    self.vars.last_stream = id;
                    self.next_stream = self.next_stream.max(id + 2);
                    self.send_frame(&syn.into())?;
                }
                Ok(())
            }
            "DATA" => {
                let payload = match (&s.text, &s.hex) {
                    (Some(t), None) => Bytes::from(t.clone()),
                    (None, Some(h)) => Bytes::from(parse_hex(h).map_err(bad)?),
                    (None, None) => Bytes::new(),
                    _ => return Err(bad("DATA takes text or hex, not both".into())),
                };
                let mut d = Data::new(stream(self), payload);
                d.set_fin(s.fin.unwrap_or(true));
                self.send_frame(&d.into())
            }
            "WINDOW_UPDATE" => {
                let delta = s
                    .delta
                    .ok_or_else(|| bad("WINDOW_UPDATE needs delta".into()))?;
                self.send_frame(
                    &WindowUpdate::new(StreamId::new(s.stream.unwrap_or(0)), delta).into(),
                )
            }
            "RST_STREAM" => {
                let code = code_value(s.code.as_ref(), rst_name).map_err(bad)?;
                self.send_frame(&RstStream::new(stream(self), RstCode::from_wire(code)).into())
            }
            "PING" => self.send_frame(&Ping::new(s.id.unwrap_or(1)).into()),
            "GOAWAY" => {
                let code = code_value(s.code.as_ref(), goaway_name).map_err(bad)?;
                let last = StreamId::new(s.last_good.unwrap_or(0));
                self.send_frame(&GoAway::new(last, GoAwayStatus::from_wire(code)).into())
            }
            "SETTINGS" => {
                let mut settings = Settings::new();
                for (id, value) in &s.settings {
                    settings.push(SettingId::from_wire(*id), *value);
                }
                self.send_frame(&settings.into())
            }
            "HEADERS" => {
                let block = header_block(&s.headers).map_err(bad)?;
                let mut h = Headers::trailers(stream(self), block);
                h.set_fin(s.fin.unwrap_or(true));
                self.send_frame(&h.into())
            }
            "WELCOME" => self.send_welcome(case),
            other => Err(bad(format!("cannot send frame type {other:?}"))),
        }
    }
}

/// A name/value block from a case's `headers` table (arrays are joined with NUL).
fn header_block(
    headers: &std::collections::BTreeMap<String, toml::Value>,
) -> Result<HeaderBlock, String> {
    let mut block = HeaderBlock::new();
    add_headers(&mut block, headers)?;
    Ok(block)
}

/// Adds a case's `headers` table to `block`.
fn add_headers(
    block: &mut HeaderBlock,
    headers: &std::collections::BTreeMap<String, toml::Value>,
) -> Result<(), String> {
    for (n, v) in headers {
        let value = match v {
            toml::Value::String(v) => v.clone(),
            toml::Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\0"),
            other => return Err(format!("bad header value {other}")),
        };
        block
            .insert(Bytes::from(n.clone()), Bytes::from(value))
            .map_err(|e| format!("header {n}: {e}"))?;
    }
    Ok(())
}

fn rst_name(code: u32) -> Option<&'static str> {
    RstCode::from_wire(code).name()
}

fn goaway_name(code: u32) -> Option<&'static str> {
    GoAwayStatus::from_wire(code).name()
}

fn code_value(
    v: Option<&toml::Value>,
    name_of: fn(u32) -> Option<&'static str>,
) -> Result<u32, String> {
    match v {
        None => Ok(0),
        Some(toml::Value::Integer(n)) => u32::try_from(*n).map_err(|e| e.to_string()),
        Some(toml::Value::String(s)) => (0..64)
            .find(|c| name_of(*c) == Some(s.as_str()))
            .ok_or_else(|| format!("unknown code {s:?}")),
        Some(other) => Err(format!("bad code {other}")),
    }
}
