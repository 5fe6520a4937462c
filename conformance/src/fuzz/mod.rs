//! `zroute-conformance fuzz`: seeded mutation of the cases' frames.
//!
//! The corpus is the frames the loaded cases send after the handshake (their
//! `send` and `send_raw` steps). Each iteration picks one case's frames,
//! mutates them deterministically from `(seed, iteration)`, and plays them
//! against a fresh worker. The worker must
//!
//! - not exit (CRASH);
//! - keep answering: after the frames, a PING must come back, or, if the
//!   worker ended the session, it must register again and answer the PING
//!   on the new session, within the deadline (HANG);
//! - never send garbage: every frame must decode, come from a registered
//!   socket, be one a worker may send, and name only stream ids that the
//!   suite used (GARBAGE).
//!
//! A failure is shrunk (delta debugging on the frame list, then on the bytes
//! of each frame) and saved as a case file of `send_raw` steps.
//!
//! One file per stage: `corpus.rs` (the frames), `mutate.rs`, `play.rs`,
//! `shrink.rs`, and `save.rs` (the case file of a failure); `outcome.rs` holds
//! the configuration and findings that they all share, so that no stage
//! imports this file, which runs the campaign.

mod corpus;
mod mutate;
mod outcome;
mod play;
mod save;
mod shrink;

pub use self::corpus::{case_frames, corpus};
pub use self::mutate::{Rng, mutate};
pub use self::outcome::{Failure, Fault, Found, FuzzConfig};
pub use self::play::play;
pub use self::save::{case_toml, save};
pub use self::shrink::shrink;

use self::play::Player;

/// Runs `cfg.iterations` iterations over `corpus`; `progress` sees each
/// failure as it is found (after shrinking). Err: the worker could not be
/// started (or another suite fault).
pub async fn fuzz(
    cfg: &FuzzConfig,
    corpus: &[(String, Vec<Vec<u8>>)],
    progress: &mut dyn FnMut(&Found),
) -> Result<Vec<Found>, Fault> {
    if corpus.is_empty() {
        return Err(Fault::Suite(
            "no case sends frames: nothing to mutate".into(),
        ));
    }
    let mut found: Vec<Found> = Vec::new();
    for iteration in 0..cfg.iterations {
        let mut rng = Rng::for_iteration(cfg.seed, iteration);
        let (source, base) = &corpus[rng.below(corpus.len())];
        let frames = mutate(&mut rng, base);
        let mut p = Player::start(cfg).await?;
        let verdict = p.run(cfg, &frames).await;
        p.stop().await;
        let stderr_tail = p.stderr_tail();
        let failure = match verdict? {
            Ok(()) => continue,
            Err(f) => f,
        };
        // One report per kind of failure: the first is shrunk and kept.
        if found.iter().any(|f| f.failure.same_kind(&failure)) {
            continue;
        }
        let shrunk = shrink(cfg, frames.clone(), &failure).await;
        let f = Found {
            iteration,
            source_case: source.clone(),
            failure,
            original: frames,
            shrunk,
            stderr_tail,
        };
        progress(&f);
        found.push(f);
    }
    Ok(found)
}
