//! Closed-loop WebSocket load: CONNECTIONS clients, each sending a SIZE-byte
//! binary message and waiting for its echo, again and again for SECONDS.
//!
//! Usage: `ws-load URL SECONDS [CONNECTIONS] [SIZE]` (defaults 50 and 64)
//! Prints one JSON object: messages, errors, seconds, messages_per_s, p50_ms,
//! p99_ms, max_ms.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;

#[derive(Default)]
struct Tally {
    micros: Vec<u64>,
    errors: u64,
}

async fn client(url: String, addr: String, until: Instant, size: usize) -> Tally {
    let mut tally = Tally::default();
    let Ok(tcp) = TcpStream::connect(&addr).await else {
        tally.errors += 1;
        return tally;
    };
    let _ = tcp.set_nodelay(true);
    let Ok((mut ws, _)) = client_async(url, tcp).await else {
        tally.errors += 1;
        return tally;
    };
    let payload = bytes::Bytes::from(vec![b'x'; size]);
    while Instant::now() < until {
        let sent = Instant::now();
        if ws.send(Message::Binary(payload.clone())).await.is_err() {
            tally.errors += 1;
            break;
        }
        match ws.next().await {
            Some(Ok(Message::Binary(echo))) if echo.len() == size => {
                tally.micros.push(sent.elapsed().as_micros() as u64);
            }
            _ => {
                tally.errors += 1;
                break;
            }
        }
    }
    let _ = ws.close(None).await;
    tally
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() -> Result<(), String> {
    let usage = "usage: ws-load URL SECONDS [CONNECTIONS] [SIZE]";
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let url = argv.first().ok_or(usage)?.clone();
    let seconds: f64 = argv
        .get(1)
        .ok_or(usage)?
        .parse()
        .map_err(|e| format!("SECONDS: {e}"))?;
    let connections: usize = argv
        .get(2)
        .map_or(Ok(50), |c| c.parse())
        .map_err(|e| format!("{e}"))?;
    let size: usize = argv
        .get(3)
        .map_or(Ok(64), |c| c.parse())
        .map_err(|e| format!("{e}"))?;
    let addr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or("URL: ws://HOST:PORT/PATH")?
        .to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (tally, elapsed) = runtime.block_on(async move {
        let start = Instant::now();
        let until = start + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = (0..connections)
            .map(|_| tokio::spawn(client(url.clone(), addr.clone(), until, size)))
            .collect();
        let mut all = Tally::default();
        for task in tasks {
            if let Ok(t) = task.await {
                all.micros.extend(t.micros);
                all.errors += t.errors;
            }
        }
        (all, start.elapsed().as_secs_f64())
    });
    let mut micros = tally.micros;
    micros.sort_unstable();
    let messages = micros.len();
    println!(
        "{{\"messages\": {messages}, \"errors\": {}, \"seconds\": {elapsed:.3}, \"messages_per_s\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
        tally.errors,
        messages as f64 / elapsed,
        percentile(&micros, 0.5),
        percentile(&micros, 0.99),
        percentile(&micros, 1.0),
    );
    Ok(())
}
