//! Named router endpoints (spec #transport-discovery): `tcp://name:port` and
//! `dns+srv://_service._tcp.name` stand for every router the name resolves
//! to. The name is looked up again every resolve interval; each address in
//! the answer gets a socket of its own, run by [`endpoint::run`] exactly as
//! a configured address would be, and an address that leaves the answer has
//! its session drained. A failed lookup changes nothing.
//!
//! Lookups go through hickory-resolver: it gives each answer's TTL, reads
//! the system's configuration (or takes one nameserver, which is how tests
//! serve their own answers) and caches answers no longer than their TTL.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use crate::HttpService;
use crate::driver::{Handlers, resume_panic, stopped};
use crate::endpoint::{self, jitter};
use crate::settings::Settings;
use crate::transport::Context;

/// A worker endpoint, as spec #transport-discovery sorts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// One router endpoint: `ipc://`, or `tcp://` with an IP address.
    Static(String),
    /// A name standing for every router it resolves to.
    Named(Named),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Named {
    /// As configured: the log lines name it.
    text: String,
    query: Query,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Query {
    /// `tcp://name:port`: the name's addresses, each with `port`.
    Host { name: String, port: u16 },
    /// `dns+srv://name`: the SRV records' targets and ports.
    Srv { name: String },
}

const SRV_SCHEME: &str = "dns+srv://";

impl Endpoint {
    /// Sorts `endpoint`; `Err` says why a named one is malformed.
    pub(crate) fn parse(endpoint: &str) -> Result<Self, String> {
        if let Some(name) = endpoint.strip_prefix(SRV_SCHEME) {
            let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
            let well_formed = labels.len() >= 3
                && labels[0].len() > 1
                && labels[0].starts_with('_')
                && labels[1] == "_tcp"
                && labels[2..].iter().all(|l| is_host_label(l));
            if !well_formed {
                return Err(format!(
                    "{endpoint:?}: a dns+srv endpoint is dns+srv://_service._tcp.name, \
                     with no port (the SRV records give it) and no path"
                ));
            }
            return Ok(Self::Named(Named {
                text: endpoint.to_owned(),
                query: Query::Srv {
                    name: name.to_owned(),
                },
            }));
        }
        let Some(authority) = endpoint.strip_prefix("tcp://") else {
            return Ok(Self::Static(endpoint.to_owned()));
        };
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err(format!("{endpoint:?}: a tcp endpoint needs a port"));
        };
        // `[v6]`, an IPv4 address or libzmq's `*`/interface forms: ZeroMQ's own.
        if host.starts_with('[') || host.parse::<IpAddr>().is_ok() || !is_host_name(host) {
            return Ok(Self::Static(endpoint.to_owned()));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{endpoint:?}: a tcp endpoint needs a port from 1 to 65535"))?;
        Ok(Self::Named(Named {
            text: endpoint.to_owned(),
            query: Query::Host {
                name: host.to_owned(),
                port,
            },
        }))
    }
}

fn is_host_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A DNS name rather than something libzmq makes sense of (`*`, an
/// interface name such as `eth0;` source forms): letters, digits and dots,
/// with at least one letter.
fn is_host_name(host: &str) -> bool {
    host.bytes().any(|b| b.is_ascii_alphabetic())
        && host.trim_end_matches('.').split('.').all(is_host_label)
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(endpoint) => f.write_str(endpoint),
            Self::Named(named) => named.fmt(f),
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How named endpoints are looked up; shared by all of them.
#[derive(Clone, Debug)]
pub(crate) struct Discovery {
    pub(crate) interval: Duration,
    pub(crate) resolver: TokioResolver,
}

impl Discovery {
    /// A resolver for `nameserver`, or for the system's configuration.
    pub(crate) fn new(interval: Duration, nameserver: Option<SocketAddr>) -> Result<Self, String> {
        let provider = TokioRuntimeProvider::default;
        let mut builder = match nameserver {
            Some(server) => {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let config = ResolverConfig::from_parts(
                    None,
                    Vec::new(),
                    vec![NameServerConfig::new(server.ip(), true, vec![udp])],
                );
                TokioResolver::builder_with_config(config, provider())
            }
            None => TokioResolver::builder(provider()).unwrap_or_else(|e| {
                // A minimal container may have no /etc/resolv.conf: names in
                // /etc/hosts (localhost) still resolve, and the lookups of
                // the others fail, as they would with a dead nameserver.
                warn!(
                    error = %e,
                    "cannot read the system's resolver configuration: names resolve from \
                     /etc/hosts only (set ZROUTE_NAMESERVER to name a nameserver)"
                );
                let config = ResolverConfig::from_parts(None, Vec::new(), Vec::new());
                TokioResolver::builder_with_config(config, provider())
            }),
        };
        let options = builder.options_mut();
        // Spec: A records, AAAA only for a name that has no A record.
        options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
        // A lookup ends well within the interval, so the next one is on time.
        options.timeout = (interval / 2).clamp(Duration::from_millis(200), Duration::from_secs(5));
        options.attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| format!("cannot build a DNS resolver: {e}"))?;
        Ok(Self { interval, resolver })
    }

    /// The router endpoints `named` stands for now, and until when this
    /// answer may be kept (its shortest TTL).
    async fn lookup(&self, named: &Named) -> Result<(BTreeSet<String>, Instant), String> {
        let (found, valid_until) = match &named.query {
            Query::Host { name, port } => {
                let ips = self
                    .resolver
                    .lookup_ip(name.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                let until = ips.valid_until();
                let found = ips.iter().map(|ip| router_endpoint(ip, *port)).collect();
                (found, until)
            }
            Query::Srv { name } => self.lookup_srv(name).await?,
        };
        if found.is_empty() {
            return Err("the answer has no address".to_owned());
        }
        Ok((found, valid_until))
    }

    async fn lookup_srv(&self, name: &str) -> Result<(BTreeSet<String>, Instant), String> {
        let srv = self
            .resolver
            .srv_lookup(name)
            .await
            .map_err(|e| e.to_string())?;
        let mut until = srv.valid_until();
        let mut found = BTreeSet::new();
        for record in srv.answers() {
            let RData::SRV(service) = &record.data else {
                continue;
            };
            // The target's addresses, from the additional section when the
            // server sent them (CoreDNS does), else by a lookup of their own.
            let given: Vec<IpAddr> = addresses_of(srv.additionals(), &service.target);
            if !given.is_empty() {
                found.extend(given.iter().map(|ip| router_endpoint(*ip, service.port)));
                continue;
            }
            // Spec: a target with no address gives none; any other error
            // fails the whole lookup, so a hiccup never drains a router.
            match self.resolver.lookup_ip(service.target.clone()).await {
                Ok(ips) => {
                    until = until.min(ips.valid_until());
                    found.extend(ips.iter().map(|ip| router_endpoint(ip, service.port)));
                }
                Err(e) if e.is_no_records_found() && !e.is_nx_domain() => {}
                Err(e) => return Err(format!("{}: {e}", service.target)),
            }
        }
        Ok((found, until))
    }
}

/// A first, AAAA only if there is no A, as for a name looked up directly.
fn addresses_of(records: &[hickory_resolver::proto::rr::Record], target: &Name) -> Vec<IpAddr> {
    let of_target = |want_v4: bool| -> Vec<IpAddr> {
        records
            .iter()
            .filter(|r| r.name == *target)
            .filter_map(|r| match &r.data {
                RData::A(a) if want_v4 => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) if !want_v4 => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect()
    };
    let v4 = of_target(true);
    if v4.is_empty() { of_target(false) } else { v4 }
}

fn router_endpoint(ip: IpAddr, port: u16) -> String {
    format!("tcp://{}", SocketAddr::new(ip, port))
}

/// How long after a lookup started the next one starts: the interval, or
/// when the answer expires if that is sooner, up to 10% early so that
/// workers started together spread their queries, but never within a second
/// (or the interval, if shorter) of the last.
fn next_wait(interval: Duration, valid_until: Option<Instant>, started: Instant) -> Duration {
    let floor = interval.min(Duration::from_secs(1));
    let base = match valid_until {
        Some(until) => until.saturating_duration_since(started).min(interval),
        None => interval,
    };
    base.mul_f64(1.0 - 0.1 * jitter()).max(floor)
}

/// Follows `named` until `stop` turns true, then drains every session.
pub(crate) async fn run<S>(
    handlers: Handlers<S>,
    settings: Arc<Settings>,
    ctx: Context,
    named: Named,
    mut stop: watch::Receiver<bool>,
) where
    S: HttpService,
{
    let discovery = settings
        .discovery
        .clone()
        .expect("the builder makes a resolver when an endpoint is named");
    let span = info_span!("discovery", worker = %settings.config.id, name = %named);
    async move {
        // One entry per router endpoint of the resolved set: the sender
        // that drains its session.
        let mut resolved: HashMap<String, watch::Sender<bool>> = HashMap::new();
        // Every session task, including those draining after their address
        // left the answer.
        let mut sessions = JoinSet::new();
        let mut failing = false;
        loop {
            let started = Instant::now();
            let outcome = tokio::select! {
                outcome = discovery.lookup(&named) => outcome,
                () = stopped(&mut stop) => break,
            };
            let valid_until = match outcome {
                Ok((found, valid_until)) => {
                    if failing {
                        info!(routers = found.len(), "lookup succeeded again");
                        failing = false;
                    }
                    resolved.retain(|endpoint, drain| {
                        let kept = found.contains(endpoint);
                        if !kept {
                            info!(%endpoint, "router left the answer: draining its session");
                            drain.send_replace(true);
                        }
                        kept
                    });
                    for endpoint in found {
                        if resolved.contains_key(&endpoint) {
                            continue;
                        }
                        info!(%endpoint, "router joined the answer: registering");
                        let (drain, drained) = watch::channel(false);
                        sessions.spawn(endpoint::run(
                            handlers.clone(),
                            settings.clone(),
                            ctx.clone(),
                            endpoint.clone(),
                            drained,
                        ));
                        resolved.insert(endpoint, drain);
                    }
                    Some(valid_until)
                }
                Err(error) => {
                    // Spec: keep every session; one line per run of failures.
                    if !failing {
                        warn!(
                            %error,
                            sessions = resolved.len(),
                            "lookup failed: keeping every session, trying again every {:?}",
                            discovery.interval
                        );
                        failing = true;
                    }
                    None
                }
            };
            while let Some(over) = sessions.try_join_next() {
                resume_panic(over);
            }
            let wait = next_wait(discovery.interval, valid_until, started);
            tokio::select! {
                () = tokio::time::sleep_until((started + wait).into()) => {}
                () = stopped(&mut stop) => break,
            }
        }
        for drain in resolved.values() {
            drain.send_replace(true);
        }
        while let Some(over) = sessions.join_next().await {
            resume_panic(over);
        }
    }
    .instrument(span)
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(endpoint: &str) -> Query {
        match Endpoint::parse(endpoint) {
            Ok(Endpoint::Named(n)) => n.query,
            other => panic!("{endpoint}: {other:?}"),
        }
    }

    fn named_query(endpoint: &str) -> Named {
        match Endpoint::parse(endpoint) {
            Ok(Endpoint::Named(n)) => n,
            other => panic!("{endpoint}: {other:?}"),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    /// The system's configuration reads /etc/hosts: `tcp://localhost:PORT`,
    /// which worked before names were looked up, still does.
    #[test]
    fn localhost_resolves_from_the_hosts_file() {
        runtime().block_on(async {
            let discovery = Discovery::new(Duration::from_secs(5), None).expect("a resolver");
            let (found, _) = discovery
                .lookup(&named_query("tcp://localhost:8000"))
                .await
                .expect("localhost resolves");
            assert!(found.contains("tcp://127.0.0.1:8000"), "{found:?}");
        });
    }

    /// Answers are cached no longer than their TTL, and a lookup within it
    /// asks no one (spec: a cache that honours the TTL); SRV targets with no
    /// address give none, and one that does not exist fails the lookup.
    #[test]
    fn lookups_honour_the_ttl_and_the_srv_rules() {
        use std::net::Ipv4Addr;
        use zroute_conformance::dns::DnsServer;
        let dns = DnsServer::start().expect("a nameserver");
        dns.set_ttl(2);
        dns.set_addresses("routers.test", &[Ipv4Addr::new(127, 0, 0, 2)]);
        runtime().block_on(async {
            let discovery =
                Discovery::new(Duration::from_secs(5), Some(dns.addr())).expect("a resolver");
            let name = named_query("tcp://routers.test:9000");
            let before = Instant::now();
            let (found, until) = discovery.lookup(&name).await.expect("an answer");
            let after = Instant::now();
            assert_eq!(
                found.into_iter().collect::<Vec<_>>(),
                ["tcp://127.0.0.2:9000"]
            );
            // The answer's 2 s, counted from when it came.
            let two = Duration::from_secs(2);
            assert!(until >= before + two && until <= after + two, "{until:?}");
            let asked = dns.queries();
            discovery.lookup(&name).await.expect("a cached answer");
            assert_eq!(
                dns.queries(),
                asked,
                "an answer within its TTL is not asked again"
            );

            dns.set_services(
                "_z._tcp.routers.test",
                &[(9001, "routers.test"), (9002, "empty.test")],
            );
            dns.set_services("empty.test", &[]);
            let srv = named_query("dns+srv://_z._tcp.routers.test");
            let (found, _) = discovery.lookup(&srv).await.expect("an SRV answer");
            assert_eq!(
                found.into_iter().collect::<Vec<_>>(),
                ["tcp://127.0.0.2:9001"]
            );
            dns.set_services("_z._tcp.other.test", &[(9001, "missing.test")]);
            let missing = named_query("dns+srv://_z._tcp.other.test");
            let error = discovery
                .lookup(&missing)
                .await
                .expect_err("NXDOMAIN target");
            assert!(error.contains("missing.test"), "{error}");
        });
    }

    #[test]
    fn endpoints_sort_into_static_and_named() {
        for endpoint in [
            "tcp://127.0.0.1:8000",
            "tcp://[::1]:8000",
            "tcp://*:8000",
            "ipc:///tmp/zroute.sock",
        ] {
            assert_eq!(
                Endpoint::parse(endpoint),
                Ok(Endpoint::Static(endpoint.to_owned()))
            );
        }
        assert_eq!(
            named("tcp://zroute-router:8000"),
            Query::Host {
                name: "zroute-router".into(),
                port: 8000
            }
        );
        assert_eq!(
            named("dns+srv://_zroute._tcp.routers.example."),
            Query::Srv {
                name: "_zroute._tcp.routers.example.".into()
            }
        );
    }

    #[test]
    fn malformed_named_endpoints_are_refused_with_their_text() {
        for endpoint in [
            "tcp://zroute-router",
            "tcp://zroute-router:0",
            "tcp://zroute-router:http",
            "dns+srv://_zroute._tcp.routers.example:8000",
            "dns+srv://_zroute._tcp.routers.example/path",
            "dns+srv://routers.example",
            "dns+srv://_zroute._udp.routers.example",
        ] {
            let error = Endpoint::parse(endpoint).expect_err(endpoint);
            assert!(error.contains(endpoint), "{error}");
        }
    }

    #[test]
    fn the_wait_is_the_interval_or_the_ttl_never_under_a_second() {
        let now = Instant::now();
        let five = Duration::from_secs(5);
        let within = |d: Duration, base: Duration| d <= base && d >= base.mul_f64(0.9);
        assert!(within(next_wait(five, None, now), five));
        assert!(within(
            next_wait(five, Some(now + Duration::from_secs(60)), now),
            five
        ));
        let two = Duration::from_secs(2);
        assert!(within(next_wait(five, Some(now + two), now), two));
        // The floor wins over the jitter.
        assert_eq!(next_wait(five, Some(now), now), Duration::from_secs(1));
        let short = Duration::from_millis(300);
        assert_eq!(next_wait(short, Some(now), now), short);
        assert_eq!(next_wait(short, None, now), short);
    }
}
