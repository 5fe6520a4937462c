//! Checks `spec/vectors/websocket/records.json` (spec VECTORS.md §7) against
//! the record codec both ways: each valid input reads as its records and the
//! records encode back to it; each invalid one fails with its error.

use std::path::Path;

use serde_json::Value;
use zroute_proto::websocket::{Record, RecordError, RecordKind, RecordReader};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn error_name(e: RecordError) -> &'static str {
    match e {
        RecordError::UnknownKind(_) => "unknown-kind",
        RecordError::TooLarge { .. } => "too-large",
        RecordError::InvalidUtf8 => "invalid-utf8",
        RecordError::InvalidClose => "invalid-close",
        RecordError::Truncated => "truncated",
    }
}

/// Reads a whole direction, fed one byte at a time (the worst split).
fn read(bytes: &[u8], max: usize) -> Result<Vec<Record>, RecordError> {
    let mut reader = RecordReader::new(max);
    let mut out = Vec::new();
    for byte in bytes {
        reader.push(std::slice::from_ref(byte));
        while let Some(record) = reader.next_record()? {
            out.push(record);
        }
    }
    reader.finish()?;
    Ok(out)
}

fn expected(v: &Value) -> Record {
    let kind = v["kind"].as_str().expect("kind");
    match kind {
        "TEXT" => Record::text(v["text"].as_str().expect("text").to_owned()),
        "BINARY" => Record::binary(unhex(v["hex"].as_str().expect("hex"))),
        "CLOSE" => match v.get("code") {
            None => Record::close(None, ""),
            Some(code) => Record::close(
                Some(u16::try_from(code.as_u64().expect("code")).expect("u16")),
                v["reason"].as_str().unwrap_or_default(),
            ),
        },
        other => panic!("unknown kind {other}"),
    }
}

/// spec: #vectors-websocket, #websocket-records
#[test]
fn record_vectors_both_ways() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors/websocket/records.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(doc["format"], "zroute-record-vectors/1");
    let vectors = doc["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 20);
    for v in vectors {
        let id = v["id"].as_str().unwrap();
        let bytes = unhex(v["hex"].as_str().unwrap());
        let max = usize::try_from(v["max"].as_u64().unwrap()).unwrap();
        let got = read(&bytes, max);
        match v["result"].as_str().unwrap() {
            "valid" => {
                let want: Vec<Record> = v["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(expected)
                    .collect();
                assert_eq!(got.as_ref().ok(), Some(&want), "{id}: decode");
                let encoded: Vec<u8> = want.iter().flat_map(|r| r.encode().to_vec()).collect();
                assert_eq!(encoded, bytes, "{id}: encode");
            }
            "invalid" => {
                let err = got.expect_err(id);
                assert_eq!(error_name(err), v["error"].as_str().unwrap(), "{id}");
            }
            other => panic!("{id}: result {other}"),
        }
    }
    // The kinds the spec names are the ones the codec knows.
    assert_eq!(
        [
            RecordKind::TEXT.0,
            RecordKind::BINARY.0,
            RecordKind::CLOSE.0
        ],
        [1, 2, 8]
    );
}
