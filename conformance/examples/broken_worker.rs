//! A worker with bugs to order, for the suite's own tests: the suite must
//! report each bug as the right outcome on the right cases.
//!
//! ```text
//! broken_worker ID --connect ENDPOINT [--capacity N] [--max-msg-size BYTES]
//!               [--routing-id ID] [--bug MODE]
//! ```
//!
//! Without `--bug` it is a correct worker (zroute-proto's `Session` over a
//! DEALER socket) serving the part of the Appendix A test app that the
//! suite's tests use: `/hello`, `/large?bytes=B`, `/stream?n=N&size=S`, and
//! 404 for anything else. Modes:
//!
//! - `wrong-stream-ids`: SYN_REPLY and DATA go out on the stream id + 2;
//! - `ignores-windows`: `/large` sends its whole body at once, whatever the windows;
//! - `crash-on-malformed`: exits (status 101) on a part that does not decode;
//! - `no-pong`: never answers the router's PINGs.
//!
//! `--max-msg-size` sets the DEALER's `ZMQ_MAXMSGSIZE` (default 1 MiB): below
//! the spec's 65,545, libzmq drops the connection on the suite's oversized
//! frames and reconnects silently, a bug of configuration rather than code.
//! `--routing-id` sets `ZMQ_ROUTING_ID` on every socket, which the spec asks
//! workers to leave unset: each new socket then looks like the old one.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use zroute_proto::frame::{Data, SynReply};
use zroute_proto::session::WorkerConfig;
use zroute_proto::{Event, Frame, HeaderBlock, Session, StreamId};
use zroute_transport::{Context, DealerOptions, Socket};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    WrongStreamIds,
    IgnoresWindows,
    CrashOnMalformed,
    NoPong,
}

#[derive(Debug)]
struct Args {
    id: String,
    endpoint: String,
    capacity: u32,
    max_msg_size: Option<u64>,
    bug: Bug,
    routing_id: Option<Vec<u8>>,
}

fn parse_args() -> Result<Args, String> {
    let mut argv = std::env::args().skip(1);
    let id = argv
        .next()
        .ok_or("usage: broken_worker ID --connect ENDPOINT [--capacity N] [--max-msg-size BYTES] [--routing-id ID] [--bug MODE]")?;
    let (mut endpoint, mut capacity, mut max_msg_size, mut bug) = (None, 64, None, Bug::None);
    let mut routing_id = None;
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connect" => endpoint = Some(value),
            "--capacity" => capacity = value.parse().map_err(|e| format!("--capacity: {e}"))?,
            "--routing-id" => routing_id = Some(value.into_bytes()),
            "--max-msg-size" => {
                max_msg_size = Some(value.parse().map_err(|e| format!("--max-msg-size: {e}"))?);
            }
            "--bug" => {
                bug = match value.as_str() {
                    "none" => Bug::None,
                    "wrong-stream-ids" => Bug::WrongStreamIds,
                    "ignores-windows" => Bug::IgnoresWindows,
                    "crash-on-malformed" => Bug::CrashOnMalformed,
                    "no-pong" => Bug::NoPong,
                    other => return Err(format!("unknown --bug {other}")),
                }
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Args {
        id,
        endpoint: endpoint.ok_or("--connect ENDPOINT is required")?,
        capacity,
        max_msg_size,
        bug,
        routing_id,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("broken_worker: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(serve(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broken_worker: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A response body still to send under flow control.
struct Pending {
    body: Bytes,
    /// Frame size for `/stream` (each chunk its own DATA frame).
    chunk: usize,
}

/// One session after another: a closed session is followed by a new socket.
async fn serve(args: &Args) -> Result<(), String> {
    let ctx = Context::new();
    loop {
        let mut options = DealerOptions::default();
        if let Some(limit) = args.max_msg_size {
            options.max_msg_size = Some(limit);
        }
        options.routing_id.clone_from(&args.routing_id);
        let mut socket = Socket::dealer(&ctx, &options).map_err(|e| e.to_string())?;
        socket.connect(&args.endpoint).map_err(|e| e.to_string())?;
        let mut config = WorkerConfig::new(args.id.clone());
        config.max_concurrent_streams = args.capacity;
        let mut session = Session::worker(&config, Instant::now()).map_err(|e| format!("{e:?}"))?;
        let mut pending: HashMap<StreamId, Pending> = HashMap::new();
        loop {
            flush(&mut session, &mut socket, args.bug).await?;
            let mut closed = false;
            while let Some(event) = session.poll_event() {
                match event {
                    Event::Request { id, headers, .. } => {
                        respond(&mut session, &mut socket, &mut pending, args, id, &headers)
                            .await?;
                    }
                    Event::Reset { id, .. } => {
                        pending.remove(&id);
                    }
                    Event::Closed(reason) => {
                        eprintln!("broken_worker: session closed: {reason:?}");
                        closed = true;
                    }
                    _ => {}
                }
            }
            pump(&mut session, &mut pending);
            flush(&mut session, &mut socket, args.bug).await?;
            if closed {
                break;
            }
            let timeout = session.poll_timeout();
            let sleep = async {
                match timeout {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = socket.recv() => {
                    let msg = msg.map_err(|e| e.to_string())?;
                    for part in msg.into_parts() {
                        // A zero-length part is no frame: receivers ignore it (spec #transport-messages).
                        if args.bug == Bug::CrashOnMalformed
                            && !part.is_empty()
                            && Frame::decode(part.clone()).is_err()
                        {
                            eprintln!("broken_worker: cannot decode a frame, giving up (bug: crash-on-malformed)");
                            std::process::exit(101);
                        }
                        session.handle_part(Instant::now(), part);
                    }
                }
                () = sleep => session.handle_timeout(Instant::now()),
            }
        }
    }
}

/// Sends what the session queued, with the chosen bug applied.
async fn flush(session: &mut Session, socket: &mut Socket, bug: Bug) -> Result<(), String> {
    while let Some(frame) = session.poll_transmit(Instant::now()) {
        let frame = match (bug, frame) {
            (Bug::NoPong, Frame::Ping(p)) if p.id() % 2 == 1 => continue,
            (Bug::WrongStreamIds, Frame::SynReply(r)) => {
                let mut moved = SynReply::new(shifted(r.stream_id()), r.headers().clone());
                moved.set_fin(r.is_fin());
                moved.into()
            }
            (Bug::WrongStreamIds, Frame::Data(d)) => {
                let mut moved = Data::new(shifted(d.stream_id()), d.payload().clone());
                moved.set_fin(d.is_fin());
                moved.into()
            }
            (_, f) => f,
        };
        socket
            .send(&[frame.to_bytes()])
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn shifted(id: StreamId) -> StreamId {
    StreamId::new(id.get() + 2)
}

fn head(status: &str, content_type: &str, length: Option<usize>) -> HeaderBlock {
    let mut h = HeaderBlock::new();
    let mut add = |n: &'static str, v: String| {
        h.insert(Bytes::from(n), Bytes::from(v))
            .expect("valid header");
    };
    add(":status", status.to_owned());
    add(":version", "HTTP/1.1".to_owned());
    add("content-type", content_type.to_owned());
    if let Some(n) = length {
        add("content-length", n.to_string());
    }
    h
}

fn query(path: &str, key: &str) -> Option<usize> {
    let q = path.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

async fn respond(
    session: &mut Session,
    socket: &mut Socket,
    pending: &mut HashMap<StreamId, Pending>,
    args: &Args,
    id: StreamId,
    headers: &HeaderBlock,
) -> Result<(), String> {
    let path = headers
        .get(":path")
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let route = path.split('?').next().unwrap_or_default();
    let (reply, body, chunk) = match route {
        "/hello" => {
            let body = Bytes::from(format!("Hello from {}", args.id));
            (head("200", "text/plain", None), body, usize::MAX)
        }
        "/large" => {
            let n = query(&path, "bytes").unwrap_or(0);
            let body: Bytes = (0..n).map(|i| (i % 256) as u8).collect::<Vec<_>>().into();
            (
                head("200", "application/octet-stream", Some(n)),
                body,
                usize::MAX,
            )
        }
        "/stream" => {
            let (n, size) = (
                query(&path, "n").unwrap_or(1),
                query(&path, "size").unwrap_or(1),
            );
            let body: Bytes = (0..n * size)
                .map(|i| b'a' + ((i / size) % 26) as u8)
                .collect::<Vec<_>>()
                .into();
            (
                head("200", "application/octet-stream", None),
                body,
                size.max(1),
            )
        }
        _ => (
            head("404", "text/plain", None),
            Bytes::from_static(b"not found"),
            usize::MAX,
        ),
    };
    session
        .reply(id, reply, false)
        .map_err(|e| format!("reply: {e:?}"))?;
    if args.bug == Bug::IgnoresWindows && route == "/large" {
        // The bug: the body goes out at once, past every window.
        flush(session, socket, args.bug).await?;
        for (i, part) in body.chunks(16 * 1024).enumerate() {
            let mut d = Data::new(id, Bytes::copy_from_slice(part));
            d.set_fin((i + 1) * 16 * 1024 >= body.len());
            socket
                .send(&[Frame::from(d).to_bytes()])
                .await
                .map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    pending.insert(id, Pending { body, chunk });
    Ok(())
}

/// Sends as much of every pending body as the windows allow.
fn pump(session: &mut Session, pending: &mut HashMap<StreamId, Pending>) {
    pending.retain(|id, p| {
        loop {
            let room = session.send_capacity(*id);
            let n = p.body.len().min(p.chunk).min(room);
            if n == 0 && !p.body.is_empty() {
                return true;
            }
            let part = p.body.split_to(n);
            let fin = p.body.is_empty();
            if session.send_data(*id, part, fin).is_err() || fin {
                return false;
            }
        }
    });
}
