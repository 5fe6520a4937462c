//! A bounded load of real HTTP requests, each on a fresh connection (as many
//! independent clients would send them), and a tally of how each one ended.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// A status and the whole body.
    Answered(u16),
    /// A status, then the body was cut short: still an explicit answer.
    Aborted(u16),
    /// No status at all: the connection hung past the client's bound or was
    /// reset after the request went out.
    Lost,
}

#[derive(Debug)]
pub(crate) struct Outcome {
    /// Which of the targets answered (or failed to).
    pub(crate) target: String,
    pub(crate) started: Instant,
    pub(crate) took: Duration,
    pub(crate) ending: Ending,
    pub(crate) error: Option<String>,
}

/// The base URLs requests go to, round robin; the test may change them
/// mid-load, as a load balancer's health check would.
pub(crate) type Targets = Arc<RwLock<Vec<String>>>;

pub(crate) struct Load {
    /// Requests finished so far (the test waits on it to inject a fault mid-load).
    pub(crate) done: Arc<AtomicUsize>,
    /// Connection attempts refused (no router listening): retried, as a
    /// client or a load balancer would, and not counted as requests.
    pub(crate) refused: Arc<AtomicUsize>,
    handle: tokio::task::JoinHandle<Vec<Outcome>>,
}

impl Load {
    /// Sends `total` GETs of `path` from `concurrency` clients. A request with
    /// no status after `hang_bound` counts as lost.
    pub(crate) fn start(
        targets: Targets,
        path: &str,
        total: usize,
        concurrency: usize,
        hang_bound: Duration,
    ) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (targets, done, refused, next) =
                (targets.clone(), done.clone(), refused.clone(), next.clone());
            let path = path.to_owned();
            tasks.push(tokio::spawn(async move {
                // No pooling: an idle kept-alive connection closed by a router
                // restart would turn into an error that says nothing about it.
                let client: Client<HttpConnector, Full<Bytes>> =
                    Client::builder(TokioExecutor::new())
                        .pool_max_idle_per_host(0)
                        .build_http();
                let mut out = Vec::new();
                loop {
                    let mut i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let outcome = loop {
                        let target = {
                            let list = targets.read().unwrap();
                            list[i % list.len()].clone()
                        };
                        i += 1;
                        match one(&client, &target, &path, hang_bound).await {
                            Some(outcome) => break outcome,
                            None => {
                                refused.fetch_add(1, Ordering::Relaxed);
                                // Nobody listens there (yet): try again shortly.
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    };
                    out.push(outcome);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                out
            }));
        }
        let handle = tokio::spawn(async move {
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.expect("load task"));
            }
            all
        });
        Self {
            done,
            refused,
            handle,
        }
    }

    /// Waits until at least `n` requests have finished.
    pub(crate) async fn wait_done(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.done.load(Ordering::Relaxed) < n {
            assert!(
                Instant::now() < deadline,
                "the load did not reach {n} requests within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every request's outcome, and how many connection attempts were refused.
    pub(crate) async fn finish(self) -> (Vec<Outcome>, usize) {
        let outcomes = self.handle.await.expect("load");
        (outcomes, self.refused.load(Ordering::Relaxed))
    }
}

/// One request; `None` if the connection was refused (the request never left).
async fn one(
    client: &Client<HttpConnector, Full<Bytes>>,
    target: &str,
    path: &str,
    hang_bound: Duration,
) -> Option<Outcome> {
    let started = Instant::now();
    let req = http::Request::get(format!("{target}{path}"))
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    let (ending, error) = match tokio::time::timeout(hang_bound, async {
        let res = match client.request(req).await {
            Ok(res) => res,
            Err(e) if e.is_connect() => return None,
            Err(e) => return Some((Ending::Lost, Some(format!("{e:?}")))),
        };
        let status = res.status().as_u16();
        Some(match res.into_body().collect().await {
            // The router's reason, for the tally of error answers.
            Ok(body) if status >= 300 => (
                Ending::Answered(status),
                Some(String::from_utf8_lossy(&body.to_bytes()).trim().to_owned()),
            ),
            Ok(_) => (Ending::Answered(status), None),
            Err(e) => (Ending::Aborted(status), Some(e.to_string())),
        })
    })
    .await
    {
        Ok(Some(ended)) => ended,
        Ok(None) => return None,
        Err(_) => (
            Ending::Lost,
            Some(format!("no answer within {hang_bound:?}")),
        ),
    };
    Some(Outcome {
        target: target.to_owned(),
        started,
        took: started.elapsed(),
        ending,
        error,
    })
}

/// Counts by kind of ending.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) sent: usize,
    pub(crate) answered_2xx: usize,
    pub(crate) answered_5xx: usize,
    /// Other statuses (there should be none).
    pub(crate) answered_other: usize,
    pub(crate) aborted: usize,
    pub(crate) lost: usize,
    pub(crate) slowest: Duration,
    /// Error answers by status and body (the router's reason).
    pub(crate) errors: std::collections::BTreeMap<String, usize>,
}

impl Tally {
    pub(crate) fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Self {
        let mut t = Self::default();
        for o in outcomes {
            t.sent += 1;
            t.slowest = t.slowest.max(o.took);
            if let Ending::Answered(status @ 300..) = o.ending {
                let reason = o.error.as_deref().unwrap_or_default();
                *t.errors.entry(format!("{status} {reason}")).or_default() += 1;
            }
            match o.ending {
                Ending::Answered(200..=299) => t.answered_2xx += 1,
                Ending::Answered(500..=599) => t.answered_5xx += 1,
                Ending::Answered(_) => t.answered_other += 1,
                Ending::Aborted(_) => t.aborted += 1,
                Ending::Lost => t.lost += 1,
            }
        }
        t
    }

    /// `sent=… answered_2xx=… answered_5xx=… aborted=… lost=… slowest_ms=…`
    pub(crate) fn fields(&self) -> String {
        format!(
            "sent={} answered_2xx={} answered_5xx={} answered_other={} aborted={} lost={} slowest_ms={} error_answers={:?}",
            self.sent,
            self.answered_2xx,
            self.answered_5xx,
            self.answered_other,
            self.aborted,
            self.lost,
            self.slowest.as_millis(),
            self.errors
        )
    }
}

/// The lost requests, for a failure message.
pub(crate) fn describe_lost(outcomes: &[Outcome]) -> String {
    outcomes
        .iter()
        .filter(|o| o.ending == Ending::Lost)
        .map(|o| format!("{} after {:?}: {:?}", o.target, o.took, o.error))
        .collect::<Vec<_>>()
        .join("\n")
}
