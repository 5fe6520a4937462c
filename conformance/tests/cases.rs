//! Every bundled case loads, names an anchor that exists in the spec, and
//! quotes its requirement verbatim. The spec is every `spec/*.md`:
//! `PROTOCOL.md` and its companion documents.

use zroute_conformance::case::{default_cases_dir, load_dir, spec_anchors, spec_path};

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every spec document (`spec/*.md`, beside `spec_path()`), each followed by
/// a blank line so no sentence runs into the next file.
fn spec_text() -> String {
    let dir = spec_path()
        .parent()
        .expect("spec/PROTOCOL.md has a directory")
        .to_owned();
    let mut docs: Vec<_> = std::fs::read_dir(&dir)
        .expect("spec/")
        .map(|e| e.expect("spec/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(
        docs.contains(&spec_path()),
        "spec/PROTOCOL.md not in {docs:?}"
    );
    docs.iter()
        .map(|p| std::fs::read_to_string(p).expect("spec document") + "\n\n")
        .collect()
}

#[test]
fn every_case_loads_and_its_anchor_exists() {
    let spec = spec_text();
    let anchors = spec_anchors(&spec);
    assert!(anchors.len() > 50, "anchors found: {}", anchors.len());
    let cases = load_dir(&default_cases_dir()).expect("cases load");
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    let mut missing = Vec::new();
    for c in &cases {
        if !anchors.contains(&c.section) {
            missing.push(format!("{}: no anchor #{}", c.id, c.section));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn every_requirement_is_quoted_from_the_spec() {
    let spec = squash(&spec_text());
    let cases = load_dir(&default_cases_dir()).expect("cases load");
    let wrong: Vec<_> = cases
        .iter()
        .filter(|c| !spec.contains(&squash(&c.requirement)))
        .map(|c| format!("{}: {:?}", c.id, c.requirement))
        .collect();
    assert!(
        wrong.is_empty(),
        "not found verbatim in the spec: {wrong:#?}"
    );
}

/// `run --list --json` prints the whole manifest: at least 80 cases, each with
/// a unique hierarchical id, a spec anchor that exists, a level and a requirement.
#[test]
fn list_json_is_the_manifest() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zroute-conformance"))
        .args(["run", "--list", "--json"])
        .output()
        .expect("run zroute-conformance");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON listing");
    let cases = list["cases"].as_array().expect("cases array");
    assert!(cases.len() >= 80, "only {} cases", cases.len());
    let spec = spec_text();
    let anchors = spec_anchors(&spec);
    let mut ids = std::collections::BTreeSet::new();
    for c in cases {
        let id = c["id"].as_str().expect("id");
        assert!(ids.insert(id.to_owned()), "duplicate id {id}");
        let parts: Vec<_> = id.split('/').collect();
        assert!(
            parts.len() >= 2
                && parts.iter().all(|p| !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')),
            "id {id} is not hierarchical lowercase-dashed"
        );
        let section = c["section"].as_str().expect("section");
        assert!(
            anchors.iter().any(|a| a == section),
            "{id}: no anchor #{section}"
        );
        assert!(
            matches!(c["level"].as_str(), Some("MUST" | "SHOULD" | "MAY")),
            "{id}: level {}",
            c["level"]
        );
        assert!(
            !c["requirement"].as_str().unwrap_or("").is_empty(),
            "{id}: no requirement"
        );
    }
}
