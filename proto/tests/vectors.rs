//! Checks `spec/vectors/*.json` against the codec in both directions, and
//! against a fresh run of the generator so the files cannot drift from it.
//!
//! The files are read as plain JSON, the way another implementation would
//! read them: frames are rebuilt from the JSON fields, not taken from the
//! generator's definitions.
//!
//! spec: #vectors, #vectors-files, #vectors-format, #vectors-frames, #vectors-errors,
//! #vectors-use, #vectors-regenerate.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;
use zroute_proto::codes::{FrameType, GoAwayStatus, RstCode, SettingId};
use zroute_proto::frame::{
    Data, GoAway, Headers, Hello, Ping, RstStream, Setting, Settings, SynReply, SynStream, Unknown,
    Welcome, WindowUpdate,
};
use zroute_proto::{Frame, HeaderBlock, StreamId};

#[path = "support/vectors/mod.rs"]
mod support;

use support::json::Json;
use support::{FORMAT, GENERATED_BY, SECTIONS};

const FILES: [&str; 14] = [
    "data.json",
    "frame_header.json",
    "goaway.json",
    "header_block.json",
    "headers.json",
    "hello.json",
    "ping.json",
    "rst_stream.json",
    "settings.json",
    "syn_reply.json",
    "syn_stream.json",
    "unknown.json",
    "welcome.json",
    "window_update.json",
];

const MIN_VECTORS: usize = 60;

fn regenerate_hint() -> String {
    format!(
        "If the change to the codec or to tests/support/vectors/ is intended, regenerate the files with `{GENERATED_BY}` and review the diff."
    )
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors")
}

struct File {
    name: String,
    doc: Value,
}

fn load_files() -> Vec<File> {
    let dir = vectors_dir();
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}\nGenerate the vectors with `{GENERATED_BY}`.",
            dir.display()
        )
    });
    let mut files: Vec<File> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|path| {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let doc = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            File { name, doc }
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

fn vectors(file: &File) -> &[Value] {
    file.doc["vectors"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: `vectors` is not an array", file.name))
}

#[test]
fn vectors_match_the_codec() {
    let files = load_files();
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &files {
        for v in vectors(file) {
            let id = v["id"].as_str().unwrap_or("<no id>");
            if let Err(e) = check_vector(v) {
                failures.push(format!("{}: {id}: {e}", file.name));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} vectors failed (decode: hex to frame, encode: frame to hex, reject: invalid hex must fail as stated):\n  {}\n{}",
        failures.len(),
        failures.join("\n  "),
        regenerate_hint()
    );
}

#[test]
fn vector_files_are_well_formed() {
    let files = load_files();
    let names: BTreeSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let expected: BTreeSet<&str> = FILES.into_iter().collect();
    assert_eq!(
        names,
        expected,
        "spec/vectors holds other files than the generator writes. {}",
        regenerate_hint()
    );

    let mut ids = HashSet::new();
    let mut total = 0;
    for file in &files {
        let doc = &file.doc;
        assert_eq!(doc["format"], FORMAT, "{}: format", file.name);
        assert_eq!(
            doc["generatedBy"], GENERATED_BY,
            "{}: generatedBy",
            file.name
        );
        let section = doc["section"].as_str().unwrap_or_default();
        assert!(
            SECTIONS.contains(&section),
            "{}: unknown section {section:?}",
            file.name
        );
        let prefix = format!("{}/", file.name.trim_end_matches(".json").replace('_', "-"));
        for v in vectors(file) {
            let id = v["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: vector without id", file.name));
            assert!(
                ids.insert(id.to_owned()),
                "{}: duplicate id {id}",
                file.name
            );
            assert!(
                id.starts_with(&prefix),
                "{id}: id does not start with {prefix}"
            );
            let section = v["section"].as_str().unwrap_or_default();
            assert!(
                SECTIONS.contains(&section),
                "{id}: unknown section {section:?}"
            );
            let comment = v["comment"].as_str().unwrap_or_default();
            assert!(!comment.is_empty(), "{id}: no comment");
            let hex = v["hex"].as_str().unwrap_or_else(|| panic!("{id}: no hex"));
            assert!(
                hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "{id}: hex is not lowercase hex digits"
            );
            total += 1;
        }
    }
    assert!(
        total >= MIN_VECTORS,
        "only {total} vectors, expected at least {MIN_VECTORS}"
    );
}

#[test]
fn vector_files_match_the_generator() {
    let tmp =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vectors-{}", std::process::id()));
    fs::create_dir_all(&tmp).unwrap();
    let generated = support::write_all(&tmp).expect("generator writes into a temp dir");
    let mut stale = Vec::new();
    for file in &generated {
        let fresh = fs::read(tmp.join(&file.name)).unwrap();
        let committed = fs::read(vectors_dir().join(&file.name)).unwrap_or_default();
        if fresh != committed {
            stale.push(format!("{} ({} vectors)", file.name, file.count));
        }
    }
    let _ = fs::remove_dir_all(&tmp);
    let names: BTreeSet<&str> = generated.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        FILES.into_iter().collect(),
        "the generator's file list changed; update FILES"
    );
    assert!(
        stale.is_empty(),
        "spec/vectors is out of date with tests/support/vectors/: {}. Run `{GENERATED_BY}` and commit the result.",
        stale.join(", ")
    );
}

fn check_vector(v: &Value) -> Result<(), String> {
    let bytes = unhex(str_field(v, "hex")?)?;
    let decoded = Frame::decode(Bytes::from(bytes.clone()));
    match str_field(v, "result")? {
        "valid" => {
            let want = v.get("frame").ok_or("valid vector without `frame`")?;
            let canonical = match v.get("canonical") {
                None => true,
                Some(c) => c.as_bool().ok_or("`canonical` is not a boolean")?,
            };
            let got =
                decoded.map_err(|e| format!("decode: expected a valid frame, got error {e}"))?;
            let got_json = json_to_value(&support::json::frame_to_json(&got));
            if got_json != *want {
                return Err(format!(
                    "decode: hex decodes to\n    {got_json}\n  but the vector says\n    {want}"
                ));
            }
            let built = frame_from_json(want)
                .map_err(|e| format!("encode: cannot build the frame from JSON: {e}"))?;
            if built != got {
                return Err(format!(
                    "encode: the frame built from JSON ({built:?}) differs from the decoded one ({got:?})"
                ));
            }
            let encoded = built.to_bytes();
            if built.encoded_len() != encoded.len() {
                return Err(format!(
                    "encode: encoded_len {} but {} bytes written",
                    built.encoded_len(),
                    encoded.len()
                ));
            }
            match (canonical, encoded[..] == bytes[..]) {
                (true, false) => Err(format!(
                    "encode: the frame encodes to {} instead of the vector's hex",
                    support::json::hex(&encoded)
                )),
                (false, true) => {
                    Err("encode: marked canonical: false but encodes to the same hex".into())
                }
                _ => Ok(()),
            }
        }
        "invalid" => {
            let error = str_field(v, "error")?;
            let reaction = str_field(v, "reaction")?;
            let stream_id = match v.get("streamId") {
                None => None,
                Some(id) => Some(id.as_u64().ok_or("`streamId` is not a number")?),
            };
            let e = match decoded {
                Ok(f) => return Err(format!("reject: expected error {error}, decoded {f:?}")),
                Err(e) => e,
            };
            let (got_reaction, got_stream) = support::json::reaction_to_json(e.reaction());
            if e.name() != error
                || got_reaction != reaction
                || got_stream.map(u64::from) != stream_id
            {
                return Err(format!(
                    "reject: expected {error} / {reaction} / streamId {stream_id:?}, codec says {} / {got_reaction} / streamId {got_stream:?}",
                    e.name()
                ));
            }
            Ok(())
        }
        other => Err(format!("unknown result {other:?}")),
    }
}

/// Converts the generator's ordered tree to a `serde_json::Value` to compare
/// with what the file holds; key order does not matter there.
fn json_to_value(j: &Json) -> Value {
    match j {
        Json::Bool(b) => Value::Bool(*b),
        Json::Num(n) => Value::from(*n),
        Json::Str(s) => Value::String(s.clone()),
        Json::Arr(items) => Value::Array(items.iter().map(json_to_value).collect()),
        Json::Obj(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json_to_value(v)))
                .collect(),
        ),
    }
}

/// Builds a frame from a vector's `frame` object with the public constructors.
fn frame_from_json(f: &Value) -> Result<Frame, String> {
    let flags = u8::try_from(num(f, "flags")?).map_err(|_| "flags above 255")?;
    let frame = match str_field(f, "type")? {
        "SYN_STREAM" => {
            let mut s = SynStream::new(stream(f, "streamId")?, block(f, "headers")?);
            s.set_flags(flags)
                .set_associated_stream_id(stream(f, "associatedStreamId")?)
                .set_priority(small(f, "priority")?)
                .set_slot(small(f, "slot")?);
            s.into()
        }
        "SYN_REPLY" => {
            let mut s = SynReply::new(stream(f, "streamId")?, block(f, "headers")?);
            s.set_flags(flags);
            s.into()
        }
        "HEADERS" => {
            let mut h = Headers::trailers(stream(f, "streamId")?, block(f, "headers")?);
            h.set_flags(flags);
            h.into()
        }
        "RST_STREAM" => {
            let code = code(f, "statusCode", RstCode::from_name, RstCode::from_wire)?;
            let mut r = RstStream::new(stream(f, "streamId")?, code);
            r.set_flags(flags);
            r.into()
        }
        "SETTINGS" => {
            let mut s = Settings::new();
            s.set_flags(flags);
            for e in f["entries"].as_array().ok_or("`entries` is not an array")? {
                s.push_entry(Setting {
                    flags: small(e, "flags")?,
                    id: code(e, "id", SettingId::from_name, SettingId::from_wire)?,
                    value: u32_field(e, "value")?,
                });
            }
            s.into()
        }
        "PING" => {
            let mut p = Ping::new(u32_field(f, "id")?);
            p.set_flags(flags);
            p.into()
        }
        "GOAWAY" => {
            let status = code(
                f,
                "statusCode",
                GoAwayStatus::from_name,
                GoAwayStatus::from_wire,
            )?;
            let mut g = GoAway::new(stream(f, "lastGoodStreamId")?, status);
            g.set_flags(flags);
            g.into()
        }
        "WINDOW_UPDATE" => {
            let mut w = WindowUpdate::new(stream(f, "streamId")?, u32_field(f, "deltaWindowSize")?);
            w.set_flags(flags);
            w.into()
        }
        "DATA" => {
            let mut d = Data::new(
                stream(f, "streamId")?,
                unhex(str_field(f, "payloadHex")?)?.into(),
            );
            d.set_flags(flags);
            d.into()
        }
        "HELLO" => {
            let mut h = Hello::new(
                u16_field(f, "version")?,
                u32_field(f, "maxConcurrentStreams")?,
                u32_field(f, "initialWindowSize")?,
                block(f, "attributes")?,
            );
            h.set_flags(flags);
            h.into()
        }
        "WELCOME" => {
            let mut w = Welcome::new(
                u16_field(f, "version")?,
                u32_field(f, "heartbeatIntervalMs")?,
                u32_field(f, "heartbeatLiveness")?,
                u32_field(f, "initialWindowSize")?,
                block(f, "attributes")?,
            );
            w.set_flags(flags);
            w.into()
        }
        "UNKNOWN" => {
            let ty = FrameType::from_wire(u16_field(f, "frameType")?);
            let payload = unhex(str_field(f, "payloadHex")?)?;
            Unknown::new(ty, flags, payload.into()).into()
        }
        other => return Err(format!("unknown frame type {other:?}")),
    };
    Ok(frame)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` missing or not a string"))
}

fn num(v: &Value, key: &str) -> Result<u64, String> {
    v.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("`{key}` missing or not an unsigned number"))
}

fn u32_field(v: &Value, key: &str) -> Result<u32, String> {
    u32::try_from(num(v, key)?).map_err(|_| format!("`{key}` above u32"))
}

fn u16_field(v: &Value, key: &str) -> Result<u16, String> {
    u16::try_from(num(v, key)?).map_err(|_| format!("`{key}` above u16"))
}

fn small(v: &Value, key: &str) -> Result<u8, String> {
    u8::try_from(num(v, key)?).map_err(|_| format!("`{key}` above u8"))
}

fn stream(v: &Value, key: &str) -> Result<StreamId, String> {
    let id = u32_field(v, key)?;
    if id > StreamId::MAX.get() {
        return Err(format!("`{key}` above 2^31-1"));
    }
    Ok(StreamId::new(id))
}

/// A code given by its spec name, or by number when it has none.
fn code<T>(
    v: &Value,
    key: &str,
    from_name: fn(&str) -> Option<T>,
    from_wire: fn(u32) -> T,
) -> Result<T, String> {
    match v.get(key) {
        Some(Value::String(name)) => {
            from_name(name).ok_or_else(|| format!("`{key}`: unknown name {name:?}"))
        }
        Some(Value::Number(_)) => u32_field(v, key).map(from_wire),
        _ => Err(format!("`{key}` missing")),
    }
}

fn block(v: &Value, key: &str) -> Result<HeaderBlock, String> {
    let pairs = v
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("`{key}` missing or not an array"))?;
    let mut block = HeaderBlock::new();
    for pair in pairs {
        let (name, value) = match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(n), Value::String(v)]) => (n, v),
            _ => {
                return Err(format!(
                    "`{key}`: {pair} is not a [name, value] pair of strings"
                ));
            }
        };
        block
            .insert(latin1(name)?, latin1(value)?)
            .map_err(|e| format!("`{key}`: {name:?}: {e}"))?;
    }
    Ok(block)
}

/// Header strings carry one byte per character, U+0000..U+00FF.
fn latin1(s: &str) -> Result<Bytes, String> {
    s.chars()
        .map(|c| {
            u8::try_from(c).map_err(|_| format!("{c:?} in {s:?} is not a byte (above U+00FF)"))
        })
        .collect::<Result<Vec<u8>, _>>()
        .map(Bytes::from)
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(format!("{:?} is not a lowercase hex digit", char::from(c))),
    };
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return Err("hex of odd length".into());
    }
    s.chunks_exact(2)
        .map(|pair| Ok((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}
