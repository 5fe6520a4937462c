//! Every section of the spec (`spec/*.md`: `PROTOCOL.md` and its companion
//! documents) is exercised by some test or vector.
//!
//! A test names the sections it checks in its doc comment (`spec: #anchor`);
//! a vector names one in its `section` field. A section with subsections is
//! covered when one of them is. The sections listed in `NOT_TESTABLE` say
//! why no test can check them; the ones in `LATER` say which work item will.
//! Anchors are unique across the documents (`tests/spec_links.rs` checks it),
//! so a citation names no file.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Informative text: definitions, references, pictures.
const NOT_TESTABLE: &[(&str, &str)] = &[
    ("notation", "conventions of the document itself"),
    ("requirements-language", "BCP 14 boilerplate"),
    ("terms", "definitions"),
    ("notation-figures", "how figures are drawn"),
    ("overview", "informative summary"),
    ("versioning", "informative: only version 1 exists"),
    ("references", "bibliography"),
    (
        "sequences",
        "informative diagrams of behaviour the scenario tests check",
    ),
];

/// Normative sections whose tests arrive with later work.
const LATER: &[(&str, &str)] = &[(
    "error-reporting",
    "log lines are checked by the router's end-to-end tests (issue 3)",
)];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("proto/ sits in the repository")
        .to_owned()
}

fn files_under(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") {
                files_under(&path, ext, out);
            }
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// Each anchor with its heading level (2 for `##`, 3 for `###`).
fn sections(spec: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = spec.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("<a id=\"") else {
            continue;
        };
        let anchor = rest
            .split('"')
            .next()
            .expect("split yields one item")
            .to_owned();
        let level = lines
            .get(i + 1)
            .map_or(0, |h| h.chars().take_while(|c| *c == '#').count());
        out.push((anchor, level));
    }
    out
}

#[test]
fn every_section_is_tested_or_says_why_not() {
    let root = repo_root();
    let mut docs = Vec::new();
    files_under(&root.join("spec"), "md", &mut docs);
    docs.sort();
    assert!(
        docs.iter().any(|d| d.ends_with("spec/PROTOCOL.md")),
        "spec/PROTOCOL.md not found among {docs:?}"
    );
    let mut sources = Vec::new();
    for dir in [
        "proto",
        "transport",
        "router",
        "workers",
        "conformance",
        "bindings",
        "trace",
    ] {
        files_under(&root.join(dir), "rs", &mut sources);
        files_under(&root.join(dir), "py", &mut sources);
    }
    files_under(&root.join("spec/vectors"), "json", &mut sources);
    let corpus: String = sources
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .collect::<Vec<_>>()
        .join("\n");
    let cited = |anchor: &str| {
        corpus.contains(&format!("#{anchor} "))
            || corpus.contains(&format!("#{anchor},"))
            || corpus.contains(&format!("#{anchor}\n"))
            || corpus.contains(&format!("#{anchor})"))
            || corpus.contains(&format!("#{anchor}."))
            || corpus.contains(&format!("\"section\": \"{anchor}\""))
    };
    let exempt: BTreeSet<&str> = NOT_TESTABLE.iter().chain(LATER).map(|(a, _)| *a).collect();
    // Sections per document: a section's subsections are in its own file.
    let per_doc: Vec<Vec<(String, usize)>> = docs
        .iter()
        .map(|d| sections(&fs::read_to_string(d).expect("spec document")))
        .collect();
    let known: BTreeSet<&str> = per_doc.iter().flatten().map(|(a, _)| a.as_str()).collect();
    for a in &exempt {
        assert!(
            known.contains(a),
            "exemption for #{a}, which the spec no longer has"
        );
    }

    let mut missing = Vec::new();
    for all in &per_doc {
        missing.extend(uncovered(all, &exempt, &cited));
    }
    assert!(
        missing.is_empty(),
        "spec sections no test or vector cites (add `spec: #anchor` to the test that checks it, or an exemption with a reason): {missing:?}"
    );
}

/// The sections of one document that are neither cited nor exempt.
fn uncovered<'a>(
    all: &'a [(String, usize)],
    exempt: &BTreeSet<&str>,
    cited: &dyn Fn(&str) -> bool,
) -> Vec<&'a str> {
    let mut missing = Vec::new();
    for (i, (anchor, level)) in all.iter().enumerate() {
        // A section is covered by itself, or by any subsection, or by its parent's exemption.
        let children = all[i + 1..]
            .iter()
            .take_while(|(_, l)| *l > *level)
            .map(|(a, _)| a.as_str());
        let parent_exempt = all[..i]
            .iter()
            .rev()
            .find(|(_, l)| *l < *level)
            .is_some_and(|(a, _)| exempt.contains(a.as_str()));
        let covered = cited(anchor)
            || exempt.contains(anchor.as_str())
            || parent_exempt
            || anchor.starts_with("ref-")
            || children.into_iter().any(|c| cited(c) || exempt.contains(c));
        if !covered {
            missing.push(anchor.as_str());
        }
    }
    missing
}
