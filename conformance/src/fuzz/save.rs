//! A found failure as a case file of `send_raw` steps.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::outcome::Found;
use super::play::PROBE_PING;

/// Requirement quoted by saved cases (the decoding rules of every part).
const REQUIREMENT: &str = "A receiver decodes each non-empty message part in the following order and stops at the first check that fails; the failing check determines the reaction.";

/// The case file for a found failure, in the format of `cases/`: the
/// frames as `send_raw` steps, then a PING that must come back, unless the
/// worker ends the session with GOAWAY first.
pub fn case_toml(id: &str, seed: u64, f: &Found) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Found by `zroute-conformance fuzz --seed {seed}` (iteration {}), mutating the frames of\n# {}; shrunk from {} to {} frame(s). The worker's failure: {}: {}",
        f.iteration,
        f.source_case,
        f.original.len(),
        f.shrunk.len(),
        f.failure.kind(),
        f.failure.detail().replace('\n', " ")
    );
    let _ = writeln!(t, "id = {}", toml_str(id));
    let _ = writeln!(t, "section = \"frame-decoding\"");
    let _ = writeln!(t, "level = \"MUST\"");
    let _ = writeln!(t, "requirement = {}", toml_str(REQUIREMENT));
    for frame in &f.shrunk {
        let mut h = String::new();
        for b in frame {
            let _ = write!(h, "{b:02x} ");
        }
        let _ = writeln!(t, "\n[[steps]]\nsend_raw = \"{}\"", h.trim_end());
    }
    let _ = writeln!(
        t,
        "\n[[steps]]\nsend = {{ type = \"PING\", id = {PROBE_PING} }}\n\n[[steps]]\nexpect = {{ type = [\"PING\", \"GOAWAY\"] }}"
    );
    t
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Writes `f` as `<out>/fuzz-found/<name>.toml`, so that `run --cases <out>`
/// runs it; returns the path.
pub fn save(out: &Path, seed: u64, f: &Found) -> Result<PathBuf, String> {
    let dir = out.join("fuzz-found");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let name = format!(
        "seed-{seed}-iteration-{}-{}",
        f.iteration,
        f.failure.kind().to_ascii_lowercase()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, case_toml(&format!("fuzz-found/{name}"), seed, f))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::case::{Case, Step};
    use crate::fuzz::outcome::Failure;

    #[test]
    fn saved_cases_load() {
        let f = Found {
            iteration: 3,
            source_case: "framing/x".into(),
            failure: Failure::Crash("exit status: 101".into()),
            original: vec![vec![1, 2], vec![3]],
            shrunk: vec![vec![0x80, 3, 0]],
            stderr_tail: String::new(),
        };
        let text = case_toml("fuzz-found/x", 1, &f);
        let case = Case::parse(&text, Path::new("x.toml")).expect(&text);
        assert_eq!(case.id, "fuzz-found/x");
        assert!(matches!(&case.steps[0], Step::SendRaw(b) if b == &[0x80, 3, 0]));
        assert_eq!(case.steps.len(), 3);
    }
}
