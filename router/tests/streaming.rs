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
use zroute_proto::frame::{Frame as WireFrame, SynReply, WindowUpdate};
use zroute_proto::{HeaderBlock, StreamId};
use zroute_test_support::bad_worker::{BadWorker, WAIT, hello_with_window, ok_head};
use zroute_test_support::http::{client, request};
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

/// A request body held back by the session window (65,536 bytes, which only
/// a WINDOW_UPDATE on stream 0 raises) while its stream window has room:
/// the router stops at the session window, and a session WINDOW_UPDATE,
/// which names no stream, wakes the stream again (spec #flow-control-updates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_held_by_the_session_window_resumes_on_its_update() {
    const BODY: usize = 200_000;
    const SESSION_WINDOW: usize = 65_536;
    let router = Router::start("tcp://127.0.0.1:*", &[]);
    let mut bad = BadWorker::connect(&router.endpoint).await;
    // A stream window larger than the body: only the session window binds.
    bad.send(&[hello_with_window("bad", &["/up"], 8, 1_000_000)]);
    bad.expect("WELCOME", |f| matches!(f, WireFrame::Welcome(_)))
        .await;
    router.wait_workers(1, WAIT).await;

    let url = router.url("/up");
    let upload = tokio::spawn(async move {
        request(&client(), "POST", &url, Bytes::from(vec![7u8; BODY])).await
    });
    let syn = bad.expect_syn().await;
    let id = syn.stream_id();
    let (first, fin) = receive_data(&mut bad, id, SESSION_WINDOW).await;
    assert_eq!(
        first, SESSION_WINDOW,
        "the router sent past the session window"
    );
    assert!(!fin);

    // Credit the session only; the stream window still has room.
    bad.send_frames([WireFrame::from(WindowUpdate::new(
        StreamId::ZERO,
        BODY as u32,
    ))]);
    let (rest, fin) = receive_data(&mut bad, id, BODY - SESSION_WINDOW).await;
    assert_eq!(rest, BODY - SESSION_WINDOW);
    if !fin {
        // The end of the body may come on its own, as an empty DATA with FIN.
        bad.expect("FIN", |f| {
            matches!(f, WireFrame::Data(d) if d.stream_id() == id && d.is_fin() && d.payload().is_empty())
        })
        .await;
    }

    let mut head: HeaderBlock = ok_head();
    head.insert("content-length", "0").unwrap();
    let mut reply = SynReply::new(id, head);
    reply.set_fin(true);
    bad.send_frames([WireFrame::from(reply)]);
    let (status, _) = upload.await.unwrap().expect("the upload is answered");
    assert_eq!(status, 200);
}

/// DATA on stream `id` until `upto` bytes came; the bytes and whether the
/// last frame had FIN.
async fn receive_data(bad: &mut BadWorker, id: StreamId, upto: usize) -> (usize, bool) {
    let (mut got, mut fin) = (0, false);
    while got < upto {
        if let WireFrame::Data(d) = bad
            .expect(
                "DATA",
                |f| matches!(f, WireFrame::Data(d) if d.stream_id() == id),
            )
            .await
        {
            got += d.payload().len();
            fin = d.is_fin();
        }
    }
    (got, fin)
}
