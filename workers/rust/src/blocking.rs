//! Spotting a handler that blocks its runtime thread.
//!
//! A handler that calls blocking code (`std::thread::sleep`, synchronous
//! I/O, a long CPU loop) without `spawn_blocking` holds its runtime thread
//! inside one poll. The session no longer suffers (it runs on a thread of
//! its own), but every other handler on that thread waits, so the driver
//! names the culprit: each request's task counts its polls, odd while one
//! runs, and the driver samples the counts every quarter of the threshold.
//! A count that stays odd and unchanged for the threshold is a blocked
//! thread. Counting costs the task two relaxed stores per poll; no clock.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A task's poll count: odd while a poll is running.
#[derive(Debug, Default)]
pub(crate) struct PollCount(AtomicU32);

impl PollCount {
    fn load(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

impl AsRef<Self> for PollCount {
    fn as_ref(&self) -> &Self {
        self
    }
}

/// Runs `fut`, keeping the count in `count` up to date around each of its polls.
pub(crate) async fn counting_polls<C, F>(count: Arc<C>, fut: F) -> F::Output
where
    C: AsRef<PollCount>,
    F: Future,
{
    let mut fut = std::pin::pin!(fut);
    let mut polls = 0u32;
    poll_fn(|cx| {
        let count = &(*count).as_ref().0;
        polls = polls.wrapping_add(1);
        count.store(polls, Ordering::Relaxed);
        let out = fut.as_mut().poll(cx);
        // Not reached if the poll panics: the task is over then, and the
        // driver stops watching it when it hears so.
        polls = polls.wrapping_add(1);
        count.store(polls, Ordering::Relaxed);
        out
    })
    .await
}

/// How often the driver samples the counts for a given threshold.
pub(crate) fn check_interval(threshold: Duration) -> Duration {
    (threshold / 4).max(Duration::from_millis(1))
}

/// The driver's view of one task's polls, from sample to sample.
#[derive(Debug, Default)]
pub(crate) struct PollWatch {
    seen: u32,
    /// When the driver first saw the poll in `seen` running.
    since: Option<Instant>,
    warned: bool,
}

/// What a sample found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocking {
    /// One poll has run for at least `threshold`: `blocked_for` so far.
    Started {
        blocked_for: Duration,
        threshold: Duration,
    },
    /// The poll reported by `Started` returned, after about this long.
    Ended(Duration),
}

impl PollWatch {
    /// Takes a sample of `count` at `now`. Reports each blocking poll twice
    /// at most: once when it passes `threshold`, once when it returns.
    pub(crate) fn sample(
        &mut self,
        count: &PollCount,
        now: Instant,
        threshold: Duration,
    ) -> Option<Blocking> {
        let polls = count.load();
        let running = polls % 2 == 1;
        if running
            && polls == self.seen
            && let Some(since) = self.since
        {
            let blocked = now.saturating_duration_since(since);
            if self.warned || blocked < threshold {
                return None;
            }
            self.warned = true;
            return Some(Blocking::Started {
                blocked_for: blocked,
                threshold,
            });
        }
        let ended = self.end(now);
        self.seen = polls;
        self.since = running.then_some(now);
        ended
    }

    /// The task is over: if it was reported blocking, that has ended now.
    pub(crate) fn end(&mut self, now: Instant) -> Option<Blocking> {
        let since = self.since.filter(|_| std::mem::take(&mut self.warned))?;
        Some(Blocking::Ended(now.saturating_duration_since(since)))
    }

    pub(crate) fn warned(&self) -> bool {
        self.warned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: Duration = Duration::from_secs(1);

    fn set(count: &PollCount, polls: u32) {
        count.0.store(polls, Ordering::Relaxed);
    }

    #[test]
    fn one_long_poll_is_reported_once_when_it_passes_the_threshold_and_once_when_it_ends() {
        let (count, mut watch) = (PollCount::default(), PollWatch::default());
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        set(&count, 7);
        assert_eq!(watch.sample(&count, at(0), THRESHOLD), None);
        assert_eq!(watch.sample(&count, at(750), THRESHOLD), None);
        assert_eq!(
            watch.sample(&count, at(1000), THRESHOLD),
            Some(Blocking::Started {
                blocked_for: Duration::from_millis(1000),
                threshold: THRESHOLD
            })
        );
        assert_eq!(watch.sample(&count, at(1250), THRESHOLD), None);
        assert_eq!(watch.sample(&count, at(3000), THRESHOLD), None);
        set(&count, 8);
        assert_eq!(
            watch.sample(&count, at(3250), THRESHOLD),
            Some(Blocking::Ended(Duration::from_millis(3250)))
        );
        assert_eq!(watch.sample(&count, at(5000), THRESHOLD), None);
    }

    #[test]
    fn many_short_polls_or_an_idle_task_are_not_blocking() {
        let (count, mut watch) = (PollCount::default(), PollWatch::default());
        let t0 = Instant::now();
        // A different poll running at every sample.
        for (i, polls) in [1, 3, 5, 7, 9].into_iter().enumerate() {
            set(&count, polls);
            let now = t0 + THRESHOLD * i as u32;
            assert_eq!(watch.sample(&count, now, THRESHOLD), None);
        }
        // Waiting between polls, however long, is not blocking.
        set(&count, 10);
        for i in 5..10 {
            assert_eq!(watch.sample(&count, t0 + THRESHOLD * i, THRESHOLD), None);
        }
    }

    #[tokio::test]
    async fn the_count_is_odd_only_inside_a_poll() {
        let count = Arc::new(PollCount::default());
        let inside = count.clone();
        let mut first = true;
        let seen = counting_polls(
            count.clone(),
            poll_fn(move |cx| {
                let now = inside.load();
                if std::mem::take(&mut first) {
                    cx.waker().wake_by_ref();
                    return std::task::Poll::Pending;
                }
                std::task::Poll::Ready(now)
            }),
        )
        .await;
        assert_eq!(seen, 3, "the second poll runs with an odd count");
        assert_eq!(count.load(), 4);
    }
}
