//! Registration: the worker's HELLO and the router's WELCOME, or the GOAWAY
//! that refuses it ([spec](../../../spec/PROTOCOL.md#handshake)).

use std::time::{Duration, Instant};

use super::heartbeat::Heartbeat;
use super::{
    CloseReason, CommandError, DEFAULT_WINDOW, Event, ProtocolError, Role, RouterConfig, Session,
    State, WorkerConfig, fits_in_frame,
};
use crate::frame::{Frame, GoAway, Hello, MAX_WINDOW, Welcome};
use crate::routing::Route;
use crate::{FrameType, GoAwayStatus, HeaderBlock, PROTOCOL_VERSION, StreamId};

/// HELLO attribute names with a meaning of their own; labels may not use them.
const RESERVED_ATTRIBUTES: [&str; 3] = ["id", "route", "feature"];

/// Why a router turned a HELLO down, and the GOAWAY that says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: GoAwayStatus,
    pub reason: String,
}

impl Rejection {
    /// The frame to send back to the worker.
    pub fn frame(&self) -> Frame {
        GoAway::new(StreamId::ZERO, self.status).into()
    }
}

impl Session {
    /// Starts a worker's session: HELLO is queued at once. The handshake
    /// timeout counts from when `poll_transmit` hands HELLO out, so the caller
    /// may create the session before its socket is writable.
    pub fn worker(config: &WorkerConfig, now: Instant) -> Result<Self, CommandError> {
        let mut attributes = HeaderBlock::new();
        let mut add = |name: &str, value: &str| attributes.append(name.to_owned(), value);
        // Spec #routing-syntax: a worker sends only routes that match the grammar.
        let valid = add("id", &config.id).is_ok()
            && config
                .routes
                .iter()
                .all(|r| Route::parse(r).is_ok() && add("route", r).is_ok())
            && config.features.iter().all(|f| add("feature", f).is_ok())
            && config.labels.iter().all(|(k, v)| {
                !k.starts_with(':')
                    && !RESERVED_ATTRIBUTES.contains(&k.as_str())
                    && add(k, v).is_ok()
            });
        if !valid || !is_valid_worker_id(config.id.as_bytes()) || config.max_concurrent_streams == 0
        {
            return Err(CommandError::InvalidMessage);
        }
        if !fits_in_frame(HELLO_FIXED_LEN, &attributes) {
            return Err(CommandError::InvalidMessage);
        }
        let hello = Hello::new(
            PROTOCOL_VERSION,
            config.max_concurrent_streams,
            config.initial_window_size.clamp(1, MAX_WINDOW),
            attributes,
        );
        let mut session = Self::new(
            Role::Worker,
            State::Handshake {
                deadline: now + config.handshake_timeout,
                timeout: config.handshake_timeout,
            },
            now,
        );
        session.capacity = hello.max_concurrent_streams();
        session.local_initial_window = hello.initial_window_size();
        session.session_window_target = config.session_window.clamp(DEFAULT_WINDOW, MAX_WINDOW);
        session.max_header_pairs = config.max_header_pairs;
        session.queue(hello.clone());
        session.hello = Some(hello);
        Ok(session)
    }

    /// Starts a router's session from a worker's HELLO: WELCOME is queued at
    /// once. A refused HELLO gives the GOAWAY to answer with instead.
    pub fn accept(
        config: &RouterConfig,
        hello: Hello,
        session_id: &str,
        now: Instant,
    ) -> Result<Self, Rejection> {
        let routes = check_hello(&hello, config.max_header_pairs)?;
        let mut attributes = HeaderBlock::new();
        attributes
            .insert("router", config.router_id.clone())
            .and_then(|()| attributes.insert("session", session_id.to_owned()))
            .ok()
            .filter(|()| fits_in_frame(WELCOME_FIXED_LEN, &attributes))
            .ok_or_else(|| Rejection {
                status: GoAwayStatus::INTERNAL_ERROR,
                reason: "router or session id is not a valid attribute value".to_owned(),
            })?;
        // Spec #heartbeat: both sides use the I announced in WELCOME, whole milliseconds.
        let interval_ms = u32::try_from(config.heartbeat_interval.as_millis())
            .unwrap_or(u32::MAX)
            .max(1);
        let interval = Duration::from_millis(u64::from(interval_ms));
        let welcome = Welcome::new(
            PROTOCOL_VERSION.min(hello.version()),
            interval_ms,
            config.heartbeat_liveness.max(1),
            config.initial_window_size.clamp(1, MAX_WINDOW),
            attributes,
        );
        let mut session = Self::new(Role::Router, State::Established, now);
        session.capacity = hello.max_concurrent_streams();
        session.peer_initial_window = hello.initial_window_size();
        session.local_initial_window = welcome.initial_window_size();
        session.heartbeat = Some(Heartbeat {
            interval,
            liveness: welcome.heartbeat_liveness(),
        });
        session.session_window_target = config.session_window.clamp(DEFAULT_WINDOW, MAX_WINDOW);
        session.max_header_pairs = config.max_header_pairs;
        session.routes = routes;
        session.queue(welcome.clone());
        session.welcome = Some(welcome);
        session.hello = Some(hello);
        session.grow_session_window();
        Ok(session)
    }

    pub(super) fn handle_handshake_frame(&mut self, now: Instant, frame: Frame) {
        match frame {
            Frame::Welcome(w) => {
                let ok = w.version() >= 1
                    && w.version() <= PROTOCOL_VERSION
                    && w.heartbeat_interval_ms() >= 1
                    && w.heartbeat_liveness() >= 1
                    && w.initial_window_size() >= 1
                    && w.attributes().len() <= self.max_header_pairs;
                if !ok {
                    return self.fail_handshake(true);
                }
                self.state = State::Established;
                self.heartbeat = Some(Heartbeat {
                    interval: Duration::from_millis(u64::from(w.heartbeat_interval_ms())),
                    liveness: w.heartbeat_liveness(),
                });
                self.peer_initial_window = w.initial_window_size();
                self.last_recv = now;
                self.welcome = Some(w);
                self.grow_session_window();
                self.events.push_back(Event::Established);
            }
            Frame::GoAway(g) => self.close(CloseReason::PeerGoAway(g.status().effective())),
            _ => self.fail_handshake(false),
        }
    }

    /// Spec #handshake: the worker gives this socket up; an invalid WELCOME is
    /// worth a GOAWAY so the router forgets the session at once.
    pub(super) fn fail_handshake(&mut self, bad_welcome: bool) {
        if bad_welcome {
            self.report(ProtocolError::session_error(
                GoAwayStatus::PROTOCOL_ERROR,
                Some(FrameType::WELCOME),
                "malformed or invalid WELCOME (spec #error-table row 21)",
            ));
            self.queue(GoAway::new(StreamId::ZERO, GoAwayStatus::PROTOCOL_ERROR));
        }
        self.close(CloseReason::HandshakeFailed);
    }
}

/// Checks a HELLO as the spec's handshake section requires and parses its routes.
fn check_hello(hello: &Hello, max_pairs: usize) -> Result<Vec<Route>, Rejection> {
    let reject = |status, reason: &str| Rejection {
        status,
        reason: reason.to_owned(),
    };
    if hello.version() < 1 {
        return Err(reject(
            GoAwayStatus::UNSUPPORTED_VERSION,
            "HELLO version 0 does not exist",
        ));
    }
    if hello.max_concurrent_streams() == 0 {
        return Err(reject(GoAwayStatus::PROTOCOL_ERROR, "HELLO capacity is 0"));
    }
    if hello.initial_window_size() == 0 {
        return Err(reject(
            GoAwayStatus::PROTOCOL_ERROR,
            "HELLO initial window is 0",
        ));
    }
    let attrs = hello.attributes();
    // Spec #header-block-limits: more pairs than the limit is a malformed block.
    if attrs.len() > max_pairs {
        return Err(reject(
            GoAwayStatus::PROTOCOL_ERROR,
            "HELLO has more attributes than the router's pair limit",
        ));
    }
    if !attrs.get("id").is_some_and(|id| is_valid_worker_id(id)) {
        return Err(reject(
            GoAwayStatus::PROTOCOL_ERROR,
            "HELLO id is missing or not 1..128 visible ASCII bytes",
        ));
    }
    // Spec #frame-hello: an empty `route` value means no routes.
    attrs
        .values("route")
        .filter(|raw| !raw.is_empty())
        .map(|raw| {
            std::str::from_utf8(raw)
                .ok()
                .and_then(|raw| Route::parse(raw).ok())
                .ok_or_else(|| reject(GoAwayStatus::PROTOCOL_ERROR, "HELLO route is not valid"))
        })
        .collect()
}

/// The fixed fields before the name/value block, per frame type.
const HELLO_FIXED_LEN: usize = 12;
const WELCOME_FIXED_LEN: usize = 16;

fn is_valid_worker_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len()) && id.iter().all(|b| (0x21..=0x7e).contains(b))
}
