//! Every link into the spec resolves: the links between the spec documents
//! (`spec/*.md`), every `spec/NAME.md#anchor` link in the repository (code,
//! docs, READMEs, workers), every `spec: #anchor` citation in a test or
//! comment, and every `section` of a test vector.
//!
//! An anchor is an explicit `<a id="...">` or `{#...}`, or the GitHub-style
//! anchor of a heading. Explicit anchors are unique across the documents, so
//! a citation without a file name still names one section.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Extensions of the files that may link into the spec.
const SOURCE_EXTENSIONS: &[&str] = &[
    "rs", "py", "pyi", "js", "ts", "go", "md", "toml", "json", "proto", "yml", "yaml",
];

/// Directories never searched: build output, dependencies, VCS data.
const SKIP_DIRS: &[&str] = &["target", "node_modules", ".git", ".venv", "venv", "dist"];

/// Citations whose anchor is a placeholder in prose about citations.
const PLACEHOLDERS: &[&str] = &["anchor"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("proto/ sits in the repository")
        .to_owned()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !SKIP_DIRS.contains(&name.as_ref()) && !name.starts_with('.') {
                walk(&path, out);
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
}

/// GitHub's anchor for a heading: lowercase, punctuation other than `-` and
/// `_` removed, spaces turned into `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn is_anchor_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The anchors of one document: `(explicit, all)`, where `all` adds the
/// heading anchors (with GitHub's `-1`, `-2` suffixes for repeats).
fn anchors(text: &str) -> (Vec<String>, BTreeSet<String>) {
    let mut explicit = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("<a id=\"") {
        rest = &rest[i + 7..];
        explicit.push(rest.split('"').next().unwrap_or_default().to_owned());
    }
    let mut rest = text;
    while let Some(i) = rest.find("{#") {
        rest = &rest[i + 2..];
        let a: String = rest.chars().take_while(|c| is_anchor_char(*c)).collect();
        if !a.is_empty() && rest[a.len()..].starts_with('}') {
            explicit.push(a);
        }
    }
    let mut all: BTreeSet<String> = explicit.iter().cloned().collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if fenced || !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        // A heading's `{#id}` is its anchor (counted above), not part of its text.
        let heading = line[hashes..].split(" {#").next().unwrap_or_default();
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_insert(0);
        all.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    (explicit, all)
}

struct Spec {
    /// File name (`PROTOCOL.md`) to every anchor of that document.
    docs: BTreeMap<String, BTreeSet<String>>,
    /// Every explicit anchor of any document.
    explicit: BTreeSet<String>,
    /// The documents' texts, by file name.
    texts: BTreeMap<String, String>,
}

fn spec() -> Spec {
    let dir = repo_root().join("spec");
    let mut docs = BTreeMap::new();
    let mut texts = BTreeMap::new();
    let mut explicit = BTreeSet::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for entry in fs::read_dir(&dir).expect("spec/").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).expect("spec document");
        let (ex, all) = anchors(&text);
        for a in ex {
            if let Some(first) = owner.insert(a.clone(), name.clone()) {
                duplicates.push(format!("#{a} in {first} and {name}"));
            }
            explicit.insert(a);
        }
        docs.insert(name.clone(), all);
        texts.insert(name, text);
    }
    assert!(
        docs.contains_key("PROTOCOL.md"),
        "spec/PROTOCOL.md not found"
    );
    assert!(
        duplicates.is_empty(),
        "explicit anchors must be unique across spec/*.md: {duplicates:?}"
    );
    Spec {
        docs,
        explicit,
        texts,
    }
}

impl Spec {
    fn resolves(&self, doc: &str, anchor: &str) -> bool {
        self.docs.get(doc).is_some_and(|a| a.contains(anchor))
    }
}

/// Markdown link targets `](target)` in a text.
fn link_targets(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(&rest[..end]);
        }
    }
    out
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

#[test]
fn links_between_spec_documents_resolve() {
    let spec = spec();
    let mut broken = Vec::new();
    for (name, text) in &spec.texts {
        for target in link_targets(text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let doc = if file.is_empty() { name.as_str() } else { file };
            if !file.is_empty() && !spec.docs.contains_key(doc) {
                // A link to another file of the repository: it must exist.
                if !repo_root().join("spec").join(file).exists() {
                    broken.push(format!("{name}: ({target}): no such file"));
                }
                continue;
            }
            if !anchor.is_empty() && !spec.resolves(doc, anchor) {
                broken.push(format!("{name}: ({target})"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links in spec/*.md: {broken:#?}");
}

#[test]
fn links_into_the_spec_resolve() {
    let spec = spec();
    let root = repo_root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut broken = Vec::new();
    let mut count = 0;
    for path in &files {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let in_spec = rel.starts_with("spec/");
        for (i, _) in text.match_indices(".md#") {
            let name_start = text[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .map_or(0, |j| j + 1);
            let name = format!("{}.md", &text[name_start..i]);
            if !spec.docs.contains_key(&name) {
                continue;
            }
            // `spec/NAME.md#` anywhere, or `NAME.md#` inside spec/.
            if !(in_spec || text[..name_start].ends_with("spec/")) {
                continue;
            }
            let anchor: String = text[i + 4..]
                .chars()
                .take_while(|c| is_anchor_char(*c))
                .collect();
            if anchor.is_empty() {
                continue; // a format string: `spec/PROTOCOL.md#{}`
            }
            count += 1;
            if !spec.resolves(&name, &anchor) {
                broken.push(format!(
                    "{rel}:{}: {name}#{anchor}",
                    line_of(&text, name_start)
                ));
            }
        }
    }
    assert!(count > 30, "only {count} links into spec/ found");
    assert!(broken.is_empty(), "links to missing anchors: {broken:#?}");
}

/// `spec: #anchor, #anchor` and `spec #anchor` name explicit anchors of some
/// spec document.
#[test]
fn spec_citations_resolve() {
    let spec = spec();
    let root = repo_root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut broken = Vec::new();
    let mut count = 0;
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        if rel.starts_with("spec/") {
            continue;
        }
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        for (i, _) in text.match_indices("spec") {
            let mut rest = &text[i + 4..];
            rest = rest.strip_prefix(':').unwrap_or(rest);
            let Some(mut list) = rest.strip_prefix(' ') else {
                continue;
            };
            // A list of `#anchor`s separated by spaces and commas.
            while let Some(after) = list.strip_prefix('#') {
                let anchor: String = after.chars().take_while(|c| is_anchor_char(*c)).collect();
                if anchor.is_empty() {
                    break;
                }
                count += 1;
                if !PLACEHOLDERS.contains(&anchor.as_str()) && !spec.explicit.contains(&anchor) {
                    broken.push(format!("{rel}:{}: #{anchor}", line_of(&text, i)));
                }
                list = after[anchor.len()..].trim_start_matches([',', ' ']);
            }
        }
    }
    assert!(count > 100, "only {count} spec citations found");
    assert!(
        broken.is_empty(),
        "citations of anchors no spec document has: {broken:#?}"
    );
}

/// A vector's `section` is an anchor of PROTOCOL.md ([VECTORS.md] `section`).
#[test]
fn vector_sections_resolve() {
    let spec = spec();
    let dir = repo_root().join("spec/vectors");
    let mut broken = BTreeSet::new();
    let mut count = 0;
    // The frame vectors, and those in subdirectories (WebSocket records).
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).expect("spec/vectors").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(
                fs::read_dir(&path)
                    .expect("a vector subdirectory")
                    .flatten()
                    .map(|e| e.path()),
            );
        } else {
            files.push(path);
        }
    }
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
    {
        let text = fs::read_to_string(&path).expect("vector file");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("vector JSON");
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let vectors = doc["vectors"].as_array().cloned().unwrap_or_default();
        for section in std::iter::once(&doc["section"]).chain(vectors.iter().map(|v| &v["section"]))
        {
            let section = section.as_str().unwrap_or_default();
            count += 1;
            if !spec.resolves("PROTOCOL.md", section) {
                broken.insert(format!("{name}: {section:?}"));
            }
        }
    }
    assert!(count > 60, "only {count} sections found");
    assert!(
        broken.is_empty(),
        "vector sections PROTOCOL.md has no anchor for: {broken:#?}"
    );
}

#[test]
fn slugs_follow_github() {
    assert_eq!(slug("3.3. Socket Options"), "33-socket-options");
    assert_eq!(slug("Appendix C. Test Vectors"), "appendix-c-test-vectors");
    assert_eq!(slug("7.1. Name/Value Blocks"), "71-namevalue-blocks");
    let (explicit, all) =
        anchors("<a id=\"x\"></a>\n## A b {#y}\n## A b\n```\n# not a heading\n```\n");
    assert_eq!(explicit, ["x", "y"]);
    assert!(all.contains("a-b") && all.contains("a-b-1") && all.contains("y"));
    assert!(!all.contains("not-a-heading"));
}
