//! The lean HTTP/1.1 path: the requests most clients send (a bodiless
//! request in origin form with one `Host`, `Connection` at most `close` or
//! `keep-alive`), served without hyper's per-request machinery, which cost
//! about a fifth of the router's instructions per request (bench/NOTES.md).
//!
//! It is a front for hyper, not a second HTTP/1 server: the first request it
//! does not take ([`head`] says which) hands the connection, with every byte
//! read so far, to hyper, which serves the rest of the connection as it
//! serves every other. So whatever hyper refuses is still refused by hyper,
//! and a request the lean path takes is one that hyper reads the same way:
//! no body, so the next request starts where its head ends. What it serves
//! goes through the same [`Proxy::handle`] as hyper's requests, with the same
//! checks; the response is framed as hyper frames it ([`write`]).

mod head;
mod write;

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use http::Method;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until};

use self::head::{Parsed, Simple};
use self::write::{Framing, LAST_CHUNK};
use super::Proxy;
use super::drain::{Activity, Draining, FIRST_REQUEST_GRACE};
use super::forwarding::ClientHop;
use super::protocol::Replay;

/// What a connection's lean path shares with the rest of the front.
pub(crate) struct Lane {
    pub(crate) proxy: Arc<Proxy>,
    pub(crate) hop: Arc<ClientHop>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) draining: watch::Receiver<Draining>,
    /// The most head bytes buffered before hyper takes over (hyper's own
    /// buffer limit, which answers 431 past it).
    pub(crate) head_limit: usize,
    /// How long a head may take to arrive, idle time before it included
    /// (hyper's header read timeout).
    pub(crate) head_timeout: Duration,
}

/// How the lean path left a connection.
pub(crate) enum Ended<S> {
    /// Closed: by the client, after `Connection: close`, on a timeout or
    /// shutdown, or on a write error.
    Closed,
    /// A request for hyper: the connection with the bytes read so far first.
    Hyper(Replay<S>),
}

/// Bodies up to this size are copied behind their chunk header into one
/// write; larger ones are written from where they are.
const COPY_UP_TO: usize = 16 * 1024;

impl Lane {
    /// Serves requests on `io` until the connection closes or hyper takes it.
    pub(crate) async fn serve<S>(mut self, mut io: S) -> io::Result<Ended<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut buf = BytesMut::with_capacity(4096);
        let mut served = 0u64;
        // Once shutdown starts: until when an idle connection may still
        // bring a request (see `drain::drive`, which does the same for hyper).
        let mut drain_cut: Option<Instant> = None;
        // One timer for the connection's life, moved for each head: a new
        // one per request costs a registration in tokio's timer wheel.
        let head_timer = sleep(self.head_timeout);
        tokio::pin!(head_timer);
        loop {
            head_timer
                .as_mut()
                .reset(Instant::now() + self.head_timeout);
            let simple = loop {
                match head::parse(&mut buf) {
                    Parsed::Simple(simple) => break simple,
                    Parsed::Partial if buf.len() < self.head_limit => {}
                    Parsed::Partial | Parsed::Other => {
                        return Ok(Ended::Hyper(Replay::new(buf.to_vec(), io)));
                    }
                }
                if drain_cut.is_none() && *self.draining.borrow() != Draining::No {
                    match self.drain_wait(served) {
                        Some(cut) => drain_cut = Some(cut),
                        None => return Ok(close(io).await),
                    }
                }
                let deadline = head_timer.deadline();
                tokio::select! {
                    biased;
                    changed = self.draining.changed(), if drain_cut.is_none() => {
                        if changed.is_err() {
                            // The front is gone: nothing more to serve.
                            return Ok(close(io).await);
                        }
                    }
                    read = read_more(&mut io, &mut buf) => {
                        if read? == 0 {
                            return Ok(Ended::Closed);
                        }
                    }
                    () = &mut head_timer => {
                        if buf.is_empty() {
                            // An idle keep-alive connection: closed quietly.
                            return Ok(close(io).await);
                        }
                        // Part of a head, and no more within the timeout
                        // (slowloris): the caller logs the client as rejected.
                        let _ = close(io).await;
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no complete request head within the idle timeout",
                        ));
                    }
                    () = sleep_until(drain_cut.unwrap_or(deadline)), if drain_cut.is_some() => {
                        return Ok(close(io).await);
                    }
                }
            };
            served += 1;
            let Simple {
                request,
                close: client_close,
            } = simple;
            let is_head = request.method() == Method::HEAD;
            let busy = self.activity.begin();
            let handling = self.proxy.clone().handle(request.map(|()| None), &self.hop);
            tokio::pin!(handling);
            // The client may go away while the worker answers: its EOF
            // cancels the request, as hyper's does (no half-close).
            let mut res = loop {
                tokio::select! {
                    biased;
                    res = &mut handling => break res,
                    read = read_more(&mut io, &mut buf), if buf.len() < self.head_limit => {
                        if read? == 0 {
                            return Ok(Ended::Closed);
                        }
                    }
                }
            };
            drop(busy);
            let draining = *self.draining.borrow() != Draining::No;
            let mut out = Vec::with_capacity(256);
            let Some((framing, last)) =
                write::head(&mut res, is_head, client_close || draining, &mut out)
            else {
                return Ok(Ended::Closed);
            };
            let body = res.into_body();
            if !self
                .send_body(&mut io, &mut buf, out, framing, body)
                .await?
            {
                return Ok(Ended::Closed);
            }
            if last {
                return Ok(close(io).await);
            }
        }
    }

    /// When an idle connection must close once shutdown has started: now
    /// (`None`), or at a deadline if it may still bring a request, as
    /// `drain::drive` decides for hyper's connections.
    fn drain_wait(&self, served: u64) -> Option<Instant> {
        match *self.draining.borrow() {
            Draining::Handover(grace) => Some(Instant::now() + grace),
            Draining::Stop if served == 0 => Some(Instant::now() + FIRST_REQUEST_GRACE),
            _ => None,
        }
    }

    /// Writes the head in `out` and the body after it, frame by frame as
    /// the worker's DATA arrives. `false`: the body broke off (the worker
    /// was lost, the length was wrong, the client left) and the connection
    /// must close without a proper end, so that the client sees it was cut.
    async fn send_body<S>(
        &self,
        io: &mut S,
        buf: &mut BytesMut,
        mut out: Vec<u8>,
        framing: Framing,
        mut body: super::body::ProxyBody,
    ) -> io::Result<bool>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut left = match framing {
            Framing::Length(n) => Some(n),
            Framing::Chunked => None,
        };
        if left == Some(0) {
            send(io, &out).await?;
            return Ok(true);
        }
        loop {
            // What is ready now goes out with what came before (the head
            // and the first DATA in one write); otherwise flush and wait.
            let frame = match ready_frame(&mut body) {
                Some(frame) => frame,
                None => {
                    if !out.is_empty() {
                        send(io, &out).await?;
                        out.clear();
                    }
                    loop {
                        tokio::select! {
                            biased;
                            frame = body.frame() => break frame,
                            read = read_more(io, buf), if buf.len() < self.head_limit => {
                                if read? == 0 {
                                    return Ok(false);
                                }
                            }
                        }
                    }
                }
            };
            let data = match frame {
                None => break,
                Some(Err(_)) => {
                    // Send what came before, then cut the connection.
                    send(io, &out).await?;
                    return Ok(false);
                }
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    // Trailers: the client did not ask for them (no `TE`).
                    Err(_) => continue,
                },
            };
            if data.is_empty() {
                continue;
            }
            if let Some(n) = left.as_mut() {
                if data.len() as u64 > *n {
                    // More than the length said: hyper refuses to send it.
                    send(io, &out).await?;
                    return Ok(false);
                }
                *n -= data.len() as u64;
            }
            write::chunk_header(framing, data.len(), &mut out);
            if data.len() <= COPY_UP_TO {
                out.extend_from_slice(&data);
                write::chunk_end(framing, data.len(), &mut out);
            } else {
                let mut end = Vec::new();
                write::chunk_end(framing, data.len(), &mut end);
                write_all_vectored(io, &[&out, &data, &end]).await?;
                out.clear();
            }
            if left == Some(0) {
                break;
            }
        }
        match left {
            Some(0) => {}
            // The body ended short of its length: cut, as hyper does.
            Some(_) => {
                send(io, &out).await?;
                return Ok(false);
            }
            None => out.extend_from_slice(LAST_CHUNK),
        }
        send(io, &out).await?;
        Ok(true)
    }
}

/// Writes `out` and flushes it (a TLS stream holds writes until then).
async fn send<S: AsyncWrite + Unpin>(io: &mut S, out: &[u8]) -> io::Result<()> {
    io.write_all(out).await?;
    io.flush().await
}

/// Reads what the client sent next, with room for a head's worth of it.
async fn read_more<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    io.read_buf(buf).await
}

/// The body's next frame if it is ready now, without waiting.
fn ready_frame(
    body: &mut super::body::ProxyBody,
) -> Option<Option<Result<http_body::Frame<bytes::Bytes>, super::body::BoxError>>> {
    use std::future::Future as _;
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(body.frame()).poll(&mut cx) {
        Poll::Ready(frame) => Some(frame),
        Poll::Pending => None,
    }
}

async fn write_all_vectored<S: AsyncWrite + Unpin>(io: &mut S, parts: &[&[u8]]) -> io::Result<()> {
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    while !parts.is_empty() {
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut n = io.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while let Some(first) = parts.first_mut() {
            if n < first.len() {
                *first = &first[n..];
                break;
            }
            n -= first.len();
            parts.remove(0);
        }
    }
    io.flush().await
}

/// Ends the connection as hyper does: the write side shut down (FIN), then
/// dropped (which lingers if the client may still be sending).
async fn close<S: AsyncWrite + Unpin>(mut io: S) -> Ended<S> {
    let _ = io.shutdown().await;
    Ended::Closed
}
