//! What a client request must be before the router forwards it: one valid
//! authority, framing the router understands, a target of bounded size
//! ([spec](../../../spec/PROTOCOL.md#http-request)). hyper has parsed the
//! message by then; these are the RFC 9110/9112/9113 rules it leaves to the
//! application. Each answer is what nginx gives, or stricter.

use http::header::{CONTENT_LENGTH, HOST, HeaderMap, HeaderName, TRANSFER_ENCODING};
use http::{Method, Request, StatusCode, Version};

/// Why a request is not forwarded, and the status that says so. The
/// connection closes after it: the request's framing may be in doubt.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) why: &'static str,
}

impl Rejection {
    fn new(status: StatusCode, why: &'static str) -> Self {
        Self { status, why }
    }
}

/// Checks the request head; returns the authority the worker will see as
/// `:host`.
pub(crate) fn check_request<B>(req: &Request<B>, max_uri_size: usize) -> Result<String, Rejection> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > max_uri_size {
        return Err(Rejection::new(
            StatusCode::URI_TOO_LONG,
            "the request target is longer than this router accepts",
        ));
    }
    check_target(req)?;
    let host = authority(req)?;
    if req.version() < Version::HTTP_2 {
        check_framing(req.headers())?;
    }
    Ok(host)
}

/// RFC 9112 §3.2: origin form (or absolute form with an http(s) scheme), or
/// `*` for OPTIONS. The authority form is CONNECT's, which the router refuses
/// later; taken for another method, its authority would pose as the host.
fn check_target<B>(req: &Request<B>) -> Result<(), Rejection> {
    let uri = req.uri();
    let fine = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(_)) => scheme == "http" || scheme == "https",
        (None, Some(_)) => req.method() == Method::CONNECT,
        (None, None) => match uri.path() {
            "*" => req.method() == Method::OPTIONS,
            path => path.starts_with('/'),
        },
        (Some(_), None) => false,
    };
    if fine {
        Ok(())
    } else {
        Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "the request target is not in origin or absolute form",
        ))
    }
}

/// RFC 9112 §3.2 and §3.2.2, RFC 9113 §8.3.1: exactly one valid authority.
fn authority<B>(req: &Request<B>) -> Result<String, Rejection> {
    let bad = |why| Err(Rejection::new(StatusCode::BAD_REQUEST, why));
    let mut hosts = req.headers().get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return bad("the request has more than one Host field");
    }
    let host = match host {
        Some(value) => match std::str::from_utf8(value.as_bytes()) {
            Ok(text) if is_authority(text) => Some(text),
            _ => return bad("the Host field is not a valid host[:port]"),
        },
        None => None,
    };
    // An absolute-form target (HTTP/1.1) or :authority (HTTP/2).
    if let Some(target) = req.uri().authority() {
        let target = target.as_str();
        if !is_authority(target) {
            return bad("the request target's authority is not a valid host[:port]");
        }
        if req.version() == Version::HTTP_2 {
            // RFC 9113 §8.3.1: a host field naming another entity is malformed.
            if host.is_some_and(|h| !h.eq_ignore_ascii_case(target)) {
                return bad("the host field differs from :authority");
            }
        } else if req.version() == Version::HTTP_11 && host.is_none() {
            return bad("an HTTP/1.1 request needs a Host field");
        }
        // RFC 9112 §3.2.2: the absolute-form target wins over Host.
        return Ok(target.to_owned());
    }
    match host {
        Some(h) => Ok(h.to_owned()),
        None => bad("the request names no host"),
    }
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2 and §3.2.3), not empty. No
/// userinfo: RFC 9110 §4.2.4 makes `user@host` in an http(s) authority an
/// error.
fn is_authority(text: &str) -> bool {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let Some((literal, after)) = rest.split_once(']') else {
            return false;
        };
        if !is_ip_literal(literal) {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("[]", port),
                None => return false,
            },
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, port),
            None => (text, ""),
        }
    };
    !host.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.len() <= 5
        && (host == "[]" || host.bytes().all(is_reg_name_byte))
}

/// `unreserved / pct-encoded / sub-delims` (the `%` of pct-encoded included;
/// its digits are unreserved bytes).
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)
}

/// IPv6 (or `v1.…` IPvFuture) inside brackets.
fn is_ip_literal(text: &str) -> bool {
    text.parse::<std::net::Ipv6Addr>().is_ok()
        || (text.starts_with(['v', 'V'])
            && text.len() > 3
            && text[1..].bytes().all(|b| is_reg_name_byte(b) || b == b':'))
}

/// RFC 9112 §6: the router understands only `chunked`, as the one and final
/// transfer coding (501 for any other, as nginx answers), and takes no
/// request that frames its body two ways or declares its length twice
/// (nginx: 400; RFC 9112 §6.3 allows a recipient to reject both).
fn check_framing(headers: &HeaderMap) -> Result<(), Rejection> {
    if headers.contains_key(TRANSFER_ENCODING) {
        let mut codings = list_tokens(headers, &TRANSFER_ENCODING);
        let only_chunked = codings
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
            && codings.next().is_none();
        if !only_chunked {
            return Err(Rejection::new(
                StatusCode::NOT_IMPLEMENTED,
                "the router supports no transfer coding but chunked",
            ));
        }
        if headers.contains_key(CONTENT_LENGTH) {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "the request has both Transfer-Encoding and Content-Length",
            ));
        }
    }
    if headers.get_all(CONTENT_LENGTH).iter().nth(1).is_some() {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "the request has more than one Content-Length field",
        ));
    }
    Ok(())
}

/// The elements of a list-based field over all its lines; an element that
/// is not text counts as one that is not understood.
fn list_tokens<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(version: Version, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().version(version).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap()
    }

    fn status(r: &Request<()>) -> Result<String, u16> {
        check_request(r, 8192).map_err(|e| e.status.as_u16())
    }

    /// spec: #http-request-checks — RFC 9112 §3.2: one Host, and a valid one.
    #[test]
    fn host_rules() {
        let v11 = Version::HTTP_11;
        for ok in [
            "a",
            "a:80",
            "a.b-c_d~",
            "[::1]",
            "[::1]:8080",
            "1.2.3.4:1",
            "xn--e1a%41",
        ] {
            assert_eq!(
                status(&req(v11, "/", &[("host", ok)])),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
        for bad in [
            "a b", "t/x?y", "u@a", "a:b", "", ":80", "[::1", "[zz]", "a:123456", "a\"b",
        ] {
            assert_eq!(
                status(&req(v11, "/", &[("host", bad)])),
                Err(400),
                "{bad:?}"
            );
        }
        assert_eq!(
            status(&req(v11, "/", &[("host", "a"), ("host", "a")])),
            Err(400)
        );
        assert_eq!(status(&req(v11, "/", &[])), Err(400));
        assert_eq!(status(&req(Version::HTTP_10, "/", &[])), Err(400));
        assert_eq!(
            status(&req(v11, "http://abs/x", &[("host", "other")])),
            Ok("abs".to_owned()),
            "the absolute form wins"
        );
        assert_eq!(
            status(&req(v11, "http://abs/x", &[])),
            Err(400),
            "Host is still required"
        );
        assert_eq!(
            status(&req(v11, "http://u@abs/x", &[("host", "abs")])),
            Err(400)
        );
        let h2 = Version::HTTP_2;
        assert_eq!(
            status(&req(h2, "https://a/", &[("host", "A")])),
            Ok("a".to_owned())
        );
        assert_eq!(status(&req(h2, "https://a/", &[("host", "b")])), Err(400));
        assert_eq!(status(&req(h2, "/", &[("host", "b")])), Ok("b".to_owned()));
    }

    /// spec: #http-request-checks — RFC 9112 §6.1 and §6.3.
    #[test]
    fn framing_rules() {
        let v11 = Version::HTTP_11;
        let with = |extra: &[(&str, &str)]| {
            let mut h = vec![("host", "a")];
            h.extend_from_slice(extra);
            status(&req(v11, "/", &h))
        };
        assert!(with(&[("transfer-encoding", "chunked")]).is_ok());
        assert!(with(&[("transfer-encoding", "Chunked")]).is_ok());
        assert_eq!(with(&[("transfer-encoding", "gzip, chunked")]), Err(501));
        assert_eq!(
            with(&[("transfer-encoding", "identity, chunked")]),
            Err(501)
        );
        assert_eq!(
            with(&[("transfer-encoding", "x"), ("transfer-encoding", "chunked")]),
            Err(501)
        );
        assert_eq!(with(&[("transfer-encoding", "chunked, chunked")]), Err(501));
        assert_eq!(with(&[("transfer-encoding", "")]), Err(501));
        assert_eq!(
            with(&[("transfer-encoding", "chunked"), ("content-length", "3")]),
            Err(400)
        );
        assert_eq!(
            with(&[("content-length", "3"), ("content-length", "3")]),
            Err(400)
        );
        assert!(with(&[("content-length", "3")]).is_ok());
    }

    /// spec: #http-request-checks — 414 past --max-uri-size.
    #[test]
    fn long_targets() {
        let long = format!("/{}", "a".repeat(8192));
        assert_eq!(
            status(&req(Version::HTTP_11, &long, &[("host", "a")])),
            Err(414)
        );
        assert!(status(&req(Version::HTTP_11, &long[..8192], &[("host", "a")])).is_ok());
    }
}
