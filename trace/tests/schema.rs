//! The hand-written messages agree with `spec/trace.proto` (spec: #trace-schema, #trace-json):
//! the schema is compiled with protox, a fully populated value encoded by the
//! structs is decoded through the schema, and its canonical JSON (as
//! prost-reflect writes it) must equal ours; and back.

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use zroute_trace::json::{from_json, to_json};
use zroute_trace::messages::{Record, RecordKind};
use zroute_trace::{Direction, EndReason, Recorder, Trace, TraceEnd, TraceEvent, TraceHeader};

fn pool() -> DescriptorPool {
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec");
    let files = protox::compile(["trace.proto"], [spec]).expect("spec/trace.proto compiles");
    DescriptorPool::from_file_descriptor_set(files).expect("descriptor pool")
}

fn message(pool: &DescriptorPool, name: &str) -> MessageDescriptor {
    pool.get_message_by_name(&format!("zroute.trace.v1.{name}"))
        .unwrap_or_else(|| panic!("{name} is in spec/trace.proto"))
}

/// Every field set to a value other than its default, with large numbers.
fn full() -> Trace {
    Trace {
        header: Some(TraceHeader {
            protocol_version: 1,
            recorder: Some(Recorder {
                name: "zroute-router".into(),
                version: "0.1.0".into(),
            }),
            worker_id: "w1".into(),
            session_id: "zroute-7".into(),
            started_at: Some("2026-11-27T00:26:53.123456Z".parse().unwrap()),
        }),
        events: vec![
            TraceEvent::new(
                Direction::WorkerToRouter,
                std::time::Duration::from_micros(1500),
                "zroute-7",
                Bytes::from_static(b"\x00\x0a\x00\x00\xff\xfe"),
            ),
            TraceEvent::new(
                Direction::RouterToWorker,
                std::time::Duration::new(3, 7),
                "zroute-7",
                Bytes::from_static(b"?>"),
            ),
        ],
        end: Some(TraceEnd::new(EndReason::FramesDropped, u64::MAX - 1)),
    }
}

fn reflect_json(desc: MessageDescriptor, bytes: &[u8]) -> serde_json::Value {
    let dynamic = DynamicMessage::decode(desc, bytes).expect("decodes through the schema");
    serde_json::to_value(&dynamic).expect("serialises")
}

#[test]
fn trace_message_agrees_with_the_schema_binary_and_json() {
    let pool = pool();
    let trace = full();
    let ours = to_json(&trace);
    assert_eq!(
        reflect_json(message(&pool, "Trace"), &trace.encode_to_vec()),
        ours
    );
    // And back: the schema's parser reads our JSON into the same bytes' meaning.
    let text = ours.to_string();
    let mut de = serde_json::Deserializer::from_str(&text);
    let dynamic = DynamicMessage::deserialize(message(&pool, "Trace"), &mut de)
        .expect("schema parses our JSON");
    assert_eq!(Trace::decode(&dynamic.encode_to_vec()[..]).unwrap(), trace);
    assert_eq!(from_json(&ours).unwrap(), trace);
}

#[test]
fn record_members_agree_with_the_schema() {
    let pool = pool();
    let trace = full();
    let whole = to_json(&trace);
    let kinds = [
        (
            "header",
            RecordKind::Header(trace.header.clone().unwrap()),
            whole["header"].clone(),
        ),
        (
            "event",
            RecordKind::Event(trace.events[0].clone()),
            whole["events"][0].clone(),
        ),
        (
            "end",
            RecordKind::End(trace.end.clone().unwrap()),
            whole["end"].clone(),
        ),
    ];
    for (name, kind, json) in kinds {
        let record = Record { kind: Some(kind) };
        assert_eq!(
            reflect_json(message(&pool, "Record"), &record.encode_to_vec()),
            serde_json::json!({ name: json }),
            "Record.{name}"
        );
    }
}

#[test]
fn enum_names_agree_with_the_schema() {
    let pool = pool();
    let direction = pool.get_enum_by_name("zroute.trace.v1.Direction").unwrap();
    for v in direction.values() {
        let ours = Direction::try_from(v.number()).expect("every schema value is in the Rust enum");
        assert_eq!(ours.proto_name(), v.name());
    }
    let reason = pool.get_enum_by_name("zroute.trace.v1.EndReason").unwrap();
    for v in reason.values() {
        let ours = EndReason::try_from(v.number()).expect("every schema value is in the Rust enum");
        assert_eq!(ours.proto_name(), v.name());
    }
    assert_eq!(direction.values().count(), 3);
    assert_eq!(reason.values().count(), 5);
}
