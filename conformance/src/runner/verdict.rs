//! What a case ends with: the outcome for the report, and the verdict a
//! failed step builds on its way up (expected, happened, alternatives, diff).

use std::time::Duration;

use crate::case::{FrameMatch, FrameView, Vars};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    /// Passed through an alternative the spec only tolerates (not a failure
    /// unless `--strict`, which reports FAIL instead).
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    Fail,
    Timeout,
    Crash,
    Error,
    Unsupported,
    /// Not run: a SHOULD or MAY case without `--strict`.
    Skipped,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::NonStrict => "NON-STRICT",
            Self::Fail => "FAIL",
            Self::Timeout => "TIMEOUT",
            Self::Crash => "CRASH",
            Self::Error => "ERROR",
            Self::Unsupported => "UNSUPPORTED",
            Self::Skipped => "SKIPPED",
        }
    }

    pub fn is_failure(self) -> bool {
        matches!(self, Self::Fail | Self::Timeout | Self::Crash)
    }
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub outcome: Outcome,
    /// Whether the worker sent a HELLO at all.
    pub started: bool,
    /// The `id` attribute of the worker's HELLO, if it sent one.
    pub hello_id: Option<String>,
    pub expected: String,
    pub happened: String,
    /// Every behaviour the failed step would have accepted.
    pub acceptable: Vec<String>,
    /// Field-by-field comparison of the frame that failed to match with the
    /// closest acceptable frame.
    pub diff: Vec<String>,
    pub wire_log: Vec<String>,
    pub stderr_tail: String,
    pub duration: Duration,
}

pub(super) struct Verdict {
    pub(super) outcome: Outcome,
    pub(super) expected: String,
    pub(super) happened: String,
    pub(super) acceptable: Vec<String>,
    pub(super) diff: Vec<String>,
}

pub(super) fn verdict(
    outcome: Outcome,
    expected: impl Into<String>,
    happened: impl Into<String>,
) -> Verdict {
    Verdict {
        outcome,
        expected: expected.into(),
        happened: happened.into(),
        acceptable: Vec::new(),
        diff: Vec::new(),
    }
}

impl Verdict {
    pub(super) fn with_alternatives(mut self, alts: &[FrameMatch]) -> Self {
        self.acceptable = alts.iter().map(ToString::to_string).collect();
        self
    }

    /// Adds the field-by-field diff of `got` against the closest of `alts`.
    pub(super) fn with_diff(
        mut self,
        alts: &[FrameMatch],
        got: Option<&FrameView>,
        vars: &Vars,
    ) -> Self {
        if let Some(got) = got {
            self.diff = closest(alts, got, vars)
                .map(|m| m.diff(got, vars))
                .unwrap_or_default();
        }
        self
    }
}

/// The alternative that fails on the fewest items, preferring one of the same type.
fn closest<'a>(alts: &'a [FrameMatch], got: &FrameView, vars: &Vars) -> Option<&'a FrameMatch> {
    alts.iter().min_by_key(|m| {
        let lines = m.diff(got, vars);
        let misses = lines.iter().filter(|l| l.starts_with("!!")).count();
        let type_miss = lines.first().is_some_and(|l| l.starts_with("!! type"));
        (type_miss, misses)
    })
}

pub(super) fn prefix(step: usize, mut v: Verdict) -> Verdict {
    v.expected = format!("step {step}: {}", v.expected);
    v
}

/// The worker process ended while a step waited for it.
pub(super) fn crashed(expected: impl Into<String>, status: &impl std::fmt::Display) -> Verdict {
    verdict(Outcome::Crash, expected, format!("worker exited: {status}"))
}
