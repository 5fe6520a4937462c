//! The streamed layout (spec: #trace-file) and the JSON form (spec: #trace-json):
//! round trips, limits, damage.

use std::io::Cursor;

use bytes::Bytes;
use zroute_trace::json::{from_json, to_json};
use zroute_trace::{
    DEFAULT_MAX_RECORD, Direction, EndReason, MAGIC, Recorder, Trace, TraceEnd, TraceError,
    TraceEvent, TraceHeader, TraceReader, TraceWriter, read_trace, write_trace,
};

fn header() -> TraceHeader {
    TraceHeader {
        protocol_version: 1,
        recorder: Some(Recorder {
            name: "test".into(),
            version: "1".into(),
        }),
        worker_id: "w1".into(),
        session_id: "zroute-1".into(),
        started_at: Some(prost_types_now()),
    }
}

fn prost_types_now() -> prost_types::Timestamp {
    "2026-11-27T00:00:00.5Z".parse().unwrap()
}

fn event(i: u32, len: usize) -> TraceEvent {
    let dir = if i.is_multiple_of(2) {
        Direction::WorkerToRouter
    } else {
        Direction::RouterToWorker
    };
    TraceEvent::new(
        dir,
        std::time::Duration::from_micros(u64::from(i) * 100),
        "zroute-1",
        Bytes::from(vec![i as u8; len]),
    )
}

fn sample(end: Option<TraceEnd>) -> Trace {
    Trace {
        header: Some(header()),
        events: (0..20).map(|i| event(i, (i as usize) * 37)).collect(),
        end,
    }
}

#[test]
fn write_then_read_gives_the_same_trace() {
    for end in [None, Some(TraceEnd::new(EndReason::SessionClosed, 0))] {
        let trace = sample(end);
        let mut file = Vec::new();
        write_trace(&mut file, &trace).unwrap();
        assert_eq!(&file[..8], &MAGIC);
        assert_eq!(read_trace(Cursor::new(&file)).unwrap(), trace);
    }
}

#[test]
fn the_writer_counts_what_it_wrote() {
    let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    let ev = event(3, 1000);
    let before = writer.bytes_written();
    writer.write_event(&ev).unwrap();
    assert_eq!(
        writer.bytes_written() - before,
        TraceWriter::<Vec<u8>>::event_len(&ev)
    );
    let file = writer
        .finish(&TraceEnd::new(EndReason::MaxBytes, 9))
        .unwrap();
    let mut reader = TraceReader::new(Cursor::new(&file)).unwrap();
    assert_eq!(reader.header(), &header());
    assert_eq!(reader.next_event().unwrap(), Some(ev));
    assert_eq!(reader.next_event().unwrap(), None);
    assert_eq!(reader.end(), Some(&TraceEnd::new(EndReason::MaxBytes, 9)));
}

#[test]
fn json_round_trip_is_exact() {
    let trace = sample(Some(TraceEnd::new(EndReason::FramesDropped, 12)));
    let json = to_json(&trace);
    let text = serde_json::to_string_pretty(&json).unwrap();
    let back = from_json(&serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(back, trace);
    assert_eq!(json["events"][1]["direction"], "ROUTER_TO_WORKER");
    assert_eq!(json["events"][1]["at"], "0.000100s");
    assert_eq!(json["end"]["droppedFrames"], "12");
}

#[test]
fn json_accepts_proto_names_numbers_and_url_safe_base64() {
    let json = serde_json::json!({
        "header": {"protocol_version": "1", "worker_id": "w"},
        "events": [{"direction": 2, "at": "1.5s", "session_id": "s", "frame": "_-8"}],
        "end": {"reason": "SESSION_CLOSED", "dropped_frames": 3}
    });
    let trace = from_json(&json).unwrap();
    assert_eq!(trace.header.as_ref().unwrap().protocol_version, 1);
    assert_eq!(trace.events[0].direction, Direction::WorkerToRouter as i32);
    assert_eq!(
        trace.events[0].elapsed(),
        std::time::Duration::from_millis(1500)
    );
    assert_eq!(&trace.events[0].frame[..], &[0xff, 0xef]);
    assert_eq!(trace.end.unwrap().dropped_frames, 3);
}

#[test]
fn json_errors_name_the_member() {
    let cases = [
        (
            serde_json::json!({"events": [{"frame": "%%%"}]}),
            "events[0]: frame",
        ),
        (
            serde_json::json!({"events": [{"direction": "SIDEWAYS"}]}),
            "events[0]: direction",
        ),
        (
            serde_json::json!({"events": [{"at": "soon"}]}),
            "events[0]: at",
        ),
        (
            serde_json::json!({"header": {"workerID": "w"}}),
            "header.workerID: unknown member",
        ),
        (
            serde_json::json!({"header": {"protocolVersion": 5000000000u64}}),
            "header.protocolVersion",
        ),
        (serde_json::json!([]), "trace: expected an object"),
    ];
    for (json, want) in cases {
        let err = from_json(&json).unwrap_err();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
}

#[test]
fn an_oversized_record_is_refused_by_reader_and_writer() {
    let big = event(1, 100_000);
    let mut file = Vec::new();
    let mut writer = TraceWriter::new(&mut file, &header()).unwrap();
    writer.write_event(&big).unwrap();
    drop(writer);
    let mut reader = TraceReader::with_max_record(Cursor::new(&file), 50_000).unwrap();
    let err = reader.next_event().unwrap_err();
    assert!(
        matches!(err, TraceError::RecordTooLarge { max: 50_000, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("above the limit of 50000 bytes"),
        "{err}"
    );
    // The default limit takes it.
    assert!(
        TraceReader::new(Cursor::new(&file))
            .unwrap()
            .next_event()
            .unwrap()
            .is_some()
    );

    let mut writer = TraceWriter::new(Vec::new(), &header()).unwrap();
    let err = writer
        .write_event(&event(1, DEFAULT_MAX_RECORD + 1))
        .unwrap_err();
    assert!(matches!(err, TraceError::RecordTooLarge { .. }), "{err:?}");
    // Nothing of the refused record reached the output.
    let file = writer
        .finish(&TraceEnd::new(EndReason::SessionClosed, 1))
        .unwrap();
    assert_eq!(read_trace(Cursor::new(&file)).unwrap().events.len(), 0);
}

#[test]
fn a_huge_length_prefix_is_refused_before_any_allocation() {
    let mut file = MAGIC.to_vec();
    // A varint of 2^62: a reader that trusted it would try to allocate it.
    file.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]);
    let err = TraceReader::new(Cursor::new(&file)).unwrap_err();
    assert!(matches!(err, TraceError::RecordTooLarge { .. }), "{err:?}");
}

#[test]
fn damaged_files_give_clear_errors() {
    let mut good = Vec::new();
    write_trace(
        &mut good,
        &sample(Some(TraceEnd::new(EndReason::SessionClosed, 0))),
    )
    .unwrap();

    let err = TraceReader::new(Cursor::new(b"ZRTRACE\x02".to_vec())).unwrap_err();
    assert!(matches!(err, TraceError::BadMagic), "{err:?}");
    let err = TraceReader::new(Cursor::new(b"ZR".to_vec())).unwrap_err();
    assert!(matches!(err, TraceError::BadMagic), "{err:?}");
    let err = TraceReader::new(Cursor::new(MAGIC.to_vec())).unwrap_err();
    assert!(matches!(err, TraceError::Layout(_)), "{err:?}");

    // Cut inside the last record: every earlier event still reads.
    let cut = &good[..good.len() - 3];
    let mut reader = TraceReader::new(Cursor::new(cut)).unwrap();
    let mut n = 0;
    let err = loop {
        match reader.next_event() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("a cut file must not read as complete"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, TraceError::Truncated), "{err:?}");
    assert!(n >= 19, "events before the cut are readable ({n})");

    // An event record first: no header.
    let mut no_header = MAGIC.to_vec();
    let mut rest = Vec::new();
    write_trace(&mut rest, &sample(None)).unwrap();
    let first_len = rest[8] as usize; // header record is short: a one-byte prefix
    no_header.extend_from_slice(&rest[8 + 1 + first_len..]);
    let err = TraceReader::new(Cursor::new(no_header)).unwrap_err();
    assert!(
        err.to_string().contains("first record is not a header"),
        "{err}"
    );

    // A record after the end record.
    let mut after_end = good.clone();
    after_end.extend_from_slice(&good[8..]);
    let err = read_trace(Cursor::new(after_end)).unwrap_err();
    assert!(matches!(err, TraceError::Layout(_)), "{err:?}");

    // Garbage where a record should be.
    let mut garbage = good[..8].to_vec();
    garbage.extend_from_slice(&[5, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let err = TraceReader::new(Cursor::new(garbage)).unwrap_err();
    assert!(matches!(err, TraceError::Decode(_)), "{err:?}");
}
