//! A worker written with `zroute-transport` and `zroute-proto` that says
//! exactly what a test tells it to: for misbehaving workers, and for seeing
//! the frames the router sends (the exact SYN_STREAM block, trailers).

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use zroute_proto::frame::{Data, Frame, Hello, Ping, SynReply, SynStream};
use zroute_proto::{GoAwayStatus, HeaderBlock, RstCode, StreamId};
use zroute_transport::{Context, DealerOptions, Socket};

/// How long `expect` waits for a frame.
pub const WAIT: Duration = Duration::from_secs(5);

/// A worker that says exactly what the test tells it to. A task owns the
/// DEALER socket: it echoes the router's PINGs (so the session stays alive
/// whatever the test does) and hands every other frame to the test.
pub struct BadWorker {
    pub frames: mpsc::UnboundedReceiver<Frame>,
    out: mpsc::UnboundedSender<Vec<Bytes>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for BadWorker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl BadWorker {
    /// A connected DEALER that has sent nothing yet.
    pub async fn connect(endpoint: &str) -> Self {
        let ctx = Context::new();
        let mut socket = Socket::dealer(&ctx, &DealerOptions::default()).expect("DEALER");
        socket.connect(endpoint).expect("connect");
        socket.writable().await.expect("connected");
        let (frames_tx, frames) = mpsc::unbounded_channel();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Vec<Bytes>>();
        let task = tokio::spawn(async move {
            let _ctx = ctx;
            loop {
                tokio::select! {
                    msg = socket.recv() => {
                        let Ok(msg) = msg else { return };
                        let mut echoes = Vec::new();
                        for part in msg.into_parts() {
                            match Frame::decode(part) {
                                // Odd ids are the router's: echo them.
                                Ok(Frame::Ping(p)) if p.id() % 2 == 1 => {
                                    echoes.push(Frame::from(Ping::new(p.id())).to_bytes());
                                }
                                Ok(frame) => {
                                    let _ = frames_tx.send(frame);
                                }
                                Err(e) => panic!("the router sent an undecodable part: {e}"),
                            }
                        }
                        if !echoes.is_empty() {
                            socket.send(&echoes).await.expect("echo PING");
                        }
                    }
                    parts = out_rx.recv() => match parts {
                        Some(parts) => socket.send(&parts).await.expect("send"),
                        None => return,
                    },
                }
            }
        });
        Self { frames, out, task }
    }

    /// Connects and registers with `routes`; returns once WELCOME arrived.
    pub async fn register(endpoint: &str, id: &str, routes: &[&str], capacity: u32) -> Self {
        let mut worker = Self::connect(endpoint).await;
        worker.send(&[hello(id, routes, capacity)]);
        worker
            .expect("WELCOME", |f| matches!(f, Frame::Welcome(_)))
            .await;
        worker
    }

    /// Sends one message of these parts.
    pub fn send(&self, parts: &[Bytes]) {
        self.out.send(parts.to_vec()).expect("socket task alive");
    }

    pub fn send_frames(&self, frames: impl IntoIterator<Item = Frame>) {
        let parts: Vec<Bytes> = frames.into_iter().map(|f| f.to_bytes()).collect();
        self.send(&parts);
    }

    /// The next frame, within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        tokio::time::timeout(within, self.frames.recv())
            .await
            .ok()
            .flatten()
    }

    /// Skips frames until one matches; fails the test after `WAIT`.
    pub async fn expect(&mut self, what: &str, matches: impl Fn(&Frame) -> bool) -> Frame {
        let deadline = Instant::now() + WAIT;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(f) if matches(&f) => return f,
                Some(f) => skipped.push(f.type_name()),
                None => panic!("no {what} within {WAIT:?}; skipped {skipped:?}"),
            }
        }
    }

    pub async fn expect_syn(&mut self) -> SynStream {
        match self
            .expect("SYN_STREAM", |f| matches!(f, Frame::SynStream(_)))
            .await
        {
            Frame::SynStream(s) => s,
            _ => unreachable!(),
        }
    }

    pub async fn expect_rst(&mut self, id: StreamId, code: RstCode) {
        self.expect(
            &format!("RST_STREAM({id}, {code})"),
            |f| matches!(f, Frame::RstStream(r) if r.stream_id() == id && r.code() == code),
        )
        .await;
    }

    /// The next GOAWAY's status.
    pub async fn expect_goaway(&mut self) -> GoAwayStatus {
        match self
            .expect("GOAWAY", |f| matches!(f, Frame::GoAway(_)))
            .await
        {
            Frame::GoAway(g) => g.status(),
            _ => unreachable!(),
        }
    }

    /// A proper answer: 200, `body`, FIN.
    pub fn answer_ok(&self, id: StreamId, body: &'static [u8]) {
        let mut data = Data::new(id, Bytes::from_static(body));
        data.set_fin(true);
        self.send_frames([SynReply::new(id, ok_head()).into(), data.into()]);
    }
}

pub fn hello(id: &str, routes: &[&str], capacity: u32) -> Bytes {
    hello_with_window(id, routes, capacity, 65_536)
}

/// A HELLO announcing `window` as the worker's initial (stream) window.
pub fn hello_with_window(id: &str, routes: &[&str], capacity: u32, window: u32) -> Bytes {
    let mut attributes = HeaderBlock::new();
    attributes.insert("id", id.to_owned()).unwrap();
    for route in routes {
        attributes.append("route", route).unwrap();
    }
    Frame::from(Hello::new(1, capacity, window, attributes)).to_bytes()
}

pub fn ok_head() -> HeaderBlock {
    HeaderBlock::from_pairs([
        (":status", "200"),
        (":version", "HTTP/1.1"),
        ("content-type", "text/plain"),
    ])
    .unwrap()
}
