use std::time::Duration;

/// When a worker tries to register again after losing a session
/// ([spec](../../../spec/PROTOCOL.md#reregistration)): at once the first time,
/// then after 1 s doubling up to 32 s for each attempt in a row that fails; a
/// WELCOME starts over.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub const INITIAL: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(32);

    /// The wait before the next attempt. `jitter` in `[0, 1)` (the caller's
    /// randomness) adds up to 25% so that workers do not come back in step.
    pub fn delay(&self, jitter: f64) -> Duration {
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let base = Self::INITIAL
            .saturating_mul(1 << (self.failures - 1).min(5))
            .min(Self::MAX);
        base.mul_f64(1.0 + 0.25 * jitter.clamp(0.0, 1.0))
    }

    /// An attempt failed: no WELCOME, or a GOAWAY instead.
    pub fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// A WELCOME arrived.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediate_then_doubling_to_32s() {
        let mut b = Backoff::default();
        let mut seen = vec![b.delay(0.0)];
        for _ in 0..8 {
            b.failed();
            seen.push(b.delay(0.0));
        }
        let secs: Vec<u64> = seen.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 1, 2, 4, 8, 16, 32, 32, 32]);
        assert_eq!(b.delay(1.0), Duration::from_secs(40));
        b.succeeded();
        assert_eq!(b.delay(0.5), Duration::ZERO);
    }
}
