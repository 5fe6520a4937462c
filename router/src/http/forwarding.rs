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

/// Appends this hop to `x-forwarded-for` and `forwarded`, and sets
/// `x-forwarded-proto`: the last element of each is the router's own word,
/// which is what a worker may trust.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, client: SocketAddr, proto: &str, host: &str) {
    let ip = client.ip();
    let xff = join(headers.get_all(&X_FORWARDED_FOR), &ip.to_string());
    let node = match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    let element = format!("for={node};proto={proto};host={}", quote_if_needed(host));
    let fwd = join(headers.get_all(&FORWARDED), &element);
    replace(headers, X_FORWARDED_FOR, xff);
    replace(headers, FORWARDED, fwd);
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if proto == "https" { "https" } else { "http" }),
    );
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

fn replace(headers: &mut HeaderMap, name: HeaderName, value: String) {
    match HeaderValue::try_from(value) {
        Ok(v) => {
            headers.insert(name, v);
        }
        Err(_) => {
            headers.remove(name);
        }
    }
}

fn quote_if_needed(host: &str) -> String {
    if host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        host.to_owned()
    } else {
        format!("\"{}\"", host.replace(['"', '\\'], ""))
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
        add_forwarded(
            &mut h,
            "127.0.0.1:5555".parse().unwrap(),
            "http",
            "example.com:9000",
        );
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
        add_forwarded(&mut v6, "[::1]:80".parse().unwrap(), "https", "h");
        assert_eq!(v6[&FORWARDED], "for=\"[::1]\";proto=https;host=h");
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
