//! Bodies stream through the router under flow control: 100 MiB each way,
//! with the router's memory bounded by the windows, not the body size.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use zroute_test_support::process::{Proc, worker};
use zroute_test_support::router_process::Router;

const SIZE: u64 = 100 << 20;
/// The router's resident memory may not pass this while 100 MiB flow through.
const RSS_LIMIT_KIB: u64 = 64 << 10;

/// A request body of `remaining` bytes, produced as it is read.
struct Generated {
    remaining: u64,
    chunk: Bytes,
}

impl Body for Generated {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.chunk.len() as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n)))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Samples the router's RSS until `stop`; returns the peak in KiB.
fn watch_rss(router: &Proc, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let pid = router.pid();
    std::thread::spawn(move || {
        let peak = AtomicU64::new(0);
        while !stop.load(Ordering::Relaxed) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let rss = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0);
            peak.fetch_max(rss, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
        peak.load(Ordering::Relaxed)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_up_and_down_with_bounded_router_memory() {
    let router = Router::start("tcp://127.0.0.1:*", &["--access-log", "false"]);
    let _app = worker("testapp", "app", &router.endpoint, &[]);
    router.wait_workers(1, Duration::from_secs(20)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let rss = watch_rss(&router.proc, stop.clone());
    let baseline = router.proc.rss_kib();

    // Upload: the test app reads and counts the body.
    let client = Client::builder(TokioExecutor::new()).build_http::<Generated>();
    let body = Generated {
        remaining: SIZE,
        chunk: Bytes::from(vec![b'z'; 256 << 10]),
    };
    let req = http::Request::post(router.url("/drain-body"))
        .body(body)
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(120), client.request(req))
        .await
        .expect("upload in time")
        .expect("upload");
    assert_eq!(res.status(), 200);
    let text = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        text,
        SIZE.to_string().as_bytes(),
        "the worker saw every byte"
    );

    // Download: count bytes as they arrive, never holding the body.
    let client = Client::builder(TokioExecutor::new()).build_http::<http_body_util::Empty<Bytes>>();
    let req = http::Request::get(router.url(&format!("/large?bytes={SIZE}")))
        .body(http_body_util::Empty::new())
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(120), client.request(req))
        .await
        .expect("download in time")
        .expect("download");
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let mut got = 0u64;
    let mut expected_byte = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("body frame");
        if let Some(data) = frame.data_ref() {
            // Spec appendix: byte i of /large is i mod 256.
            assert!(
                data.iter()
                    .enumerate()
                    .all(|(k, b)| *b == ((expected_byte + k as u64) % 256) as u8)
            );
            expected_byte += data.len() as u64;
            got += data.len() as u64;
        }
    }
    assert_eq!(got, SIZE);

    stop.store(true, Ordering::Relaxed);
    let peak = rss.join().unwrap();
    eprintln!("router RSS: baseline {baseline} KiB, peak {peak} KiB over 2 × 100 MiB");
    assert!(
        peak < RSS_LIMIT_KIB,
        "router peak RSS {peak} KiB ≥ {RSS_LIMIT_KIB} KiB"
    );
}
