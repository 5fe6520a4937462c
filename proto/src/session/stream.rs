//! One stream's state ([spec](../../../spec/PROTOCOL.md#stream-states)).
//!
//! ```text
//!                          +--------+
//!                          |  idle  |
//!                          +--------+
//!                              |
//!                  send/recv SYN_STREAM
//!                              v
//!      recv FIN            +--------+            send FIN
//!    ,---------------------|  open  |---------------------.
//!    |                     +--------+                     |
//!    v                         |                          v
//! +----------+                 |                   +----------+
//! |  half    |                 |                   |  half    |
//! |  closed  |           send/recv RST             |  closed  |
//! | (remote) |                 |                   | (local)  |
//! +----------+                 |                   +----------+
//!    |  send FIN               v               recv FIN  |
//!    |   or RST           +--------+             or RST  |
//!    `------------------->| closed |<--------------------'
//!                         +--------+
//! ```
//!
//! FIN travels on SYN_STREAM, SYN_REPLY, DATA or HEADERS. A closed stream is
//! forgotten at once: the session tells "closed" from "never opened" by the
//! highest id opened so far, so it keeps no memory per closed stream.

use super::flow::{RecvWindow, SendWindow};

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) local_fin: bool,
    pub(crate) remote_fin: bool,
    /// Router: a SYN_REPLY arrived. Worker: one went out.
    pub(crate) replied: bool,
    pub(crate) send: SendWindow,
    pub(crate) recv: RecvWindow,
    /// Received bytes the application has not released yet.
    pub(crate) recv_pending: usize,
    pub(crate) recv_body: BodyCount,
    pub(crate) send_body: BodyCount,
    /// The request was HEAD: its response has no body whatever content-length says.
    pub(crate) is_head: bool,
    /// A WebSocket stream (`:protocol: websocket`): 101 may accept it.
    pub(crate) websocket: bool,
}

/// DATA bytes against a declared content-length.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BodyCount {
    pub(crate) expected: Option<u64>,
    pub(crate) seen: u64,
    /// The body is empty by HTTP's rules (HEAD, 204, 304): its length is not checked.
    pub(crate) exempt: bool,
}

impl BodyCount {
    /// Adds bytes; `false` when they run past the declared length.
    pub(crate) fn add(&mut self, len: usize) -> bool {
        self.seen += len as u64;
        self.exempt || self.expected.is_none_or(|n| self.seen <= n)
    }

    /// After `add(len)`: how many of those `len` bytes lie within the
    /// declared length (all of them when nothing was declared).
    pub(crate) fn within_declared(&self, len: usize) -> usize {
        match self.expected {
            Some(n) if !self.exempt => {
                let before = self.seen - len as u64;
                usize::try_from(n.saturating_sub(before)).map_or(len, |room| room.min(len))
            }
            _ => len,
        }
    }

    /// At the end of the body: whether its length was what was declared.
    pub(crate) fn is_complete(&self) -> bool {
        self.exempt || self.expected.is_none_or(|n| self.seen == n)
    }
}

impl Stream {
    pub(crate) fn new(send_window: u32, recv_window: u32) -> Self {
        Self {
            local_fin: false,
            remote_fin: false,
            replied: false,
            send: SendWindow::new(send_window),
            recv: RecvWindow::new(recv_window, recv_window),
            recv_pending: 0,
            recv_body: BodyCount::default(),
            send_body: BodyCount::default(),
            is_head: false,
            websocket: false,
        }
    }

    pub(crate) fn state(&self) -> StreamState {
        match (self.local_fin, self.remote_fin) {
            (false, false) => StreamState::Open,
            (true, false) => StreamState::HalfClosedLocal,
            (false, true) => StreamState::HalfClosedRemote,
            (true, true) => StreamState::Closed,
        }
    }
}

/// The states of the diagram above that a live stream can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    Open,
    /// We sent FIN; the peer may still send.
    HalfClosedLocal,
    /// The peer sent FIN; we may still send.
    HalfClosedRemote,
    Closed,
}
