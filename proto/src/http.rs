//! The HTTP mapping's rules on header blocks ([spec](../../spec/PROTOCOL.md#http-mapping)):
//! which pseudo-headers a request and a response carry, which headers no block
//! may carry, and how `content-length` binds a body.

use crate::HeaderBlock;
use crate::codes::RstCode;

pub const METHOD: &str = ":method";
pub const PATH: &str = ":path";
pub const VERSION: &str = ":version";
pub const HOST: &str = ":host";
pub const SCHEME: &str = ":scheme";
pub const STATUS: &str = ":status";
/// A WebSocket stream's marker in SYN_STREAM ([spec](../../spec/PROTOCOL.md#websocket)),
/// named as RFC 8441 names it for HTTP/2.
pub const PROTOCOL: &str = ":protocol";
/// The one `:protocol` value version 1 defines.
pub const WEBSOCKET: &[u8] = b"websocket";
/// The status a worker accepts a WebSocket stream with.
pub const SWITCHING_PROTOCOLS: u16 = 101;

/// Every request carries all of these exactly once.
pub const REQUEST_PSEUDO_HEADERS: [&str; 5] = [METHOD, PATH, VERSION, HOST, SCHEME];

/// The values `:version` may take in a request.
pub const REQUEST_VERSIONS: [&str; 3] = ["HTTP/1.0", "HTTP/1.1", "HTTP/2"];

/// Connection-level headers: meaningless across the router, so no block may carry them.
/// `te` is allowed only as `te: trailers`.
pub const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
];

/// What a valid request head says about its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    pub is_head: bool,
    pub content_length: Option<u64>,
    /// `:protocol: websocket`: the stream carries WebSocket message records.
    pub websocket: bool,
}

/// What a valid response head says about its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseInfo {
    pub status: u16,
    pub content_length: Option<u64>,
}

/// Checks a SYN_STREAM's block; an error is a stream error with that code.
pub fn check_request(block: &HeaderBlock) -> Result<RequestInfo, RstCode> {
    for name in REQUEST_PSEUDO_HEADERS {
        match block.get(name) {
            Some(v) if !v.is_empty() && !v.contains(&0) => {}
            _ => return Err(RstCode::PROTOCOL_ERROR),
        }
    }
    let path = &block.get(PATH).expect("checked above")[..];
    if !(path.starts_with(b"/") || path == b"*") {
        return Err(RstCode::PROTOCOL_ERROR);
    }
    let scheme = &block.get(SCHEME).expect("checked above")[..];
    if scheme != b"http" && scheme != b"https" {
        return Err(RstCode::PROTOCOL_ERROR);
    }
    let version = &block.get(VERSION).expect("checked above")[..];
    if !REQUEST_VERSIONS.iter().any(|v| v.as_bytes() == version) {
        return Err(RstCode::PROTOCOL_ERROR);
    }
    check_regular_headers(block)?;
    let method = &block.get(METHOD).expect("checked above")[..];
    let websocket = match block.get(PROTOCOL) {
        None => false,
        // A WebSocket opens with a GET and has no request body: its DATA are records.
        Some(p) if &p[..] == WEBSOCKET && method == b"GET" => {
            if block.get("content-length").is_some() {
                return Err(RstCode::PROTOCOL_ERROR);
            }
            true
        }
        Some(_) => return Err(RstCode::PROTOCOL_ERROR),
    };
    Ok(RequestInfo {
        is_head: method == b"HEAD",
        content_length: content_length(block)?,
        websocket,
    })
}

/// Checks a SYN_REPLY's block; an error is a stream error with that code.
/// `websocket`: the stream is a WebSocket stream, which 101 accepts.
pub fn check_response(block: &HeaderBlock, websocket: bool) -> Result<ResponseInfo, RstCode> {
    let status = block
        .get(STATUS)
        .and_then(|v| parse_status(v, websocket))
        .ok_or(RstCode::PROTOCOL_ERROR)?;
    check_regular_headers(block)?;
    if status == SWITCHING_PROTOCOLS && block.get("content-length").is_some() {
        return Err(RstCode::PROTOCOL_ERROR);
    }
    Ok(ResponseInfo {
        status,
        content_length: content_length(block)?,
    })
}

/// Checks a HEADERS block (trailers): no pseudo-headers, no hop-by-hop headers.
pub fn check_trailers(block: &HeaderBlock) -> Result<(), RstCode> {
    if block.iter().any(|(name, _)| name.starts_with(b":")) {
        return Err(RstCode::PROTOCOL_ERROR);
    }
    check_regular_headers(block)
}

/// Whether a response with this status to this request has no body, whatever
/// its `content-length` says: the router discards any DATA of such a response.
pub fn is_bodiless(request_is_head: bool, status: u16) -> bool {
    request_is_head || status == 204 || status == 304
}

/// Whether the `content-length` rule does not bind this response's DATA: its
/// `content-length` describes a body that is not sent. Only HEAD responses and
/// 304 ([spec](../../spec/PROTOCOL.md#http-body)); a 204 is bodiless, but its
/// `content-length`, if any, must still match its (empty) body.
pub fn is_length_exempt(request_is_head: bool, status: u16) -> bool {
    request_is_head || status == 304
}

/// `:status` is a 3-digit final code, optionally followed by a space and a
/// reason phrase; a NUL (a second value) makes it invalid. 101 is valid only
/// on a WebSocket stream.
fn parse_status(value: &[u8], websocket: bool) -> Option<u16> {
    if value.contains(&0) {
        return None;
    }
    let code = value.get(..3)?;
    if !code.iter().all(u8::is_ascii_digit) || !(value.len() == 3 || value[3] == b' ') {
        return None;
    }
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    ((200..=599).contains(&code) || (websocket && code == SWITCHING_PROTOCOLS)).then_some(code)
}

fn check_regular_headers(block: &HeaderBlock) -> Result<(), RstCode> {
    for (name, value) in block.iter() {
        let forbidden = HOP_BY_HOP.iter().any(|h| h.as_bytes() == &name[..]);
        if forbidden && !(&name[..] == b"te" && &value[..] == b"trailers") {
            return Err(RstCode::PROTOCOL_ERROR);
        }
    }
    Ok(())
}

fn content_length(block: &HeaderBlock) -> Result<Option<u64>, RstCode> {
    let Some(value) = block.get("content-length") else {
        return Ok(None);
    };
    let digits = std::str::from_utf8(value).map_err(|_| RstCode::PROTOCOL_ERROR)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RstCode::PROTOCOL_ERROR);
    }
    digits
        .parse()
        .map(Some)
        .map_err(|_| RstCode::PROTOCOL_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(pairs: &[(&'static str, &'static str)]) -> HeaderBlock {
        HeaderBlock::from_pairs(pairs.iter().copied()).unwrap()
    }

    fn get() -> Vec<(&'static str, &'static str)> {
        vec![
            (":method", "GET"),
            (":path", "/"),
            (":version", "HTTP/1.1"),
            (":host", "example.com"),
            (":scheme", "http"),
        ]
    }

    #[test]
    fn request_needs_every_pseudo_header() {
        assert!(check_request(&block(&get())).is_ok());
        for skip in 0..5 {
            let mut pairs = get();
            pairs.remove(skip);
            assert_eq!(
                check_request(&block(&pairs)),
                Err(RstCode::PROTOCOL_ERROR),
                "without {skip}"
            );
        }
    }

    /// spec: #hop-by-hop, #http-fields
    #[test]
    fn request_rejects_hop_by_hop_but_allows_te_trailers() {
        let mut pairs = get();
        pairs.push(("te", "trailers"));
        assert!(check_request(&block(&pairs)).is_ok());
        for h in HOP_BY_HOP {
            let mut pairs = get();
            pairs.push((h, "x"));
            assert_eq!(
                check_request(&block(&pairs)),
                Err(RstCode::PROTOCOL_ERROR),
                "{h}"
            );
        }
    }

    #[test]
    fn request_rejects_bad_path_scheme_version() {
        for (name, bad) in [
            (":path", "relative"),
            (":scheme", "ftp"),
            (":version", "HTTP/9"),
        ] {
            let pairs: Vec<_> = get()
                .into_iter()
                .map(|(n, v)| if n == name { (n, bad) } else { (n, v) })
                .collect();
            assert_eq!(
                check_request(&block(&pairs)),
                Err(RstCode::PROTOCOL_ERROR),
                "{name}"
            );
        }
    }

    /// spec: #http-response — a `:status` that contains NUL (two values) is invalid, even after a
    /// valid code and reason.
    #[test]
    fn status_with_nul_is_invalid() {
        assert_eq!(parse_status(b"200 OK\0x", false), None);
        let b = block(&[(":status", "404 Not\0Found")]);
        assert_eq!(check_response(&b, false), Err(RstCode::PROTOCOL_ERROR));
    }

    /// spec: #http-body — the content-length rule is waived for HEAD responses and 304 only.
    #[test]
    fn only_head_and_304_are_length_exempt() {
        assert!(is_length_exempt(true, 200));
        assert!(is_length_exempt(false, 304));
        assert!(!is_length_exempt(false, 204));
        assert!(is_bodiless(false, 204));
    }

    #[test]
    fn status_forms() {
        assert_eq!(parse_status(b"200", false), Some(200));
        assert_eq!(parse_status(b"404 Not Found", false), Some(404));
        assert_eq!(parse_status(b"101", true), Some(101));
        assert_eq!(parse_status(b"100", true), None);
        for bad in [
            &b"20"[..],
            b"2000",
            b"abc",
            b"100",
            b"101",
            b"600",
            b"200OK",
        ] {
            assert_eq!(
                parse_status(bad, false),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn content_length_must_be_digits() {
        let ok = block(&[(":status", "200"), ("content-length", "12")]);
        assert_eq!(check_response(&ok, false).unwrap().content_length, Some(12));
        for bad in ["", "-1", "1 2", "0x10", "99999999999999999999999"] {
            let b = block(&[(":status", "200"), ("content-length", bad)]);
            assert_eq!(
                check_response(&b, false),
                Err(RstCode::PROTOCOL_ERROR),
                "{bad:?}"
            );
        }
    }

    /// spec: #http-trailers
    #[test]
    fn trailers_carry_no_pseudo_headers() {
        assert!(check_trailers(&block(&[("x-trailer", "done")])).is_ok());
        assert_eq!(
            check_trailers(&block(&[(":status", "200")])),
            Err(RstCode::PROTOCOL_ERROR)
        );
    }
}
