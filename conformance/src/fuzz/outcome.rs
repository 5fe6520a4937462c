//! The fuzzer's vocabulary, shared by every stage: how to fuzz, and what a
//! play finds.

/// What went wrong in one play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The worker process exited.
    Crash(String),
    /// No answer to PING (and no new registration) within the deadline.
    Hang(String),
    /// The worker sent something no conforming worker sends.
    Garbage(String),
}

impl Failure {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Crash(_) => "CRASH",
            Self::Hang(_) => "HANG",
            Self::Garbage(_) => "GARBAGE",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Self::Crash(s) | Self::Hang(s) | Self::Garbage(s) => s,
        }
    }

    pub(super) fn same_kind(&self, other: &Self) -> bool {
        self.kind() == other.kind()
    }
}

/// Why a play could not judge the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The worker did not start or did not register (exit code 3).
    NotStarted(String),
    /// The suite itself failed (exit code 2).
    Suite(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStarted(s) | Self::Suite(s) => f.write_str(s),
        }
    }
}

/// How to fuzz.
#[derive(Clone, Debug)]
pub struct FuzzConfig {
    /// The worker command, split; `{endpoint}` is substituted.
    pub worker: Vec<String>,
    pub seed: u64,
    pub iterations: u64,
    /// Scales the liveness deadline (5 s).
    pub timeout_scale: f64,
    /// At most this many plays to shrink one failure.
    pub shrink_budget: usize,
}

/// One failure, shrunk.
#[derive(Clone, Debug)]
pub struct Found {
    pub iteration: u64,
    pub source_case: String,
    pub failure: Failure,
    /// The frames as first found, and after shrinking.
    pub original: Vec<Vec<u8>>,
    pub shrunk: Vec<Vec<u8>>,
    pub stderr_tail: String,
}
