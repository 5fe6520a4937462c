//! The corpus: the frames the loaded cases send after the handshake.

use bytes::Bytes;
use zroute_proto::frame::{Data, GoAway, Ping, RstStream, Settings, SynStream, WindowUpdate};
use zroute_proto::{Frame, GoAwayStatus, HeaderBlock, RstCode, SettingId, StreamId};

use crate::case::{Case, SendSpec, Step, parse_hex};

/// The frames one case sends after the handshake, with the case's id.
pub fn corpus(cases: &[&Case]) -> Vec<(String, Vec<Vec<u8>>)> {
    cases
        .iter()
        .filter(|c| c.welcome.send)
        .filter_map(|c| {
            let frames = case_frames(c);
            (!frames.is_empty()).then(|| (c.id.clone(), frames))
        })
        .collect()
}

/// The bytes of a case's `send` and `send_raw` steps. Sends that need the
/// worker's HELLO (`repeat = "capacity"`) are sent once; WELCOME is left out.
pub fn case_frames(case: &Case) -> Vec<Vec<u8>> {
    let (mut out, mut last, mut next) = (Vec::new(), 1u32, 1u32);
    for step in &case.steps {
        match step {
            Step::SendRaw(bytes) => out.push(bytes.clone()),
            Step::Send(s) => {
                if let Some(f) = encode_send(s, &mut last, &mut next) {
                    out.push(f.to_vec());
                }
            }
            _ => {}
        }
    }
    out
}

fn encode_send(s: &SendSpec, last: &mut u32, next: &mut u32) -> Option<Bytes> {
    let stream = StreamId::new(s.stream.unwrap_or(*last));
    let code = |v: &Option<toml::Value>, name_of: fn(u32) -> Option<&'static str>| match v {
        Some(toml::Value::Integer(n)) => u32::try_from(*n).unwrap_or(0),
        Some(toml::Value::String(s)) => (0..64).find(|c| name_of(*c) == Some(s)).unwrap_or(0),
        _ => 0,
    };
    let frame: Frame = match s.frame_type.as_str() {
        "SYN_STREAM" => {
            let id = s.stream.unwrap_or(*next);
            let mut block = HeaderBlock::new();
            if let Some(path) = &s.path {
                for (n, v) in [
                    (":method", s.method.as_deref().unwrap_or("GET")),
                    (":path", path.as_str()),
                    (":version", "HTTP/1.1"),
                    (":host", "example.com"),
                    (":scheme", "http"),
                ] {
                    block
                        .insert(Bytes::from(n), Bytes::from(v.to_owned()))
                        .ok()?;
                }
            }
            for (n, v) in &s.headers {
                let value = match v {
                    toml::Value::String(v) => v.clone(),
                    toml::Value::Array(a) => a
                        .iter()
                        .filter_map(toml::Value::as_str)
                        .collect::<Vec<_>>()
                        .join("\0"),
                    _ => continue,
                };
                block
                    .insert(Bytes::from(n.clone()), Bytes::from(value))
                    .ok()?;
            }
            let mut syn = SynStream::new(StreamId::new(id), block);
            syn.set_fin(s.fin.unwrap_or(true));
            *last = id;
            *next = (*next).max(id + 2);
            syn.into()
        }
        "DATA" => {
            let payload = match (&s.text, &s.hex) {
                (Some(t), _) => Bytes::from(t.clone()),
                (None, Some(h)) => Bytes::from(parse_hex(h).ok()?),
                (None, None) => Bytes::new(),
            };
            let mut d = Data::new(stream, payload);
            d.set_fin(s.fin.unwrap_or(true));
            d.into()
        }
        "WINDOW_UPDATE" => WindowUpdate::new(StreamId::new(s.stream.unwrap_or(0)), s.delta?).into(),
        "RST_STREAM" => RstStream::new(
            stream,
            RstCode::from_wire(code(&s.code, |c| RstCode::from_wire(c).name())),
        )
        .into(),
        "PING" => Ping::new(s.id.unwrap_or(1)).into(),
        "GOAWAY" => GoAway::new(
            StreamId::new(s.last_good.unwrap_or(0)),
            GoAwayStatus::from_wire(code(&s.code, |c| GoAwayStatus::from_wire(c).name())),
        )
        .into(),
        "SETTINGS" => {
            let mut settings = Settings::new();
            for (id, value) in &s.settings {
                settings.push(SettingId::from_wire(*id), *value);
            }
            settings.into()
        }
        _ => return None,
    };
    Some(frame.to_bytes())
}
