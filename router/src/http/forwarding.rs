//! What the router adds to and removes from a client's request before it
//! becomes a SYN_STREAM ([spec](../../../spec/PROTOCOL.md#router-headers)).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use http::header::{CONNECTION, HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
pub(crate) const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Removes the headers a `Connection` header names: they were meant for this
/// hop only (RFC 9110 §7.6.1). The fixed hop-by-hop list is dropped later, by
/// the block mapping.
pub(crate) fn strip_connection_listed(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| {
            HeaderName::from_bytes(token.trim().to_ascii_lowercase().as_bytes()).ok()
        })
        .collect();
    for name in listed {
        headers.remove(name);
    }
}

/// Fields a request trailer section may not carry (spec #http-trailers):
/// those RFC 9110 §6.5.1 says cannot follow the content (framing, routing,
/// request modifiers, authentication, content metadata), hop-by-hop ones,
/// and every field the router sets or vouches for. A worker that merged
/// trailers into the header section would otherwise take them as the head's.
const NOT_IN_TRAILERS: &[&str] = &[
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-range",
    "content-type",
    "cookie",
    "expect",
    "forwarded",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "max-forwards",
    "pragma",
    "proxy-authorization",
    "proxy-connection",
    "range",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-real-ip",
    "x-request-id",
];

/// Removes from request trailers what may not be there; returns how many
/// fields went.
pub(crate) fn filter_request_trailers(trailers: &mut HeaderMap) -> usize {
    let banned: Vec<HeaderName> = trailers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            NOT_IN_TRAILERS.binary_search(&name).is_ok() || name.starts_with("x-forwarded-")
        })
        .cloned()
        .collect();
    let mut dropped = 0;
    for name in banned {
        dropped += trailers.get_all(&name).iter().count();
        trailers.remove(&name);
    }
    dropped
}

/// One client connection as the router describes it in every request it
/// forwards. Formatted once per connection: address formatting was a tenth of
/// the router's instructions per request when it was done per request.
#[derive(Debug)]
pub(crate) struct ClientHop {
    pub(crate) addr: SocketAddr,
    pub(crate) scheme: &'static str,
    /// Set when the router answered without reading a whole request body:
    /// the connection then closes with a lingering close (`linger.rs`).
    pub(crate) unread: Arc<AtomicBool>,
    /// The client's IP, the router's element of `x-forwarded-for`.
    ip: HeaderValue,
    /// `for=…;proto=…;host=`: the router's `forwarded` element, but for the host.
    forwarded_prefix: String,
    /// `x-forwarded-proto`.
    proto: HeaderValue,
}

impl ClientHop {
    pub(crate) fn new(addr: SocketAddr, scheme: &'static str) -> Self {
        let ip = addr.ip();
        // RFC 7239 §6: a node with a port is quoted; the port is how a
        // worker learns the client's (WSGI's REMOTE_PORT, ASGI's client).
        let port = addr.port();
        let node = match ip {
            std::net::IpAddr::V4(v4) => format!("\"{v4}:{port}\""),
            std::net::IpAddr::V6(v6) => format!("\"[{v6}]:{port}\""),
        };
        Self {
            addr,
            scheme,
            unread: Arc::new(AtomicBool::new(false)),
            ip: HeaderValue::try_from(ip.to_string()).expect("an IP address is a valid value"),
            forwarded_prefix: format!("for={node};proto={scheme};host="),
            proto: HeaderValue::from_static(if scheme == "https" { "https" } else { "http" }),
        }
    }
}

/// Appends this hop to `x-forwarded-for` and `forwarded`, and sets
/// `x-forwarded-proto` and `x-forwarded-host`: the last element of each is
/// the router's own word, which is what a worker may trust.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, hop: &ClientHop, host: &str) {
    // One lookup per name: `get_all` is empty when the client sent none.
    let existing = headers.get_all(&X_FORWARDED_FOR);
    let xff = if existing.iter().next().is_some() {
        let ip = hop.ip.to_str().expect("formatted from an IP address");
        HeaderValue::try_from(join(existing, ip)).ok()
    } else {
        Some(hop.ip.clone())
    };
    let mut element = String::with_capacity(hop.forwarded_prefix.len() + host.len() + 2);
    element.push_str(&hop.forwarded_prefix);
    push_quoted_if_needed(&mut element, host);
    let existing = headers.get_all(&FORWARDED);
    let fwd = if existing.iter().next().is_some() {
        join(existing, &element)
    } else {
        element
    };
    replace(headers, X_FORWARDED_FOR, xff);
    replace(headers, FORWARDED, HeaderValue::try_from(fwd).ok());
    headers.insert(X_FORWARDED_PROTO, hop.proto.clone());
    // Frameworks told to trust it (Django's USE_X_FORWARDED_HOST, werkzeug's
    // ProxyFix) build absolute URLs from it: only the validated host may stand.
    replace(headers, X_FORWARDED_HOST, HeaderValue::try_from(host).ok());
}

/// Keeps a valid client request id (1 to 200 visible ASCII bytes) or sets a new one; returns it.
pub(crate) fn ensure_request_id(
    headers: &mut HeaderMap,
    fresh: impl FnOnce() -> String,
) -> HeaderValue {
    let mut sent = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(v), None) = (sent.next(), sent.next())
        && (1..=200).contains(&v.len())
        && v.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return v.clone();
    }
    let id = HeaderValue::try_from(fresh()).expect("generated ids are visible ASCII");
    headers.insert(X_REQUEST_ID, id.clone());
    id
}

fn join<'a>(existing: impl IntoIterator<Item = &'a HeaderValue>, last: &str) -> String {
    let mut out = String::new();
    for v in existing {
        if let Ok(s) = v.to_str() {
            let s = s.trim();
            if !s.is_empty() {
                out.push_str(s);
                out.push_str(", ");
            }
        }
    }
    out.push_str(last);
    out
}

/// Sets `name`, or removes it when the new value would not be a valid one.
fn replace(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(v) => {
            headers.insert(name, v);
        }
        None => {
            headers.remove(name);
        }
    }
}

fn push_quoted_if_needed(out: &mut String, host: &str) {
    if host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        out.push_str(host);
    } else {
        out.push('"');
        for part in host.split(['"', '\\']) {
            out.push_str(part);
        }
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// spec: #hop-by-hop, #security-smuggling
    #[test]
    fn connection_listed_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_connection_listed(&mut h);
        assert!(h.get("x-secret").is_none());
        assert!(h.get("x-kept").is_some());
    }

    /// spec: #router-headers, #security-trust — the last element is the router's.
    #[test]
    fn forwarded_appends_this_hop() {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_static("10.0.0.1"));
        h.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
        let hop = ClientHop::new("127.0.0.1:5555".parse().unwrap(), "http");
        add_forwarded(&mut h, &hop, "example.com:9000");
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.1, 127.0.0.1");
        assert_eq!(
            h[&X_FORWARDED_PROTO], "http",
            "the client's claim is replaced"
        );
        assert_eq!(h[&X_FORWARDED_HOST], "example.com:9000");
        assert_eq!(
            h[&FORWARDED],
            "for=\"127.0.0.1:5555\";proto=http;host=\"example.com:9000\""
        );
        let mut v6 = HeaderMap::new();
        let hop = ClientHop::new("[::1]:80".parse().unwrap(), "https");
        add_forwarded(&mut v6, &hop, "h");
        assert_eq!(v6[&FORWARDED], "for=\"[::1]:80\";proto=https;host=h");
        assert_eq!(
            v6[&X_FORWARDED_FOR], "::1",
            "the client's own address when none came before"
        );
        let mut quoted = HeaderMap::new();
        quoted.insert(FORWARDED, HeaderValue::from_static("for=10.0.0.1"));
        add_forwarded(&mut quoted, &hop, "a\"b\\c:1");
        assert_eq!(
            quoted[&FORWARDED],
            "for=10.0.0.1, for=\"[::1]:80\";proto=https;host=\"abc:1\""
        );
    }

    /// spec: #http-trailers, #http-trailers-filter
    #[test]
    fn trailers_lose_what_may_not_follow_the_content() {
        assert!(
            NOT_IN_TRAILERS.is_sorted(),
            "binary_search needs the list sorted"
        );
        let mut t = HeaderMap::new();
        for name in [
            "x-forwarded-for",
            "x-forwarded-host",
            "forwarded",
            "x-request-id",
            "host",
            "content-length",
            "authorization",
        ] {
            t.append(name, HeaderValue::from_static("forged"));
        }
        t.append("x-request-id", HeaderValue::from_static("again"));
        t.insert("x-checksum", HeaderValue::from_static("1"));
        t.insert("grpc-status", HeaderValue::from_static("0"));
        assert_eq!(filter_request_trailers(&mut t), 8);
        let mut kept: Vec<&str> = t.keys().map(HeaderName::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["grpc-status", "x-checksum"]);
    }

    /// spec: #router-headers — a client cannot make the router delete its own fields.
    #[test]
    fn connection_cannot_name_the_routers_fields_away() {
        let mut h = HeaderMap::new();
        h.insert(
            CONNECTION,
            HeaderValue::from_static("X-Request-Id, Forwarded, X-Forwarded-For"),
        );
        h.insert(X_REQUEST_ID, HeaderValue::from_static("client-id"));
        strip_connection_listed(&mut h);
        let id = ensure_request_id(&mut h, || "f".repeat(32));
        add_forwarded(
            &mut h,
            &ClientHop::new("127.0.0.1:1".parse().unwrap(), "http"),
            "a",
        );
        assert_eq!(h[&X_REQUEST_ID], id);
        assert_eq!(
            id,
            "f".repeat(32).as_str(),
            "the listed client id went with its hop"
        );
        assert_eq!(h[&X_FORWARDED_FOR], "127.0.0.1");
        assert!(h.contains_key(&FORWARDED));
    }

    #[test]
    fn request_ids_pass_through_or_are_made() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(ensure_request_id(&mut h, || unreachable!()), "abc-123");
        let mut bad = HeaderMap::new();
        bad.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        assert_eq!(
            ensure_request_id(&mut bad, || "f".repeat(32)),
            "f".repeat(32).as_str()
        );
        assert_eq!(bad[&X_REQUEST_ID], "f".repeat(32).as_str());
    }
}
