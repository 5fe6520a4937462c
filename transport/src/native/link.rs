//! One connection: a stream, its ZMTP state machine, and the octets queued
//! for it.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::Instant;
use zroute_zmtp::{Connection, Error as ZmtpError, SendError as ZmtpSendError};

use super::endpoint::Stream;
use super::wake::SlotWaker;
use crate::monitor::PeerAddr;

/// What a read found.
#[derive(Debug)]
pub(super) enum ReadOutcome {
    /// Everything available was read; the reactor will wake the slot for more.
    Drained,
    /// The read budget ran out with more possibly waiting: visit again.
    More,
    /// The peer closed the connection, or it broke.
    Closed(Option<io::Error>),
    /// The peer broke the protocol or passed a bound.
    Failed(ZmtpError),
}

/// A connection and its outbound queue.
#[derive(Debug)]
pub(super) struct Link {
    pub(super) stream: Stream,
    pub(super) conn: Connection,
    pub(super) waker: Arc<SlotWaker>,
    // The same waker as the reactor takes it, made once rather than per read
    // and write.
    task_waker: Waker,
    pub(super) fd: RawFd,
    pub(super) peer: Option<PeerAddr>,
    pub(super) address: String,
    /// The routing id a ROUTER gave the peer once its handshake completed.
    pub(super) routing_id: Option<Bytes>,
    /// The connector that made this link, for a connecting socket.
    pub(super) connector: Option<usize>,
    pub(super) opened: Instant,
    pub(super) last_recv: Instant,
    /// The TTL the peer's last PING asked for (37/ZMTP heartbeats).
    pub(super) peer_ttl: Duration,
    /// The handshake completed and the socket routes to it.
    pub(super) ready: bool,
    /// Listed in the socket's dirty list: octets wait for the next flush.
    pub(super) dirty: bool,
    tx: BytesMut,
    // For each message not yet fully written, the running total of octets
    // queued once it was: the queue's length in messages, as a high-water
    // mark counts it.
    ends: VecDeque<u64>,
    queued: u64,
    written: u64,
}

impl Link {
    pub(super) fn new(
        stream: Stream,
        conn: Connection,
        waker: Arc<SlotWaker>,
        peer: Option<PeerAddr>,
        address: String,
        now: Instant,
    ) -> Self {
        let fd = stream.as_raw_fd();
        let mut link = Self {
            stream,
            conn,
            task_waker: Waker::from(waker.clone()),
            waker,
            fd,
            peer,
            address,
            routing_id: None,
            connector: None,
            opened: now,
            last_recv: now,
            peer_ttl: Duration::ZERO,
            ready: false,
            dirty: false,
            tx: BytesMut::new(),
            ends: VecDeque::new(),
            queued: 0,
            written: 0,
        };
        link.take_transmit();
        link
    }

    /// Messages queued and not yet fully written.
    pub(super) fn pending(&self) -> usize {
        self.ends.len()
    }

    /// Octets queued and not yet written.
    pub(super) fn queued_octets(&self) -> usize {
        self.tx.len()
    }

    /// Encodes a message into the queue.
    pub(super) fn queue<P: AsRef<[u8]>>(&mut self, parts: &[P]) -> Result<(), ZmtpSendError> {
        self.conn.send_message(parts, &mut self.tx)?;
        self.queued = self.written + self.tx.len() as u64;
        self.ends.push_back(self.queued);
        Ok(())
    }

    /// Queues a PING, as 37/ZMTP's heartbeats send them.
    pub(super) fn ping(&mut self, ttl: Duration) -> bool {
        self.conn.send_ping(ttl, b"", &mut self.tx).is_ok()
    }

    /// Moves what the state machine has to send (greeting, READY, PONG,
    /// ERROR) into the queue.
    pub(super) fn take_transmit(&mut self) -> bool {
        self.conn.poll_transmit(&mut self.tx)
    }

    /// Writes what is queued, in as few writes as the kernel takes; when
    /// the kernel is full, the reactor wakes the slot once it has room.
    /// Returns whether the queue is empty.
    pub(super) fn flush(&mut self) -> io::Result<bool> {
        if self.tx.is_empty() {
            return Ok(true);
        }
        let mut cx = Context::from_waker(&self.task_waker);
        while !self.tx.is_empty() {
            match self.stream.try_write(&self.tx) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.tx.advance(n);
                    self.written += n as u64;
                    while self.ends.front().is_some_and(|&end| end <= self.written) {
                        self.ends.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match self.stream.poll_write_ready(&mut cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Err(e),
                        Poll::Pending => return Ok(false),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // Empty again: start over at the front of the allocation.
        self.tx.clear();
        Ok(true)
    }

    /// Reads what is available, up to `budget` octets, into the state
    /// machine; its events wait in [`Connection::poll_event`]. Adds what it
    /// read to `read`.
    pub(super) fn read(
        &mut self,
        scratch: &mut [u8],
        budget: usize,
        now: Instant,
        read: &mut usize,
    ) -> ReadOutcome {
        let mut cx = Context::from_waker(&self.task_waker);
        let start = *read;
        loop {
            let drained = match self.stream.read_some(scratch) {
                Ok((0, _)) => return ReadOutcome::Closed(None),
                Ok((n, drained)) => {
                    self.last_recv = now;
                    if let Err(e) = self.conn.handle_bytes(&scratch[..n]) {
                        return ReadOutcome::Failed(e);
                    }
                    *read += n;
                    if *read - start >= budget {
                        return ReadOutcome::More;
                    }
                    drained
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
                Err(e) => return ReadOutcome::Closed(Some(e)),
            };
            if drained {
                // Registers for the next event; ready already if one came
                // (or the peer closed) since.
                match self.stream.poll_read_ready(&mut cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return ReadOutcome::Closed(Some(e)),
                    Poll::Pending => return ReadOutcome::Drained,
                }
            }
        }
    }
}
