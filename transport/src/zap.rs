//! A ZAP handler (ZeroMQ RFC 27): libzmq asks it about every client that
//! completes a CURVE handshake with a socket of the same context.
//!
//! libzmq sends each request from an internal REQ socket to
//! `inproc://zeromq.zap.01`; a ROUTER socket bound there answers them, so the
//! handler runs on the same tokio reactor as every other socket (no thread of
//! its own) and answers requests in any order.

use std::io;

use bytes::Bytes;

use crate::curve::CurveKey;
use crate::{Context, RouterOptions, Socket};

/// Where libzmq sends ZAP requests.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
const ZAP_VERSION: &[u8] = b"1.0";
// A request is a routing id, an empty delimiter, then version, request id,
// domain, address, identity, mechanism and at least one credential.
const MIN_PARTS: usize = 9;

/// One authentication request, for a connection that is still handshaking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// `ZMQ_ZAP_DOMAIN` of the server socket.
    pub domain: String,
    /// The client's address (an IP address for tcp://, empty for ipc://).
    pub address: String,
    /// The mechanism: `CURVE`, `PLAIN` or `NULL`.
    pub mechanism: String,
    /// The client's public key, for `CURVE`.
    pub client_key: Option<CurveKey>,
}

/// Serves ZAP requests on [`ZAP_ENDPOINT`] until it is dropped.
///
/// Bind it before binding any socket that uses CURVE, and keep it alive as
/// long as those sockets: libzmq **admits every CURVE client** when no ZAP
/// handler is bound in the context.
#[derive(Debug)]
pub struct ZapHandler {
    socket: Socket,
}

impl ZapHandler {
    /// Binds the handler in `ctx`. Fails if another handler is bound there.
    pub fn bind(ctx: &Context) -> io::Result<Self> {
        let options = RouterOptions {
            heartbeat: None,
            max_msg_size: Some(4096),
            ..RouterOptions::default()
        };
        let socket = Socket::router(ctx, &options)?;
        socket.bind(ZAP_ENDPOINT)?;
        Ok(Self { socket })
    }

    /// Answers requests forever: `admit` decides each well-formed one; a
    /// malformed request is answered with status 500 (a refusal) when it
    /// carries enough to be answered at all. Returns only on an I/O error,
    /// which libzmq reports only when the context is being torn down.
    pub async fn serve(mut self, mut admit: impl FnMut(&ZapRequest) -> bool) -> io::Result<()> {
        loop {
            let msg = self.socket.recv().await?;
            let parts = msg.parts();
            if parts.len() < 4 || !parts[1].is_empty() {
                // Not even a routing id, delimiter, version and request id:
                // nothing to answer with. libzmq never sends this.
                continue;
            }
            let (status, text, user) = match parse(parts) {
                Some(request) if admit(&request) => (
                    "200",
                    "OK",
                    request.client_key.map(|k| k.to_z85()).unwrap_or_default(),
                ),
                Some(_) => ("400", "not allowed", String::new()),
                None => ("500", "malformed ZAP request", String::new()),
            };
            let reply: [&[u8]; 8] = [
                &parts[0],
                b"",
                ZAP_VERSION,
                &parts[3],
                status.as_bytes(),
                text.as_bytes(),
                user.as_bytes(),
                b"",
            ];
            // Never waits: libzmq's REQ side has room for its one answer, and
            // a send fails only when the handshaking connection is gone.
            let _ = self.socket.try_send(&reply);
        }
    }
}

fn parse(parts: &[Bytes]) -> Option<ZapRequest> {
    if parts.len() < MIN_PARTS || parts[2] != ZAP_VERSION {
        return None;
    }
    let text = |b: &Bytes| String::from_utf8(b.to_vec()).ok();
    let mechanism = text(&parts[7])?;
    let client_key = if mechanism == "CURVE" {
        Some(CurveKey::from_slice(&parts[8])?)
    } else {
        None
    };
    Some(ZapRequest {
        domain: text(&parts[4])?,
        address: text(&parts[5])?,
        mechanism,
        client_key,
    })
}
