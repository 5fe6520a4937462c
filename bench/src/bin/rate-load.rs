//! Open-loop load at a fixed request rate, for latency well below saturation.
//!
//! wrk measures a closed loop: a slow response delays the next request, which
//! hides the very latency it should count (coordinated omission). Here request
//! `i` is due at `start + i / rate`, whatever happened before; its latency runs
//! from that due time to the end of the response, so time spent waiting for a
//! free connection counts.
//!
//! Usage: `rate-load URL RATE SECONDS [CONNECTIONS]` (default 50 connections)
//! Prints one JSON object: sent, ok, errors, achieved_rps, p50_ms, p90_ms,
//! p99_ms, p999_ms, max_ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

struct Args {
    url: hyper::Uri,
    rate: f64,
    duration: Duration,
    connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: rate-load URL RATE SECONDS [CONNECTIONS]";
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.len() < 3 {
        return Err(usage.into());
    }
    let url: hyper::Uri = argv[0].parse().map_err(|e| format!("URL: {e}"))?;
    let rate: f64 = argv[1].parse().map_err(|e| format!("RATE: {e}"))?;
    let seconds: f64 = argv[2].parse().map_err(|e| format!("SECONDS: {e}"))?;
    let connections = match argv.get(3) {
        Some(c) => c.parse().map_err(|e| format!("CONNECTIONS: {e}"))?,
        None => 50,
    };
    if rate <= 0.0 || seconds <= 0.0 || connections == 0 || url.authority().is_none() {
        return Err(usage.into());
    }
    Ok(Args {
        url,
        rate,
        duration: Duration::from_secs_f64(seconds),
        connections,
    })
}

/// What one connection saw: latencies in microseconds, and failures.
#[derive(Default)]
struct Tally {
    micros: Vec<u64>,
    errors: u64,
}

async fn connection(args: Arc<Args>, next: Arc<AtomicU64>, start: Instant, total: u64) -> Tally {
    let mut tally = Tally::default();
    let authority = args.url.authority().expect("checked").clone();
    let mut sender = open(&authority).await;
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            return tally;
        }
        let due = start + Duration::from_secs_f64(i as f64 / args.rate);
        tokio::time::sleep_until(due).await;
        if sender.is_none() {
            sender = open(&authority).await;
        }
        let Some(s) = sender.as_mut() else {
            tally.errors += 1;
            continue;
        };
        let req = Request::get(args.url.path())
            .header(hyper::header::HOST, authority.as_str())
            .body(Empty::<Bytes>::new())
            .expect("a static request");
        let ok = match s.send_request(req).await {
            Ok(res) => res.status().is_success() && res.into_body().collect().await.is_ok(),
            Err(_) => false,
        };
        if ok {
            tally.micros.push(due.elapsed().as_micros() as u64);
        } else {
            tally.errors += 1;
            sender = None;
        }
    }
}

async fn open(authority: &hyper::http::uri::Authority) -> Option<http1::SendRequest<Empty<Bytes>>> {
    let tcp = TcpStream::connect(authority.as_str()).await.ok()?;
    let _ = tcp.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let total = (args.rate * args.duration.as_secs_f64()).round() as u64;
    let (tallies, elapsed) = runtime.block_on(async {
        let next = Arc::new(AtomicU64::new(0));
        // A head start lets every connection open before the first request is due.
        let start = Instant::now() + Duration::from_millis(200);
        let tasks: Vec<_> = (0..args.connections)
            .map(|_| tokio::spawn(connection(args.clone(), next.clone(), start, total)))
            .collect();
        let mut tallies = Vec::new();
        for t in tasks {
            tallies.push(t.await.expect("a connection task"));
        }
        (tallies, start.elapsed())
    });
    let mut micros: Vec<u64> = tallies
        .iter()
        .flat_map(|t| t.micros.iter().copied())
        .collect();
    micros.sort_unstable();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    println!(
        "{{\"sent\":{total},\"ok\":{},\"errors\":{errors},\"achieved_rps\":{:.1},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        micros.len(),
        micros.len() as f64 / elapsed.as_secs_f64(),
        percentile(&micros, 50.0),
        percentile(&micros, 90.0),
        percentile(&micros, 99.0),
        percentile(&micros, 99.9),
        micros.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
}
