//! The `zroute-conformance` binary as users run it: exit codes, selection
//! options, and the JSON (against `report.schema.json`), JUnit (against the
//! vendored XSD, with xmllint) and HTML reports.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn suite(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zroute-conformance"))
        .args(args)
        .output()
        .expect("run zroute-conformance")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn manifest(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A fresh directory under the target dir for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = support::target_dir().join("conformance-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn worker(bug: &str) -> Option<String> {
    let path = support::broken_worker()?;
    Some(format!(
        "{} broken-{bug} --connect {{endpoint}} --bug {bug}",
        path.display()
    ))
}

// ---- a small JSON Schema checker: the keywords report.schema.json uses ----

fn validate(schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    let mut err = |m: String| errors.push(format!("{at}: {m}"));
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type keyword at {at}"),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            other => panic!("unknown type {other}"),
        });
        if !ok {
            err(format!("{v} is not of type {t}"));
        }
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        err(format!("{v} is not {c}"));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        err(format!("{v} is not one of {e:?}"));
    }
    if let (Some(m), Some(n)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && n < m
    {
        err(format!("{n} < {m}"));
    }
    if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), v.as_str())
        && !regex::Regex::new(p).expect("schema regex").is_match(text)
    {
        err(format!("{text:?} does not match /{p}/"));
    }
    if let Some(obj) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().expect("required names");
            if !obj.contains_key(r) {
                errors.push(format!("{at}: missing {r}"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            let path = format!("{at}/{k}");
            if let Some(names) = s.get("propertyNames") {
                validate(names, &Value::String(k.clone()), &path, errors);
            }
            match props.and_then(|p| p.get(k)) {
                Some(sub) => validate(sub, val, &path, errors),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{path}: not allowed")),
                    Some(sub @ Value::Object(_)) => validate(sub, val, &path, errors),
                    _ => {}
                },
            }
        }
    }
    if let Some(items) = v.as_array() {
        if let Some(min) = s.get("minItems").and_then(Value::as_u64)
            && (items.len() as u64) < min
        {
            errors.push(format!("{at}: fewer than {min} items"));
        }
        if let Some(sub) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(sub, item, &format!("{at}/{i}"), errors);
            }
        }
    }
}

fn check_against_schema(report: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest("report.schema.json")).expect("schema"),
    )
    .expect("schema is JSON");
    assert_eq!(
        schema["properties"]["schemaVersion"]["const"],
        Value::from(zroute_conformance::report::SCHEMA_VERSION),
        "report.schema.json and SCHEMA_VERSION disagree"
    );
    let mut errors = Vec::new();
    validate(&schema, report, "", &mut errors);
    assert!(
        errors.is_empty(),
        "report does not match the schema: {errors:#?}"
    );
}

/// Validates a JUnit file against the vendored XSD; false if xmllint is missing.
fn xmllint(file: &Path) -> bool {
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(manifest("schemas/junit-10.xsd"))
        .arg(file)
        .output();
    match out {
        Err(e) => {
            eprintln!(
                "SKIPPED the JUnit schema check: xmllint is not available ({e}); install libxml2-utils"
            );
            false
        }
        Ok(out) => {
            assert!(
                out.status.success(),
                "{} does not validate:\n{}",
                file.display(),
                text(&out)
            );
            true
        }
    }
}

// ---- tests ----

#[test]
fn usage_errors_exit_2() {
    let out = suite(&["run", "--no-such-option"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = suite(&["run", "--worker", "x {endpoint}", "--repeat", "0"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--repeat"));
    let out = suite(&["run", "--worker", "x", "--run", "no/such-case"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = suite(&["run", "--attach", "ipc:///tmp/x", "--jobs", "2"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let missing = scratch("usage").join("missing.txt");
    let out = suite(&[
        "run",
        "--worker",
        "x",
        "--known-failing",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

#[test]
fn a_worker_that_does_not_start_exits_3() {
    let out = suite(&[
        "run",
        "--worker",
        "/nonexistent/worker {endpoint}",
        "--run",
        "handshake/*",
    ]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    // One that exits at once: CRASH in every case, and still "did not start".
    let out = suite(&["run", "--worker", "true", "--run", "test-app/get-hello"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("CRASH"), "{}", text(&out));
}

#[test]
fn list_json_is_the_manifest() {
    let out = suite(&["run", "--list", "--json"]);
    assert_eq!(code(&out), 0);
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(v["cases"].as_array().expect("cases").len() >= 20);
}

/// A failing run writes all three reports; each is well-formed.
#[test]
fn failing_run_writes_valid_json_junit_and_html() {
    let Some(cmd) = worker("wrong-stream-ids") else {
        return;
    };
    let dir = scratch("reports");
    let (json, xml, html) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.html"));
    let out = suite(&[
        "run",
        "--worker",
        &cmd,
        "--run",
        "test-app/*",
        "--run",
        "framing/length-mismatch",
        "--skip",
        "test-app/trailers",
        "--json",
        json.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_against_schema(&report);
    assert_eq!(report["implementation"], "broken-wrong-stream-ids");
    assert_eq!(report["exitCode"], 1);
    let cases = report["cases"].as_array().unwrap();
    let get_hello = cases
        .iter()
        .find(|c| c["id"] == "test-app/get-hello")
        .unwrap();
    assert_eq!(get_hello["verdict"], "FAIL");
    assert!(!get_hello["wireLog"].as_array().unwrap().is_empty());
    let framing = cases
        .iter()
        .find(|c| c["id"] == "framing/length-mismatch")
        .unwrap();
    assert_eq!(framing["verdict"], "PASS");

    let junit = std::fs::read_to_string(&xml).unwrap();
    assert!(junit.contains("<failure type=\"FAIL\""), "{junit}");
    assert!(junit.contains("name=\"test-app/get-hello\""));
    xmllint(&xml);

    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("test-app/get-hello") && page.contains("class=\"v FAIL\""));
}

/// Outcomes of every kind in one JUnit file, with text that needs escaping.
#[test]
fn junit_of_every_verdict_validates() {
    use std::time::Duration;
    use zroute_conformance::case::{default_cases_dir, load_dir};
    use zroute_conformance::known_failing::KnownFailing;
    use zroute_conformance::report::{RunMeta, group, json_report};
    use zroute_conformance::runner::{CaseResult, Outcome};

    let all = load_dir(&default_cases_dir()).unwrap();
    let cases: Vec<_> = all.iter().take(8).collect();
    let outcomes = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Timeout,
        Outcome::Crash,
        Outcome::Error,
        Outcome::Unsupported,
        Outcome::Fail,
        Outcome::Pass,
    ];
    let results: Vec<_> = outcomes
        .iter()
        .map(|o| CaseResult {
            outcome: *o,
            started: true,
            hello_id: Some("w<1>".into()),
            expected: "a <frame> & \"more\"".into(),
            happened: "bytes \u{0}\u{1b}[31m\u{7} and ]]> end".into(),
            acceptable: vec!["a <SYN_REPLY> & more".into()],
            diff: vec!["!! status: expected 200, got \u{1}".into()],
            wire_log: vec!["   0.001  <-  DATA text=\"\u{1}\"".into()],
            stderr_tail: "panic: \u{8}oops <here>".into(),
            duration: Duration::from_millis(1234),
        })
        .collect();
    // The last two are known-failing: one fails (XFAIL), one passes (XPASS).
    let known = KnownFailing::parse(&format!("{}\n{}\n", cases[6].id, cases[7].id)).unwrap();
    let reports = group(&cases, 1, results, &known);
    let labels: Vec<_> = reports.iter().map(|r| r.verdict().label()).collect();
    assert_eq!(
        labels,
        [
            "PASS",
            "FAIL",
            "TIMEOUT",
            "CRASH",
            "ERROR",
            "UNSUPPORTED",
            "XFAIL",
            "XPASS"
        ]
    );
    let meta = RunMeta {
        implementation: "w<1>".into(),
        worker: "w --connect {endpoint}".into(),
        repeat: 1,
        ..RunMeta::default()
    };
    let xml = zroute_conformance::junit::junit_report(&reports, &meta);
    assert!(xml.contains("<error type=\"ERROR\""));
    assert!(xml.contains("<skipped type=\"XFAIL\""));
    assert!(xml.contains("<failure type=\"XPASS\""));
    assert!(xml.contains("<failure type=\"CRASH\""));
    assert!(!xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    let file = scratch("junit-every").join("r.xml");
    std::fs::write(&file, &xml).unwrap();
    xmllint(&file);
    let mut report = json_report(&reports, &meta);
    check_against_schema(&report);
    assert_eq!(zroute_conformance::report::exit_code(&reports), 2);
    // The checker is not blind: a member the schema does not know is refused.
    report["cases"][0]["bogus"] = Value::from(1);
    report["summary"]["verdicts"]["lower"] = Value::from(1);
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(manifest("report.schema.json")).unwrap())
            .unwrap();
    let mut errors = Vec::new();
    validate(&schema, &report, "", &mut errors);
    assert_eq!(errors.len(), 2, "{errors:#?}");
}

#[test]
fn known_failing_turns_failures_into_xfail_and_passes_into_xpass() {
    let (Some(broken), Some(good)) = (worker("wrong-stream-ids"), worker("none")) else {
        return;
    };
    let dir = scratch("known-failing");
    let list = dir.join("known-failing.txt");
    std::fs::write(&list, "# stream ids are wrong\ntest-app/get-*\n").unwrap();
    let args = |w: &str| {
        vec![
            "run".to_owned(),
            "--worker".into(),
            w.to_owned(),
            "--run".into(),
            "test-app/get-hello".into(),
            "--known-failing".into(),
            list.display().to_string(),
        ]
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        suite(&a)
    };
    let out = run(args(&broken));
    assert_eq!(code(&out), 0, "XFAIL does not fail the run: {}", text(&out));
    assert!(text(&out).contains("XFAIL"));
    let out = run(args(&good));
    assert_eq!(code(&out), 1, "XPASS fails the run: {}", text(&out));
    assert!(text(&out).contains("remove it from"), "{}", text(&out));
}

#[test]
fn repeat_runs_each_case_n_times() {
    let Some(cmd) = worker("none") else { return };
    let dir = scratch("repeat");
    let json = dir.join("r.json");
    let out = suite(&[
        "run",
        "--worker",
        &cmd,
        "--run",
        "test-app/get-hello",
        "--run",
        "framing/truncated-part",
        "--repeat",
        "3",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_against_schema(&report);
    assert_eq!(report["repeat"], 3);
    for c in report["cases"].as_array().unwrap() {
        assert_eq!(c["runs"].as_array().unwrap().len(), 3, "{c}");
        assert_eq!(c["flaky"], false);
    }
}

#[test]
fn report_builds_a_matrix_from_several_runs() {
    let (Some(a), Some(b)) = (worker("none"), worker("no-pong")) else {
        return;
    };
    let dir = scratch("matrix");
    let mut files = Vec::new();
    for (i, cmd) in [a, b].iter().enumerate() {
        let json = dir.join(format!("{i}.json"));
        let out = suite(&[
            "run",
            "--worker",
            cmd,
            "--run",
            "heartbeat/echo-router-ping",
            "--run",
            "test-app/get-hello",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(code(&out), i as i32, "{}", text(&out));
        files.push(json.display().to_string());
    }
    let html = dir.join("matrix.html");
    let out = suite(&[
        "report",
        "--html",
        html.to_str().unwrap(),
        &files[0],
        &files[1],
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(">broken-none</th>") && page.contains(">broken-no-pong</th>"));
    assert!(page.contains("class=\"v TIMEOUT\""), "no-pong times out");
    // Anything but a report is refused.
    let out = suite(&["report", "--html", html.to_str().unwrap(), "Cargo.toml"]);
    assert_eq!(code(&out), 2);
}

/// `--attach`: a worker started by the test, not by the suite; it
/// re-registers for every case, also after a case that never welcomed it.
#[test]
fn attach_runs_cases_against_a_running_worker() {
    let Some(path) = support::broken_worker() else {
        return;
    };
    let dir = scratch("attach");
    // ipc paths are limited to about 100 bytes: keep it short.
    let endpoint = format!(
        "ipc://{}/zroute-attach-{}.ipc",
        std::env::temp_dir().display(),
        std::process::id()
    );
    let mut child = Command::new(&path)
        .args(["attached-1", "--connect", &endpoint])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the worker");
    let json = dir.join("r.json");
    let out = suite(&[
        "run",
        "--attach",
        &endpoint,
        "--run",
        "test-app/get-hello",
        "--run",
        "test-app/stream-frames",
        "--run",
        "streams/capacity-refused",
        "--run",
        "handshake/nothing-before-welcome",
        "--run",
        "session/unknown-session-reregisters",
        "--json",
        json.to_str().unwrap(),
    ]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    check_against_schema(&report);
    assert_eq!(report["implementation"], "attached-1");
    let verdict = |id: &str| {
        report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["verdict"].clone())
            .unwrap()
    };
    assert_eq!(verdict("handshake/nothing-before-welcome"), "PASS");
    assert_eq!(verdict("session/unknown-session-reregisters"), "PASS");
    assert_eq!(verdict("test-app/get-hello"), "PASS");
    assert_eq!(verdict("test-app/stream-frames"), "PASS");
    // It passes --capacity to the worker, which --attach cannot do.
    assert_eq!(verdict("streams/capacity-refused"), "UNSUPPORTED");
}
