//! Prometheus metrics for the admin listener's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// 2xx, 4xx, 5xx...
    pub(crate) class: &'static str,
    /// The pool that served it: a route, "default", or "none".
    pub(crate) route: String,
}

/// Why something was refused or failed: one label, a fixed set of values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) reason: &'static str,
}

/// A router address a worker session's connection reached: one of the
/// router's own addresses (or bound endpoints), so a bounded set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouterAddressLabels {
    pub(crate) router_address: String,
}

#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    /// Time from the request's arrival to its response head.
    pub(crate) latency: Histogram,
    pub(crate) in_flight: Gauge,
    pub(crate) queue_depth: Gauge,
    pub(crate) queue_wait: Histogram,
    pub(crate) workers: Gauge,
    /// Worker sessions by the router address their connection reached.
    pub(crate) worker_sessions: Family<RouterAddressLabels, Gauge>,
    pub(crate) retries: Counter,
    /// Frames --record could not queue for its writer.
    pub(crate) record_dropped: Counter,
    /// Worker connections refused by the CURVE allowlist.
    pub(crate) auth_rejections: Counter,
    /// HELLOs answered GOAWAY(REFUSED), by which limit refused them.
    pub(crate) registrations_refused: Family<ReasonLabels, Counter>,
    /// Connections accepted on the workers endpoints.
    pub(crate) connections_accepted: Counter,
    /// Connections on the workers endpoints that ended, for any reason.
    pub(crate) connections_closed: Counter,
    /// ZMTP handshakes on the workers endpoints that failed, by reason.
    pub(crate) handshake_failures: Family<ReasonLabels, Counter>,
    /// Connections dropped for sending more than a message may hold.
    pub(crate) connections_over_limit: Counter,
    /// Keys in the CURVE allowlist now in force.
    pub(crate) allowed_keys: Gauge,
    pub(crate) websockets_open: Gauge,
    /// WebSocket messages and their payload bytes, by direction.
    pub(crate) websocket_messages: Family<DirectionLabels, Counter>,
    pub(crate) websocket_bytes: Family<DirectionLabels, Counter>,
}

/// Which way a WebSocket message went: `in` from the client, `out` to it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DirectionLabels {
    pub(crate) direction: &'static str,
}

impl Metrics {
    /// A worker session at `router_address` began (`1`) or ended (`-1`).
    pub(crate) fn worker_session(&self, router_address: &str, delta: i64) {
        self.worker_sessions
            .get_or_create(&RouterAddressLabels {
                router_address: router_address.to_owned(),
            })
            .inc_by(delta);
    }

    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("zroute");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Histogram::new(exponential_buckets(0.000_1, 2.0, 20));
        let in_flight = Gauge::default();
        let queue_depth = Gauge::default();
        let queue_wait = Histogram::new(exponential_buckets(0.000_1, 2.0, 20));
        let workers = Gauge::default();
        let worker_sessions = Family::<RouterAddressLabels, Gauge>::default();
        let retries = Counter::default();
        let record_dropped = Counter::default();
        let auth_rejections = Counter::default();
        let allowed_keys = Gauge::default();
        let registrations_refused = Family::<ReasonLabels, Counter>::default();
        let connections_accepted = Counter::default();
        let connections_closed = Counter::default();
        let handshake_failures = Family::<ReasonLabels, Counter>::default();
        let connections_over_limit = Counter::default();
        let websockets_open = Gauge::default();
        let websocket_messages = Family::<DirectionLabels, Counter>::default();
        let websocket_bytes = Family::<DirectionLabels, Counter>::default();
        registry.register(
            "websockets_open",
            "WebSockets open through the router",
            websockets_open.clone(),
        );
        registry.register(
            "websocket_messages",
            "WebSocket messages carried, by direction (in: from clients; out: to clients)",
            websocket_messages.clone(),
        );
        registry.register(
            "websocket_bytes",
            "WebSocket message payload bytes carried, by direction",
            websocket_bytes.clone(),
        );
        registry.register(
            "requests",
            "HTTP requests answered, by status class and route",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to the response head",
            latency.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests being handled",
            in_flight.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests waiting for a worker with spare capacity",
            queue_depth.clone(),
        );
        registry.register(
            "queue_wait_seconds",
            "Time requests waited for a worker",
            queue_wait.clone(),
        );
        registry.register("workers", "Worker sessions connected", workers.clone());
        registry.register(
            "worker_sessions",
            "Worker sessions connected, by the router address their connection reached",
            worker_sessions.clone(),
        );
        registry.register(
            "retries",
            "Requests sent again to another worker",
            retries.clone(),
        );
        registry.register(
            "record_dropped_frames",
            "Frames --record dropped because its writer fell behind",
            record_dropped.clone(),
        );
        registry.register(
            "worker_auth_rejections",
            "Worker connections refused because their CURVE key is not in the allowlist",
            auth_rejections.clone(),
        );
        registry.register(
            "worker_registrations_refused",
            "HELLOs refused, by the limit that refused them (--max-workers, \
             --max-workers-per-source, --hello-rate, --hello-rate-per-source)",
            registrations_refused.clone(),
        );
        registry.register(
            "worker_connections_accepted",
            "Connections accepted on the workers endpoints",
            connections_accepted.clone(),
        );
        registry.register(
            "worker_connections_closed",
            "Connections on the workers endpoints that ended: the peer left, or the \
             router dropped it (a part over --max-part-size, a ZMTP error, a heartbeat timeout)",
            connections_closed.clone(),
        );
        registry.register(
            "worker_handshake_failures",
            "ZMTP handshakes on the workers endpoints that failed, by reason \
             (mechanism-mismatch: CURVE on one side only; cryptographic; protocol; auth; no-detail)",
            handshake_failures.clone(),
        );
        registry.register(
            "worker_connections_over_limit",
            "Connections on the workers endpoints dropped as a message passed a bound on \
             its parts or octets, before it was buffered (native transport)",
            connections_over_limit.clone(),
        );
        registry.register(
            "worker_allowlist_keys",
            "Worker public keys in the CURVE allowlist",
            allowed_keys.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
            queue_depth,
            queue_wait,
            workers,
            retries,
            record_dropped,
            auth_rejections,
            registrations_refused,
            connections_accepted,
            connections_closed,
            handshake_failures,
            connections_over_limit,
            allowed_keys,
            websockets_open,
            worker_sessions,
            websocket_messages,
            websocket_bytes,
        }
    }

    pub(crate) fn record(&self, status: u16, route: &str, seconds: f64) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                class,
                route: route.to_owned(),
            })
            .inc();
        self.latency.observe(seconds);
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
