//! How the runtime's threads wake the asyncio loop without ever taking the
//! interpreter: events queue here, and the first event of a batch writes one
//! byte to a socket pair whose read end the loop watches (`loop.add_reader`).
//! The loop then drains the whole batch while it holds the interpreter anyway.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, PoisonError};

/// What the loop is told. `R` is the request handed over; the mailbox does
/// not look inside it.
#[derive(Debug)]
pub(crate) enum Event<R> {
    /// A new request to run.
    Request(R),
    /// The request body of exchange `id` may have a chunk (spurious wakes happen).
    Readable(u64),
    /// A response chunk that waited for room is queued.
    Writable(u64),
    /// The stream is over: reset by the router, timed out, or answered in full.
    Disconnected(u64),
    /// The worker stopped serving: no more events follow.
    Stopped,
}

#[derive(Debug)]
pub(crate) struct Mailbox<R> {
    events: Mutex<Vec<Event<R>>>,
    bell: UnixStream,
    ear: UnixStream,
}

impl<R> Mailbox<R> {
    pub(crate) fn new() -> std::io::Result<Self> {
        let (bell, ear) = UnixStream::pair()?;
        bell.set_nonblocking(true)?;
        ear.set_nonblocking(true)?;
        Ok(Self {
            events: Mutex::new(Vec::new()),
            bell,
            ear,
        })
    }

    /// The descriptor the loop watches for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.ear.as_raw_fd()
    }

    pub(crate) fn post(&self, event: Event<R>) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let first = events.is_empty();
        events.push(event);
        drop(events);
        if first {
            // A full socket buffer already holds a wake-up: nothing is lost.
            let _ = (&self.bell).write(&[1]);
        }
    }

    /// Everything posted so far. The bell is cleared first, so an event
    /// posted after it rings again.
    pub(crate) fn drain(&self) -> Vec<Event<R>> {
        let mut buf = [0u8; 256];
        loop {
            match (&self.ear).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
