//! Shrinking a failure by delta debugging.

use super::outcome::{Failure, FuzzConfig};
use super::play::play;

/// Delta debugging: the smallest frame list (then the shortest frames) that
/// still fails the same way, within `cfg.shrink_budget` plays.
pub async fn shrink(cfg: &FuzzConfig, frames: Vec<Vec<u8>>, failure: &Failure) -> Vec<Vec<u8>> {
    let mut budget = cfg.shrink_budget;
    let mut fails = async |candidate: &[Vec<u8>]| -> bool {
        if budget == 0 {
            return false;
        }
        budget -= 1;
        matches!(play(cfg, candidate).await, Ok(Err(f)) if f.same_kind(failure))
    };
    let mut frames = frames;
    // ddmin over the list of frames.
    let mut n = 2;
    while frames.len() >= 2 {
        let chunk = frames.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..frames.len()).step_by(chunk) {
            let mut rest = frames.clone();
            rest.drain(start..(start + chunk).min(frames.len()));
            if !rest.is_empty() && fails(&rest).await {
                frames = rest;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= frames.len() {
                break;
            }
            n = (2 * n).min(frames.len());
        }
    }
    // Then the bytes of each frame: drop chunks, halving their size.
    for i in 0..frames.len() {
        let mut chunk = frames[i].len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < frames[i].len() {
                let mut candidate = frames.clone();
                let end = (start + chunk).min(candidate[i].len());
                candidate[i].drain(start..end);
                if fails(&candidate).await {
                    frames = candidate;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    frames
}
