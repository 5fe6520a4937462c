use std::time::Duration;

/// When a worker tries to register again after losing a session
/// ([spec](../../../spec/PROTOCOL.md#reregistration)): at once the first time,
/// then after 1 s doubling up to 32 s for each attempt in a row that fails; a
/// WELCOME starts over. A router that refused HELLO because it is shutting
/// down is asked again after a short fixed wait instead (rule 4).
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    failures: u32,
    /// Set when the last attempt met a router shutting down.
    shutdown_wait: Option<Duration>,
}

impl Backoff {
    pub const INITIAL: Duration = Duration::from_secs(1);
    pub const MAX: Duration = Duration::from_secs(32);

    /// The wait before the next attempt. `jitter` in `[0, 1)` (the caller's
    /// randomness) adds up to 25% so that workers do not come back in step.
    pub fn delay(&self, jitter: f64) -> Duration {
        let jitter = jitter.clamp(0.0, 1.0);
        if let Some(wait) = self.shutdown_wait {
            return wait.mul_f64(1.0 + 0.25 * jitter);
        }
        if self.failures == 0 {
            return Duration::ZERO;
        }
        let base = Self::INITIAL
            .saturating_mul(1 << (self.failures - 1).min(5))
            .min(Self::MAX);
        base.mul_f64(1.0 + 0.25 * jitter)
    }

    /// An attempt failed: no WELCOME, or a GOAWAY instead.
    pub fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.shutdown_wait = None;
    }

    /// A WELCOME arrived.
    pub fn succeeded(&mut self) {
        self.failures = 0;
        self.shutdown_wait = None;
    }

    /// The router answered HELLO with GOAWAY(0, OK): it is shutting down, and
    /// a replacement may be starting on the same endpoint. The next attempt
    /// waits `heartbeat_interval` (that of the endpoint's last WELCOME, or
    /// `None` if it never had one) capped at [`Self::INITIAL`], and the
    /// doubling does not grow, so that the replacement is found within about
    /// one heartbeat interval of starting, however long the old router drains.
    pub fn router_shutting_down(&mut self, heartbeat_interval: Option<Duration>) {
        let wait = heartbeat_interval.map_or(Self::INITIAL, |i| i.min(Self::INITIAL));
        self.shutdown_wait = Some(wait);
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

    #[test]
    fn a_router_shutting_down_is_asked_again_after_one_heartbeat_interval() {
        let mut b = Backoff::default();
        let interval = Some(Duration::from_millis(200));
        for _ in 0..5 {
            b.router_shutting_down(interval);
            assert_eq!(b.delay(0.0), Duration::from_millis(200));
        }
        assert_eq!(b.delay(1.0), Duration::from_millis(250));
        // Never longer than the first step of the doubling, nor doubling.
        b.router_shutting_down(Some(Duration::from_secs(5)));
        assert_eq!(b.delay(0.0), Duration::from_secs(1));
        b.router_shutting_down(None);
        assert_eq!(b.delay(0.0), Duration::from_secs(1));
        // Other failures keep their own count: the shutdown refusals added nothing.
        b.failed();
        assert_eq!(b.delay(0.0), Duration::from_secs(1));
        b.failed();
        assert_eq!(b.delay(0.0), Duration::from_secs(2));
        b.router_shutting_down(interval);
        b.failed();
        assert_eq!(b.delay(0.0), Duration::from_secs(4));
        b.succeeded();
        assert_eq!(b.delay(0.0), Duration::ZERO);
    }
}
