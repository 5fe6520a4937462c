//! ZMTP 3.1 sockets on the tokio reactor, without libzmq.
//!
//! [`Socket`] is a ROUTER or a DEALER that speaks ZMTP itself, through the
//! sans-IO state machine of `zroute-zmtp`: the task that owns the socket
//! reads and writes its connections when it waits on it, so a message
//! costs no thread hand-off, no mailbox and no channel. libzmq's I/O thread
//! cost the router 1.27 context switches per request (bench/NOTES.md).
//!
//! | file | what |
//! |---|---|
//! | `endpoint.rs` | `tcp://` and `ipc://`: parsing, listeners, streams |
//! | `wake.rs` | which connections woke the owner, without scanning them all |
//! | `link.rs` | one connection: its stream, its ZMTP state, its outbound queue |
//! | `socket/mod.rs` | ROUTER and DEALER: their API, options, routing ids, high-water marks, sending |
//! | `socket/drive.rs` | what one wake-up does: accepting, connecting with backoff, reading and writing the links that woke it, closing, heartbeats |

mod endpoint;
mod link;
mod socket;
mod wake;

pub use socket::Socket;

/// What libzmq's sockets are made in, for code written for either
/// implementation: the native sockets need none (each is driven by the task
/// that owns it), so this one holds nothing.
#[derive(Clone, Debug, Default)]
pub struct Context;

impl Context {
    /// The (empty) context.
    pub fn new() -> Self {
        Self
    }
}
