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
    match request_of(method, &frozen, target_at, spans) {
        Some(request) => Parsed::Simple(Simple { request, close }),
        None => {
            // A target or value that `http` refuses (httparse is laxer about
            // some bytes): the head goes back in front of what followed it,
            // for hyper to answer as it does, never skipped.
            let mut whole = BytesMut::with_capacity(frozen.len() + buf.len());
            whole.extend_from_slice(&frozen);
            whole.extend_from_slice(buf);
            *buf = whole;
            Parsed::Other
        }
    }
}

/// The request, its target and values slices of the head; `None` if `http`
/// refuses one of them.
fn request_of(
    method: Method,
    head: &Bytes,
    target: std::ops::Range<usize>,
    spans: Vec<(HeaderName, std::ops::Range<usize>)>,
) -> Option<Request<()>> {
    let uri = Uri::from_maybe_shared(head.slice(target)).ok()?;
    // Room for the fields the router adds (forwarding, request id), so that
    // adding them does not grow the map.
    let mut headers = HeaderMap::with_capacity(spans.len() + ROUTER_FIELDS);
    for (name, at) in spans {
        // httparse has checked the bytes; `HeaderValue` checks them again.
        headers.append(name, HeaderValue::from_maybe_shared(head.slice(at)).ok()?);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Some(request)
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
            // httparse takes `<` in a target, `http` does not: the head must
            // stay for hyper's 400, not be skipped with the next one served.
            b"GET /< HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n",
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

    /// Heads built from valid and broken pieces (a fixed seed, so a failure
    /// repeats): whatever the bytes, `parse` does not panic; a head it does
    /// not take leaves the buffer as it was, for hyper; and a head it takes
    /// is one the lean path may take, consumed exactly up to its end.
    #[test]
    fn any_head_is_taken_whole_and_only_if_simple_or_left_untouched() {
        const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "get", "CONNECT", "G{T"];
        const TARGETS: [&str; 7] = ["/", "/a?b=c", "*", "http://h/x", "/\x7f", "h:443", "/%zz"];
        const VERSIONS: [&str; 4] = ["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1"];
        const FIELDS: [&str; 16] = [
            "Host: h",
            "host: other.example:8080",
            "Host:",
            "Content-Length: 0",
            "Transfer-Encoding: chunked",
            "Connection: close",
            "Connection: keep-alive",
            "Connection: X-Secret",
            "Expect: 100-continue",
            "TE: trailers",
            "X-Forwarded-For: 1.2.3.4",
            "Accept: */*",
            " Folded: x",
            "Bad Name: v",
            "X-Nul: a\0b",
            "X-Text: caf\u{e9}",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..20_000 {
            let eol = if next(8) == 0 { "\n" } else { "\r\n" };
            let mut head = format!(
                "{} {} {}{eol}",
                METHODS[next(METHODS.len())],
                TARGETS[next(TARGETS.len())],
                VERSIONS[next(VERSIONS.len())]
            )
            .into_bytes();
            for _ in 0..next(6) {
                head.extend_from_slice(FIELDS[next(FIELDS.len())].as_bytes());
                head.extend_from_slice(eol.as_bytes());
            }
            if next(4) != 0 {
                head.extend_from_slice(eol.as_bytes());
            }
            // Sometimes a byte anywhere is changed to anything.
            if next(3) == 0 {
                let at = next(head.len());
                head[at] = next(256) as u8;
            }
            head.extend_from_slice(b"NEXT");
            let (p, rest) = parsed(&head);
            let shown = String::from_utf8_lossy(&head).into_owned();
            match p {
                Parsed::Partial | Parsed::Other => assert_eq!(&rest[..], &head[..], "{shown:?}"),
                Parsed::Simple(simple) => {
                    let req = simple.request;
                    // What is left is what followed the head's blank line.
                    let consumed = &head[..head.len() - rest.len()];
                    assert!(
                        head.ends_with(&rest[..]) && rest.ends_with(b"NEXT"),
                        "{shown:?}"
                    );
                    assert!(
                        consumed.ends_with(b"\n\r\n") || consumed.ends_with(b"\n\n"),
                        "{shown:?}"
                    );
                    assert!(
                        head.starts_with(req.method().as_str().as_bytes()),
                        "{shown:?}"
                    );
                    assert_ne!(req.method(), Method::CONNECT, "{shown:?}");
                    assert!(req.uri().path().starts_with('/'), "{shown:?}");
                    assert_eq!(req.version(), Version::HTTP_11, "{shown:?}");
                    let headers = req.headers();
                    assert_eq!(headers.get_all("host").iter().count(), 1, "{shown:?}");
                    for hyper_s in [
                        "content-length",
                        "transfer-encoding",
                        "expect",
                        "upgrade",
                        "te",
                    ] {
                        assert!(!headers.contains_key(hyper_s), "{hyper_s} in {shown:?}");
                    }
                    for value in headers.get_all("connection") {
                        assert!(
                            value.as_bytes().eq_ignore_ascii_case(b"close")
                                || value.as_bytes().eq_ignore_ascii_case(b"keep-alive"),
                            "{shown:?}"
                        );
                    }
                }
            }
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
