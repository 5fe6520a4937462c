//! Which HELLOs become sessions ([spec](../../../spec/PROTOCOL.md#security-dos)):
//! at most `--max-workers` sessions at once and `--max-workers-per-source`
//! from one source, and at most `--hello-rate-per-source` new ones per
//! second from one source and `--hello-rate` from all together. A refused
//! worker gets GOAWAY(0, REFUSED) and retries with backoff.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use foldhash::HashMap;

/// Why a HELLO was refused, as logged and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    MaxWorkers,
    MaxWorkersPerSource,
    HelloRate,
    HelloRatePerSource,
}

impl Refusal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::MaxWorkers => "max-workers",
            Self::MaxWorkersPerSource => "max-workers-per-source",
            Self::HelloRate => "hello-rate",
            Self::HelloRatePerSource => "hello-rate-per-source",
        }
    }
}

/// Where HELLOs come from, as far as limits go: a host, or a local user.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    /// An IPv4 address, or the /64 prefix of an IPv6 address: one host gets
    /// a whole /64, so counting addresses one by one would count nothing.
    Ip(IpAddr),
    /// An ipc:// peer's user id: one user's processes are one source.
    User(u32),
    /// libzmq did not say (an inproc peer, say); all such peers are one source.
    Unknown,
}

impl Source {
    /// From libzmq's `Peer-Address`: an IP address for tcp://, `:uid:gid:pid`
    /// for ipc://.
    pub(crate) fn from_peer_address(address: &str) -> Self {
        // An IPv6 address may start with ':' too ("::1"): the IP first.
        match address.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::Ip(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self::Ip(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
            Ok(ip) => Self::Ip(ip),
            Err(_) => address
                .strip_prefix(':')
                .and_then(|creds| creds.split(':').next()?.parse().ok())
                .map_or(Self::Unknown, Self::User),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip @ IpAddr::V6(_)) => write!(f, "{ip}/64"),
            Self::Ip(ip) => ip.fmt(f),
            Self::User(uid) => write!(f, "uid {uid}"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `rate` kept. Time is passed in.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    /// Starts full: a router that has just started (or restarted) takes
    /// `rate` registrations at once, as every worker reconnects together.
    fn full(rate: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled);
        self.refilled = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.rate);
    }
}

/// Sources whose HELLO buckets are kept. Beyond this the oldest entry goes:
/// its source starts again with a full bucket, which the total rate still
/// bounds, and a flood from ever new addresses costs bounded memory.
const MAX_TRACKED_SOURCES: usize = 16_384;

/// The limits on HELLOs. Time is passed in.
#[derive(Debug)]
pub(crate) struct Admission {
    max_workers: usize,
    max_per_source: usize,
    global: Bucket,
    per_source_rate: u32,
    /// Each source's bucket, with the stamp of its entry in `order`.
    buckets: HashMap<Source, (Bucket, u64)>,
    /// Sources in the order their buckets were made, oldest first; an entry
    /// whose stamp no longer matches its bucket's is stale.
    order: VecDeque<(Source, u64)>,
    stamps: u64,
    /// Sessions per source; a source with none has no entry, so this holds
    /// at most --max-workers entries.
    sessions: HashMap<Source, usize>,
}

/// The settings of [`Admission`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdmissionLimits {
    pub(crate) max_workers: usize,
    pub(crate) max_per_source: usize,
    pub(crate) rate: u32,
    pub(crate) rate_per_source: u32,
}

impl Admission {
    pub(crate) fn new(limits: AdmissionLimits, now: Instant) -> Self {
        Self {
            max_workers: limits.max_workers,
            max_per_source: limits.max_per_source,
            global: Bucket::full(limits.rate, now),
            per_source_rate: limits.rate_per_source,
            buckets: HashMap::default(),
            order: VecDeque::new(),
            stamps: 0,
            sessions: HashMap::default(),
        }
    }

    /// Whether a HELLO from `source` may become the `sessions + 1`th session
    /// now; spends a token of its source and of the total if so, and none if
    /// not. Call [`opened`](Self::opened) if the session is made.
    pub(crate) fn admit(
        &mut self,
        sessions: usize,
        source: &Source,
        now: Instant,
    ) -> Result<(), Refusal> {
        if sessions >= self.max_workers {
            return Err(Refusal::MaxWorkers);
        }
        if self.sessions.get(source).copied().unwrap_or(0) >= self.max_per_source {
            return Err(Refusal::MaxWorkersPerSource);
        }
        self.global.refill(now);
        let global_has_one = self.global.tokens >= 1.0;
        let bucket = self.bucket(source, now);
        bucket.refill(now);
        if bucket.tokens < 1.0 {
            return Err(Refusal::HelloRatePerSource);
        }
        if !global_has_one {
            return Err(Refusal::HelloRate);
        }
        bucket.tokens -= 1.0;
        self.global.tokens -= 1.0;
        Ok(())
    }

    /// A session from `source` was made.
    pub(crate) fn opened(&mut self, source: &Source) {
        *self.sessions.entry(source.clone()).or_insert(0) += 1;
    }

    /// A session from `source` is gone.
    pub(crate) fn closed(&mut self, source: &Source) {
        if let Some(n) = self.sessions.get_mut(source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.sessions.remove(source);
            }
        }
    }

    fn bucket(&mut self, source: &Source, now: Instant) -> &mut Bucket {
        if !self.buckets.contains_key(source) {
            while self.buckets.len() >= MAX_TRACKED_SOURCES {
                let Some((oldest, stamp)) = self.order.pop_front() else {
                    break;
                };
                if self.buckets.get(&oldest).is_some_and(|(_, s)| *s == stamp) {
                    self.buckets.remove(&oldest);
                }
            }
            self.stamps += 1;
            self.order.push_back((source.clone(), self.stamps));
            self.buckets.insert(
                source.clone(),
                (Bucket::full(self.per_source_rate, now), self.stamps),
            );
        }
        &mut self.buckets.get_mut(source).expect("just made").0
    }

    #[cfg(test)]
    fn tracked_sources(&self) -> usize {
        self.buckets.len()
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

    fn limits(
        max_workers: usize,
        max_per_source: usize,
        rate: u32,
        per_source: u32,
    ) -> AdmissionLimits {
        AdmissionLimits {
            max_workers,
            max_per_source,
            rate,
            rate_per_source: per_source,
        }
    }

    fn ip(s: &str) -> Source {
        Source::from_peer_address(s)
    }

    #[test]
    fn the_cap_refuses_whatever_the_rate() {
        let t0 = Instant::now();
        let mut a = Admission::new(limits(2, 100, 100, 100), t0);
        let src = ip("10.0.0.1");
        assert_eq!(a.admit(0, &src, t0), Ok(()));
        assert_eq!(a.admit(1, &src, t0), Ok(()));
        assert_eq!(a.admit(2, &src, t0), Err(Refusal::MaxWorkers));
        assert_eq!(
            a.admit(1, &src, t0),
            Ok(()),
            "a slot that frees up is taken again"
        );
    }

    #[test]
    fn a_burst_of_rate_then_rate_per_second() {
        let t0 = Instant::now();
        let mut a = Admission::new(limits(1000, 1000, 3, 100), t0);
        let src = ip("10.0.0.1");
        for _ in 0..3 {
            assert_eq!(a.admit(0, &src, t0), Ok(()));
        }
        assert_eq!(a.admit(0, &src, t0), Err(Refusal::HelloRate));
        let t1 = t0 + Duration::from_millis(340);
        assert_eq!(
            a.admit(0, &src, t1),
            Ok(()),
            "a third of a second buys one at 3/s"
        );
        assert_eq!(a.admit(0, &src, t1), Err(Refusal::HelloRate));
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(
                a.admit(0, &src, t2),
                Ok(()),
                "idle time refills up to the burst only"
            );
        }
        assert_eq!(a.admit(0, &src, t2), Err(Refusal::HelloRate));
    }

    #[test]
    fn one_source_cannot_spend_the_total() {
        let t0 = Instant::now();
        let mut a = Admission::new(limits(1000, 1000, 10, 4), t0);
        let (flood, other) = (ip("10.0.0.1"), ip("10.0.0.2"));
        for _ in 0..4 {
            assert_eq!(a.admit(0, &flood, t0), Ok(()));
        }
        for _ in 0..100 {
            assert_eq!(a.admit(0, &flood, t0), Err(Refusal::HelloRatePerSource));
        }
        for _ in 0..4 {
            assert_eq!(
                a.admit(0, &other, t0),
                Ok(()),
                "the flood's refusals spent none of the total"
            );
        }
        let t1 = t0 + Duration::from_millis(250);
        assert_eq!(a.admit(0, &flood, t1), Ok(()), "4/s: one per 250 ms");
        assert_eq!(a.admit(0, &flood, t1), Err(Refusal::HelloRatePerSource));
    }

    #[test]
    fn sessions_per_source_are_capped_and_freed() {
        let t0 = Instant::now();
        let mut a = Admission::new(limits(1000, 2, 1000, 1000), t0);
        let (one, two) = (ip("10.0.0.1"), ip("10.0.0.2"));
        for _ in 0..2 {
            assert_eq!(a.admit(0, &one, t0), Ok(()));
            a.opened(&one);
        }
        assert_eq!(a.admit(2, &one, t0), Err(Refusal::MaxWorkersPerSource));
        assert_eq!(a.admit(2, &two, t0), Ok(()));
        a.closed(&one);
        assert_eq!(a.admit(1, &one, t0), Ok(()));
        a.closed(&one);
        a.closed(&one);
        assert!(
            a.sessions.is_empty(),
            "a source without sessions has no entry"
        );
    }

    #[test]
    fn the_source_map_stays_bounded_and_drops_the_oldest() {
        let t0 = Instant::now();
        let mut a = Admission::new(limits(1000, 1000, u32::MAX, 1), t0);
        let first = ip("10.0.0.1");
        assert_eq!(a.admit(0, &first, t0), Ok(()));
        assert_eq!(a.admit(0, &first, t0), Err(Refusal::HelloRatePerSource));
        for i in 0..(MAX_TRACKED_SOURCES as u32 + 10) {
            let src = Source::Ip(IpAddr::from(std::net::Ipv4Addr::from((11u32 << 24) + i)));
            let _ = a.admit(0, &src, t0);
        }
        assert_eq!(a.tracked_sources(), MAX_TRACKED_SOURCES);
        assert_eq!(
            a.admit(0, &first, t0),
            Ok(()),
            "the oldest source was forgotten: a full bucket again"
        );
    }

    #[test]
    fn sources_from_peer_addresses() {
        assert_eq!(ip("192.0.2.7"), Source::Ip("192.0.2.7".parse().unwrap()));
        assert_eq!(
            ip("::ffff:192.0.2.7"),
            Source::Ip("192.0.2.7".parse().unwrap()),
            "a v4-mapped address is the v4 host"
        );
        assert_eq!(ip("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2:bbbb::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(ip(":1000:1000:4242"), Source::User(1000));
        assert_eq!(ip(":1000:1000:4242").to_string(), "uid 1000");
        assert_eq!(ip(""), Source::Unknown);
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
