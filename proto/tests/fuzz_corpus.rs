//! The CI smoke for the fuzz targets, on stable: every spec vector, every
//! committed seed (proto/fuzz/seeds/<target>) and every input that once
//! crashed a target (proto/fuzz/regressions/<target>) runs through the
//! target's body. The long runs are `fuzz/run --minutes N` (nightly).

mod fuzzing;
mod ops;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn body(target: &str) -> fn(&[u8]) {
    match target {
        "decode_frame" => fuzzing::decode_frame,
        "header_block" => fuzzing::header_block,
        "session" => ops::run,
        "router_frames" => fuzzing::router_frames,
        "websocket_records" => fuzzing::websocket_records,
        other => panic!("no body for fuzz target {other}"),
    }
}

/// The `hex` of every spec vector, decoded.
fn vector_parts() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    let mut parts = Vec::new();
    for entry in fs::read_dir(&dir).expect("spec/vectors") {
        // Frame vectors only: the WebSocket record vectors sit in a subdirectory.
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text = fs::read_to_string(path).expect("vector file");
        let doc: Value = serde_json::from_str(&text).expect("vector JSON");
        for v in doc["vectors"].as_array().expect("vectors array") {
            let hex = v["hex"].as_str().expect("hex");
            parts.push(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
                    .collect(),
            );
        }
    }
    assert!(parts.len() > 100, "only {} vectors found", parts.len());
    parts
}

/// Files under proto/fuzz/<kind>/<target>, if that directory exists.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(dir) = fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    dir.map(|e| {
        let path = e.expect("dir entry").path();
        let data = fs::read(&path).expect("input file");
        (path, data)
    })
    .collect()
}

#[test]
fn every_target_has_a_body_and_a_bin() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz manifest");
    for target in fuzzing::TARGETS {
        let _ = body(target);
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target} is not a [[bin]] of proto/fuzz"
        );
    }
}

#[test]
fn spec_vectors_run_through_every_target() {
    let parts = vector_parts();
    for target in fuzzing::TARGETS {
        let run = body(target);
        for part in &parts {
            run(part);
            // The block decoder gets the bytes after a 12-byte frame head.
            run(part.get(12..).unwrap_or_default());
        }
    }
}

#[test]
fn committed_seeds_and_regressions_run_through_their_target() {
    let mut ran = 0;
    for target in fuzzing::TARGETS {
        let run = body(target);
        for kind in ["seeds", "regressions"] {
            for (path, data) in inputs(kind, target) {
                eprintln!("{}", path.display());
                run(&data);
                ran += 1;
            }
        }
    }
    assert!(ran > 0, "no committed fuzz inputs found under proto/fuzz");
}
