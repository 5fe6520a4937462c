//! Every bundled case loads, names an anchor that exists in the spec, and
//! quotes its requirement verbatim.

use zroute_conformance::case::{default_cases_dir, load_dir, spec_anchors, spec_path};

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_case_loads_and_its_anchor_exists() {
    let spec = std::fs::read_to_string(spec_path()).expect("spec/PROTOCOL.md");
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
    let spec = squash(&std::fs::read_to_string(spec_path()).expect("spec/PROTOCOL.md"));
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
