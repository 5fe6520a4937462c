//! Which requests the lean path serves: a request head parsed with httparse,
//! as hyper parses it, and taken only when nothing in it asks for more than
//! the lean path does. Anything else goes to hyper, which reads the same
//! bytes again and answers as it always has (400, 431, 505, a body, an
//! upgrade, `Expect`): the lean path adds no way to read a request that hyper
//! would read otherwise.

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Uri, Version};

/// More fields than this, and hyper takes the request (it allows 100).
const MAX_FIELDS: usize = 64;

/// The fields the router may add to a request (`forwarding`).
const ROUTER_FIELDS: usize = 6;

/// What the bytes read so far hold.
// Returned once per head and taken apart at once: boxing `Simple` would cost
// an allocation per request to save a move.
#[allow(clippy::large_enum_variant)]
pub(super) enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// A request for the lean path; its head has been taken from the buffer.
    Simple(Simple),
    /// A request for hyper (or bytes hyper refuses): the buffer is untouched.
    Other,
}

pub(super) struct Simple {
    pub(super) request: Request<()>,
    /// The client sent `Connection: close`.
    pub(super) close: bool,
}

/// Parses the head at the start of `buf`. A `Simple` head is split off the
/// buffer (what follows may be a pipelined request); otherwise `buf` is left
/// as it was, for hyper to read.
pub(super) fn parse(buf: &mut BytesMut) -> Parsed {
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut head = httparse::Request::new(&mut fields);
    let len = match head.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        // Malformed, or more fields than the lean path takes: hyper answers.
        Err(_) => return Parsed::Other,
    };
    let (Some(method), Some(target), Some(1)) = (head.method, head.path, head.version) else {
        return Parsed::Other;
    };
    // Origin form only (RFC 9112 §3.2.1): the absolute and asterisk forms,
    // and CONNECT's authority form, are hyper's.
    if !target.starts_with('/') || method == "CONNECT" {
        return Parsed::Other;
    }
    let mut close = false;
    let mut hosts = 0;
    for field in head.headers.iter() {
        match Field::of(field.name) {
            Field::Host => hosts += 1,
            Field::Connection => match connection_option(field.value) {
                Some(Connection::Close) => close = true,
                Some(Connection::KeepAlive) => {}
                None => return Parsed::Other,
            },
            // A body (either framing), `Expect`, an upgrade or a hop-by-hop
            // field the router must act on: hyper's.
            Field::Framing | Field::HopByHop => return Parsed::Other,
            Field::Other => {}
        }
    }
    // No Host, or several: hyper's, and the router's checks refuse it.
    if hosts != 1 {
        return Parsed::Other;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return Parsed::Other;
    };
    // Where the target and values point into `buf`, so that the head can be
    // frozen and sliced rather than copied.
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let target_at = offset(target.as_bytes())..offset(target.as_bytes()) + target.len();
    let mut spans: Vec<(HeaderName, std::ops::Range<usize>)> =
        Vec::with_capacity(head.headers.len());
    for field in head.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(field.name.as_bytes()) else {
            return Parsed::Other;
        };
        let at = offset(field.value);
        spans.push((name, at..at + field.value.len()));
    }
    let frozen: Bytes = buf.split_to(len).freeze();
    let Ok(uri) = Uri::from_maybe_shared(frozen.slice(target_at)) else {
        return Parsed::Other;
    };
    // Room for the fields the router adds (forwarding, request id), so that
    // adding them does not grow the map.
    let mut headers = HeaderMap::with_capacity(spans.len() + ROUTER_FIELDS);
    for (name, at) in spans {
        // httparse has checked the bytes; `HeaderValue` checks them again.
        match HeaderValue::from_maybe_shared(frozen.slice(at)) {
            Ok(value) => {
                headers.append(name, value);
            }
            Err(_) => return Parsed::Other,
        }
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Parsed::Simple(Simple { request, close })
}

enum Field {
    Host,
    Connection,
    Framing,
    HopByHop,
    Other,
}

impl Field {
    fn of(name: &str) -> Self {
        const FRAMING: [&str; 4] = ["content-length", "transfer-encoding", "expect", "upgrade"];
        const HOP_BY_HOP: [&str; 5] = [
            "te",
            "trailer",
            "keep-alive",
            "proxy-connection",
            "http2-settings",
        ];
        if name.eq_ignore_ascii_case("host") {
            Self::Host
        } else if name.eq_ignore_ascii_case("connection") {
            Self::Connection
        } else if FRAMING.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            Self::Framing
        } else if HOP_BY_HOP.iter().any(|f| name.eq_ignore_ascii_case(f)) {
            Self::HopByHop
        } else {
            Self::Other
        }
    }
}

enum Connection {
    Close,
    KeepAlive,
}

/// A `Connection` value of one option, `close` or `keep-alive`; any other
/// (a list, or a field it names for removal) is hyper's.
fn connection_option(value: &[u8]) -> Option<Connection> {
    let value = value.trim_ascii();
    if value.eq_ignore_ascii_case(b"close") {
        Some(Connection::Close)
    } else if value.eq_ignore_ascii_case(b"keep-alive") {
        Some(Connection::KeepAlive)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> (Parsed, BytesMut) {
        let mut buf = BytesMut::from(bytes);
        (parse(&mut buf), buf)
    }

    #[test]
    fn a_plain_get_is_taken_and_what_follows_stays() {
        let (p, rest) = parsed(
            b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing:  v \r\nAccept: */*\r\n\r\nGET /next",
        );
        let Parsed::Simple(simple) = p else {
            panic!("a plain GET is the lean path's")
        };
        let req = simple.request;
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri(), "/a?b=1");
        assert_eq!(req.headers()["host"], "example.com");
        assert_eq!(req.headers()["x-thing"], "v");
        assert!(!simple.close);
        assert_eq!(&rest[..], b"GET /next");
    }

    #[test]
    fn connection_close_is_noted() {
        let (p, _) = parsed(b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n");
        assert!(matches!(p, Parsed::Simple(Simple { close: true, .. })));
    }

    #[test]
    fn a_half_head_waits() {
        let (p, rest) = parsed(b"GET / HTTP/1.1\r\nHost: h\r\n");
        assert!(matches!(p, Parsed::Partial));
        assert_eq!(rest.len(), 25);
    }

    #[test]
    fn everything_else_is_left_to_hyper_untouched() {
        for head in [
            // Bodies, either framing, and what the router must act on.
            &b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\n\r\nhello",
            b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nKeep-Alive: 5\r\n\r\n",
            // Host missing or twice.
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            // Other versions and forms.
            b"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
            b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
            // Malformed: hyper answers 400.
            b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nFolded: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let (p, rest) = parsed(head);
            assert!(
                matches!(p, Parsed::Other),
                "{:?} is hyper's",
                String::from_utf8_lossy(head)
            );
            assert_eq!(&rest[..], head, "the bytes stay for hyper");
        }
    }

    #[test]
    fn more_fields_than_the_lean_path_takes_go_to_hyper() {
        let mut head = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..MAX_FIELDS {
            head.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert!(matches!(parsed(&head).0, Parsed::Other));
    }
}
