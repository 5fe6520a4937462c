//! `--known-failing FILE`: case ids or globs (one per line, `#` starts a
//! comment) that the implementation is known to fail.
//!
//! A listed case that fails is reported as XFAIL and does not fail the run;
//! a listed case that passes is XPASS and does, so the list cannot go stale.

use std::path::Path;

use crate::case::glob_match;

/// The parsed file: patterns with the line they came from.
#[derive(Clone, Debug, Default)]
pub struct KnownFailing {
    patterns: Vec<(String, usize)>,
}

impl KnownFailing {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            if line.split_whitespace().count() != 1 {
                return Err(format!(
                    "line {}: one case id or glob per line, found {line:?}",
                    i + 1
                ));
            }
            patterns.push((line.to_owned(), i + 1));
        }
        Ok(Self { patterns })
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.patterns.iter().any(|(p, _)| glob_match(p, id))
    }

    /// Patterns that match none of `ids` (typos, removed cases), with their line.
    pub fn unmatched<'a>(&'a self, ids: &[&str]) -> Vec<(&'a str, usize)> {
        self.patterns
            .iter()
            .filter(|(p, _)| !ids.iter().any(|id| glob_match(p, id)))
            .map(|(p, line)| (p.as_str(), *line))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_globs_and_comments() {
        let k = KnownFailing::parse(
            "# the Go worker\nframing/truncated-part   # issue 12\n\n  flow-control/*\n",
        )
        .unwrap();
        assert!(k.contains("framing/truncated-part"));
        assert!(k.contains("flow-control/stops-at-stream-window"));
        assert!(!k.contains("framing/length-mismatch"));
        assert_eq!(
            k.unmatched(&["framing/truncated-part"]),
            [("flow-control/*", 4)]
        );
    }

    #[test]
    fn rejects_two_words_on_a_line() {
        let e = KnownFailing::parse("a/b c/d\n").unwrap_err();
        assert!(e.contains("line 1"), "{e}");
    }
}
