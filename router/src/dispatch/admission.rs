//! Which HELLOs become sessions: at most `--max-workers` sessions at once, and
//! at most `--hello-rate` new ones per second ([spec](../../../spec/PROTOCOL.md#security-dos)).
//! A refused worker gets GOAWAY(0, REFUSED) and retries with backoff.

use std::time::Duration;

use tokio::time::Instant;

/// Why a HELLO was refused, as logged and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    MaxWorkers,
    HelloRate,
}

impl Refusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::MaxWorkers => "max-workers",
            Self::HelloRate => "hello-rate",
        }
    }
}

/// A token bucket of HELLOs plus the session cap. Time is passed in.
#[derive(Debug)]
pub(crate) struct Admission {
    max_workers: usize,
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl Admission {
    /// Starts full: a router that has just started (or restarted) takes
    /// `rate` registrations at once, as every worker reconnects together.
    pub(crate) fn new(max_workers: usize, rate: u32, now: Instant) -> Self {
        Self {
            max_workers,
            rate: f64::from(rate),
            tokens: f64::from(rate),
            refilled: now,
        }
    }

    /// Whether a HELLO may become the `sessions + 1`th session now; spends a token if so.
    pub(crate) fn admit(&mut self, sessions: usize, now: Instant) -> Result<(), Refusal> {
        if sessions >= self.max_workers {
            return Err(Refusal::MaxWorkers);
        }
        let elapsed = now.saturating_duration_since(self.refilled);
        self.refilled = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.rate);
        if self.tokens < 1.0 {
            return Err(Refusal::HelloRate);
        }
        self.tokens -= 1.0;
        Ok(())
    }
}

/// Logs at most one refusal line per second, with how many were not logged.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    window: Option<Instant>,
    suppressed: u64,
}

impl RefusalLog {
    /// `Some(n)`: log this refusal, mentioning `n` unlogged ones before it.
    pub(crate) fn take(&mut self, now: Instant) -> Option<u64> {
        match self.window {
            Some(start) if now.saturating_duration_since(start) < Duration::from_secs(1) => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.window = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_refuses_whatever_the_rate() {
        let t0 = Instant::now();
        let mut a = Admission::new(2, 100, t0);
        assert_eq!(a.admit(0, t0), Ok(()));
        assert_eq!(a.admit(1, t0), Ok(()));
        assert_eq!(a.admit(2, t0), Err(Refusal::MaxWorkers));
        assert_eq!(
            a.admit(1, t0),
            Ok(()),
            "a slot that frees up is taken again"
        );
    }

    #[test]
    fn a_burst_of_rate_then_rate_per_second() {
        let t0 = Instant::now();
        let mut a = Admission::new(1000, 3, t0);
        for _ in 0..3 {
            assert_eq!(a.admit(0, t0), Ok(()));
        }
        assert_eq!(a.admit(0, t0), Err(Refusal::HelloRate));
        let t1 = t0 + Duration::from_millis(340);
        assert_eq!(
            a.admit(0, t1),
            Ok(()),
            "a third of a second buys one at 3/s"
        );
        assert_eq!(a.admit(0, t1), Err(Refusal::HelloRate));
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(
                a.admit(0, t2),
                Ok(()),
                "idle time refills up to the burst only"
            );
        }
        assert_eq!(a.admit(0, t2), Err(Refusal::HelloRate));
    }

    #[test]
    fn one_line_per_second() {
        let t0 = Instant::now();
        let mut log = RefusalLog::default();
        assert_eq!(log.take(t0), Some(0));
        assert_eq!(log.take(t0 + Duration::from_millis(10)), None);
        assert_eq!(log.take(t0 + Duration::from_millis(20)), None);
        assert_eq!(log.take(t0 + Duration::from_millis(1000)), Some(2));
    }
}
