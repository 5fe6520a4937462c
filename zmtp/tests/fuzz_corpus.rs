//! The CI smoke for the fuzz targets, on stable: every committed seed
//! (zmtp/fuzz/seeds/<target>) and every input that once crashed a target
//! (zmtp/fuzz/regressions/<target>) runs through the target's body, with
//! a few inputs built here. Long runs: `cargo +nightly fuzz run <target>`
//! in zmtp/ (zmtp/fuzz/README.md).

mod fuzzing;

use std::fs;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use zroute_zmtp::{Command, Config, Connection, Error, Event, Role};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn body(target: &str) -> fn(&[u8]) {
    match target {
        "greeting" => fuzzing::greeting,
        "frames" => fuzzing::frames,
        "commands" => fuzzing::commands,
        "connection" => fuzzing::connection,
        other => panic!("no body for fuzz target {other}"),
    }
}

/// Files under zmtp/fuzz/<kind>/<target>, if that directory exists.
fn inputs(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(dir) = fs::read_dir(fuzz_dir().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<_> = dir
        .map(|e| {
            let path = e.expect("dir entry").path();
            let data = fs::read(&path).expect("input file");
            (path, data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_body_a_bin_and_seeds() {
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz manifest");
    for target in fuzzing::TARGETS {
        let _ = body(target);
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "{target} is not a [[bin]] of zmtp/fuzz"
        );
        assert!(!inputs("seeds", target).is_empty(), "no seeds for {target}");
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
                // Every prefix too: a cut-off stream is what a dropped peer
                // leaves, and it reaches other states of each decoder.
                // (Sparser for `connection`, whose CURVE runs make keys.)
                let step = if *target == "connection" { 41 } else { 7 };
                for end in (0..data.len()).step_by(step) {
                    run(&data[..end]);
                }
                ran += 1;
            }
        }
    }
    assert!(
        ran >= 4,
        "only {ran} committed fuzz inputs found under zmtp/fuzz"
    );
}

/// The seeds are what their names say, so the fuzzer starts from inputs
/// that reach past the greeting and the handshake.
#[test]
fn seeds_reach_the_states_they_are_for() {
    let seeds = |t| inputs("seeds", t);
    // Every connection seed brings a ROUTER (its peer is a DEALER) or a
    // DEALER to Ready, with no error, delivers at least one message and
    // leaves nothing held.
    for (path, data) in seeds("connection") {
        // CURVE seeds cannot complete a handshake with our random keys, but
        // they get past the greeting and framing to CURVE's own checks.
        if data.get(12..17) == Some(b"CURVE") {
            let config = Config::router().with_curve_server([7; 32], |_| true);
            let mut conn = Connection::new(Role::Server, config);
            let err = conn.handle_bytes(&data).expect_err("a garbage box passes");
            assert!(matches!(err, Error::Curve(_)), "{}: {err}", path.display());
            continue;
        }
        let mut ready = 0;
        for config in [Config::router(), Config::dealer()] {
            let mut conn = Connection::new(Role::Server, config);
            if conn.handle_bytes(&data).is_ok() && conn.is_ready() {
                ready += 1;
                // The seed ends with a whole message: nothing is held.
                assert_eq!(conn.buffered(), 0, "{}", path.display());
                let events: Vec<_> = std::iter::from_fn(|| conn.poll_event()).collect();
                assert!(
                    events.iter().any(|e| matches!(e, Event::Message(_))),
                    "{} carries no message",
                    path.display()
                );
            }
        }
        assert_eq!(ready, 1, "{} pairs with neither or both", path.display());
    }
    // Every commands seed parses.
    for (path, data) in seeds("commands") {
        assert!(
            Command::parse(Bytes::from(data)).is_ok(),
            "{} does not parse",
            path.display()
        );
    }
    // Every greeting seed decodes as NULL.
    for (path, data) in seeds("greeting") {
        assert!(
            zroute_zmtp::Greeting::decode(&data, zroute_zmtp::Mechanism::NULL).is_ok(),
            "{} is refused",
            path.display()
        );
    }
    // Every frames seed decodes whole under the default limits.
    for (path, data) in seeds("frames") {
        let mut decoder = zroute_zmtp::FrameDecoder::new(zroute_zmtp::Limits::default());
        let mut input = &data[..];
        let mut frames = 0;
        while !input.is_empty() {
            let frame = decoder.decode(&mut input).expect("a seed frame decodes");
            frames += usize::from(frame.is_some());
        }
        assert!(frames > 0 && decoder.buffered() == 0, "{}", path.display());
    }
}
