//! What the router adds to and removes from a client's request before it
//! becomes a SYN_STREAM ([spec](../../../spec/PROTOCOL.md#router-headers)).

use std::net::SocketAddr;

use http::header::{CONNECTION, HeaderMap, HeaderName, HeaderValue};

pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
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

/// One client connection as the router describes it in every request it
/// forwards. Formatted once per connection: address formatting was a tenth of
/// the router's instructions per request when it was done per request.
#[derive(Debug)]
pub(crate) struct ClientHop {
    pub(crate) addr: SocketAddr,
    pub(crate) scheme: &'static str,
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
        let node = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
        };
        Self {
            addr,
            scheme,
            ip: HeaderValue::try_from(ip.to_string()).expect("an IP address is a valid value"),
            forwarded_prefix: format!("for={node};proto={scheme};host="),
            proto: HeaderValue::from_static(if scheme == "https" { "https" } else { "http" }),
        }
    }
}

/// Appends this hop to `x-forwarded-for` and `forwarded`, and sets
/// `x-forwarded-proto`: the last element of each is the router's own word,
/// which is what a worker may trust.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, hop: &ClientHop, host: &str) {
    let xff = if headers.contains_key(&X_FORWARDED_FOR) {
        let ip = hop.ip.to_str().expect("formatted from an IP address");
        HeaderValue::try_from(join(headers.get_all(&X_FORWARDED_FOR), ip)).ok()
    } else {
        Some(hop.ip.clone())
    };
    let mut element = String::with_capacity(hop.forwarded_prefix.len() + host.len() + 2);
    element.push_str(&hop.forwarded_prefix);
    push_quoted_if_needed(&mut element, host);
    let fwd = if headers.contains_key(&FORWARDED) {
        join(headers.get_all(&FORWARDED), &element)
    } else {
        element
    };
    replace(headers, X_FORWARDED_FOR, xff);
    replace(headers, FORWARDED, HeaderValue::try_from(fwd).ok());
    headers.insert(X_FORWARDED_PROTO, hop.proto.clone());
}

/// Keeps a valid client request id (1 to 200 visible ASCII bytes) or sets a new one; returns it.
pub(crate) fn ensure_request_id(
    headers: &mut HeaderMap,
    fresh: impl FnOnce() -> String,
) -> HeaderValue {
    if let Some(v) = headers.get(&X_REQUEST_ID)
        && headers.get_all(&X_REQUEST_ID).iter().count() == 1
        && (1..=200).contains(&v.len())
        && v.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return v.clone();
    }
    let id = HeaderValue::from_str(&fresh()).expect("generated ids are visible ASCII");
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
        out.extend(host.chars().filter(|c| !matches!(c, '"' | '\\')));
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
        assert_eq!(
            h[&FORWARDED],
            "for=127.0.0.1;proto=http;host=\"example.com:9000\""
        );
        let mut v6 = HeaderMap::new();
        let hop = ClientHop::new("[::1]:80".parse().unwrap(), "https");
        add_forwarded(&mut v6, &hop, "h");
        assert_eq!(v6[&FORWARDED], "for=\"[::1]\";proto=https;host=h");
        assert_eq!(
            v6[&X_FORWARDED_FOR], "::1",
            "the client's own address when none came before"
        );
        let mut quoted = HeaderMap::new();
        quoted.insert(FORWARDED, HeaderValue::from_static("for=10.0.0.1"));
        add_forwarded(&mut quoted, &hop, "a\"b\\c:1");
        assert_eq!(
            quoted[&FORWARDED],
            "for=10.0.0.1, for=\"[::1]\";proto=https;host=\"abc:1\""
        );
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
