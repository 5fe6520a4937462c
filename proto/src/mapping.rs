//! Conversions between `http` types and name/value blocks, following the
//! spec's HTTP mapping ([spec](../../spec/PROTOCOL.md#http-mapping)).
//! The router turns client requests into SYN_STREAM blocks and SYN_REPLY
//! blocks into client responses; a worker does the reverse.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};

use crate::HeaderBlock;
use crate::http::{HOP_BY_HOP, HOST, METHOD, PATH, SCHEME, STATUS, VERSION};

/// Why an HTTP message could not be mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError(&'static str);

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for MapError {}

/// An application's own reason phrase for its response, carried as a
/// response extension ([spec](../../spec/PROTOCOL.md#reason-phrase)): a
/// worker sends it after the code in `:status`, and the router gives it to
/// HTTP/1.x clients. Without it, each side uses the code alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReasonPhrase(Bytes);

impl ReasonPhrase {
    /// A phrase a status line may carry: RFC 9112's
    /// `1*( HTAB / SP / VCHAR / obs-text )`, so never CR, LF or NUL.
    pub fn new(phrase: impl Into<Bytes>) -> Result<Self, MapError> {
        let phrase = phrase.into();
        let allowed = |b: &u8| matches!(b, b'\t' | b' '..=b'~' | 0x80..=0xff);
        if phrase.is_empty() || !phrase.iter().all(allowed) {
            return Err(MapError("invalid reason phrase"));
        }
        Ok(Self(phrase))
    }

    /// The phrase, without the code and its space.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<ReasonPhrase> for Bytes {
    fn from(reason: ReasonPhrase) -> Self {
        reason.0
    }
}

/// The spec's `:version` text for an HTTP version.
pub fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 | Version::HTTP_09 => "HTTP/1.0",
        Version::HTTP_2 | Version::HTTP_3 => "HTTP/2",
        _ => "HTTP/1.1",
    }
}

fn parse_version(text: &[u8]) -> Version {
    match text {
        b"HTTP/1.0" => Version::HTTP_10,
        b"HTTP/2" => Version::HTTP_2,
        _ => Version::HTTP_11,
    }
}

/// Whether a regular header may travel in a block: no hop-by-hop field, no
/// `host` (it is `:host`), and `te` only as `trailers`.
pub fn is_forwardable(name: &HeaderName, value: &HeaderValue) -> bool {
    let name = name.as_str();
    if name == "host" {
        return false;
    }
    if name == "te" {
        return value.as_bytes().eq_ignore_ascii_case(b"trailers");
    }
    !HOP_BY_HOP.contains(&name)
}

/// Appends every forwardable header of `headers`, joining repeated names with NUL.
pub fn append_headers(block: &mut HeaderBlock, headers: &HeaderMap) -> Result<(), MapError> {
    let mut gather = Gather::new(headers.len());
    gather.headers(headers);
    gather.finish(block)
}

/// A head's names and values copied into one buffer, which then becomes the
/// block's storage: one allocation for the whole head, and entries that are
/// slices of one buffer, so that a clone of the block (the router keeps one
/// for a retry) allocates nothing per entry.
///
/// Names and values come from `http` types, valid by construction, or are
/// the spec's pseudo-header constants; see [`HeaderBlock::push_valid`].
struct Gather {
    buf: Vec<u8>,
    pairs: Vec<(PairName, Range<usize>)>,
    /// Whether each name of the map came in one run of values, so that no
    /// name can be pushed twice (pseudo-header names cannot clash with a
    /// map's names, which never start with `:`).
    runs_unique: bool,
}

enum PairName {
    Pseudo(&'static str),
    At(Range<usize>),
}

impl Gather {
    fn new(pairs: usize) -> Self {
        Self {
            buf: Vec::with_capacity(256),
            pairs: Vec::with_capacity(pairs),
            runs_unique: true,
        }
    }

    fn pseudo(&mut self, name: &'static str, value: &[u8]) {
        let value = self.copy(value);
        self.pairs.push((PairName::Pseudo(name), value));
    }

    /// Every forwardable header, in one pass over the map with no lookup per
    /// name: `iter` yields a name's values one after another (and `finish`
    /// copes if a map ever does not).
    fn headers(&mut self, headers: &HeaderMap) {
        let (mut last, mut last_seen, mut runs) = (None, None, 0);
        for (name, value) in headers {
            if last_seen != Some(name) {
                last_seen = Some(name);
                runs += 1;
            }
            if !is_forwardable(name, value) || value.is_empty() {
                continue;
            }
            if last == Some(name) {
                self.buf.push(0);
                self.buf.extend_from_slice(value.as_bytes());
                if let Some((_, joined)) = self.pairs.last_mut() {
                    joined.end = self.buf.len();
                }
                continue;
            }
            last = Some(name);
            let name = self.copy(name.as_str().as_bytes());
            let value = self.copy(value.as_bytes());
            self.pairs.push((PairName::At(name), value));
        }
        // As many runs as names: every name came in one run.
        self.runs_unique &= runs == headers.keys_len();
    }

    fn copy(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        start..self.buf.len()
    }

    fn finish(self, block: &mut HeaderBlock) -> Result<(), MapError> {
        // Into an empty block, unique runs cannot repeat a name: no lookups.
        let look_up = !(block.is_empty() && self.runs_unique);
        let buf = Bytes::from(self.buf);
        for (name, value) in self.pairs {
            let name = match name {
                PairName::Pseudo(name) => Bytes::from_static(name.as_bytes()),
                PairName::At(at) => buf.slice(at),
            };
            if !look_up || block.get(&name).is_none() {
                block.push_valid(name, buf.slice(value));
                continue;
            }
            // A name met again apart from its first values: joined to them.
            for value in buf[value].split(|b| *b == 0) {
                block
                    .append(name.clone(), value)
                    .map_err(|_| MapError("a header cannot be carried in a name/value block"))?;
            }
        }
        Ok(())
    }
}

/// Header names met before, so that mapping block after block does not parse
/// (and, for names `http` does not know, allocate) the same names again: a
/// router sends `x-forwarded-for`, `x-request-id` and the like on every
/// request. A fixed number of slots, each keeping the last name that fell in it.
#[derive(Debug, Default)]
pub struct HeaderNames {
    slots: Vec<Option<HeaderName>>,
}

impl HeaderNames {
    const SLOTS: usize = 64;

    fn get(&mut self, name: &[u8]) -> Result<HeaderName, MapError> {
        if self.slots.is_empty() {
            self.slots.resize(Self::SLOTS, None);
        }
        // Names differ most in length and their last two bytes.
        let tail = name.len().checked_sub(2).map_or(0, |at| {
            usize::from(name[at]) * 31 + usize::from(name[at + 1])
        });
        let slot = &mut self.slots[(name.len() * 7 + tail) % Self::SLOTS];
        if let Some(known) = slot
            && known.as_str().as_bytes() == name
        {
            return Ok(known.clone());
        }
        let parsed = HeaderName::from_bytes(name).map_err(|_| MapError("invalid header name"))?;
        *slot = Some(parsed.clone());
        Ok(parsed)
    }
}

/// Copies a block's regular (non-pseudo) headers into `headers`, one entry per NUL-separated value.
pub fn extend_header_map(headers: &mut HeaderMap, block: &HeaderBlock) -> Result<(), MapError> {
    extend(headers, block, |name| {
        HeaderName::from_bytes(name).map_err(|_| MapError("invalid header name"))
    })
}

/// [`extend_header_map`], with the names met before taken from `names`.
pub fn extend_header_map_with(
    headers: &mut HeaderMap,
    block: &HeaderBlock,
    names: &mut HeaderNames,
) -> Result<(), MapError> {
    extend(headers, block, |name| names.get(name))
}

fn extend(
    headers: &mut HeaderMap,
    block: &HeaderBlock,
    mut header_name: impl FnMut(&[u8]) -> Result<HeaderName, MapError>,
) -> Result<(), MapError> {
    for (name, value) in block.iter() {
        if name.starts_with(b":") || &name[..] == b"host" {
            continue;
        }
        let name = header_name(name)?;
        for part in value.split(|b| *b == 0) {
            // A slice of the block's own buffer: no copy, no allocation.
            let value = HeaderValue::from_maybe_shared(value.slice_ref(part))
                .map_err(|_| MapError("invalid header value"))?;
            headers.append(name.clone(), value);
        }
    }
    Ok(())
}

/// The request head's block: the five pseudo-headers, then its forwardable headers.
/// `host` is the authority the client addressed (URI authority or Host header).
pub fn request_block<B>(
    req: &Request<B>,
    scheme: &str,
    host: &str,
) -> Result<HeaderBlock, MapError> {
    let path = match req.uri().path_and_query() {
        Some(pq) if req.method() == Method::OPTIONS && pq.as_str() == "*" => "*",
        Some(pq) => pq.as_str(),
        None => "/",
    };
    let mut block = HeaderBlock::with_capacity(5 + req.headers().len());
    // The method and path come from `http` types, the version is a
    // constant; the host and scheme are the caller's, so they are checked:
    // one value each, so no NUL either.
    let carriable = |v: &str| !v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
    if !carriable(host) || !carriable(scheme) {
        return Err(MapError(
            "request line cannot be carried in a name/value block",
        ));
    }
    let mut gather = Gather::new(5 + req.headers().len());
    gather.pseudo(METHOD, req.method().as_str().as_bytes());
    gather.pseudo(PATH, path.as_bytes());
    gather.pseudo(VERSION, version_text(req.version()).as_bytes());
    gather.pseudo(HOST, host.as_bytes());
    gather.pseudo(SCHEME, scheme.as_bytes());
    gather.headers(req.headers());
    gather.finish(&mut block)?;
    Ok(block)
}

/// Rebuilds a request head from a SYN_STREAM block (which the session has
/// already checked). The URI is in origin form; `:host` becomes the Host header.
pub fn request_from_block(block: &HeaderBlock) -> Result<Request<()>, MapError> {
    request_from_block_with(block, &mut HeaderNames::default())
}

/// [`request_from_block`], with the names met before taken from `names`.
pub fn request_from_block_with(
    block: &HeaderBlock,
    names: &mut HeaderNames,
) -> Result<Request<()>, MapError> {
    let get = |name| block.get(name).ok_or(MapError("missing pseudo-header"));
    let method = Method::from_bytes(get(METHOD)?).map_err(|_| MapError("invalid :method"))?;
    // Slices of the block's buffer, as the header values are: no copies.
    let uri = Uri::from_maybe_shared(get(PATH)?.clone()).map_err(|_| MapError("invalid :path"))?;
    let host = HeaderValue::from_maybe_shared(get(HOST)?.clone())
        .map_err(|_| MapError("invalid :host"))?;
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = parse_version(get(VERSION)?);
    req.headers_mut().insert(http::header::HOST, host);
    extend_header_map_with(req.headers_mut(), block, names)?;
    Ok(req)
}

/// The `:scheme` of a SYN_STREAM block.
pub fn scheme_of(block: &HeaderBlock) -> Option<&str> {
    block.get(SCHEME).and_then(|s| std::str::from_utf8(s).ok())
}

/// The response head's block: `:status`, `:version`, then forwardable headers.
pub fn response_block<B>(res: &Response<B>) -> Result<HeaderBlock, MapError> {
    let mut block = HeaderBlock::with_capacity(2 + res.headers().len());
    let status = res.status();
    // 101 accepts a WebSocket stream; the session refuses it on any other.
    if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(MapError("1xx responses cannot be carried"));
    }
    let mut gather = Gather::new(2 + res.headers().len());
    let with_reason;
    let status_value = match res.extensions().get::<ReasonPhrase>() {
        Some(reason) => {
            with_reason = [status.as_str().as_bytes(), b" ", reason.as_bytes()].concat();
            &with_reason[..]
        }
        None => status.as_str().as_bytes(),
    };
    gather.pseudo(STATUS, status_value);
    gather.pseudo(VERSION, b"HTTP/1.1");
    gather.headers(res.headers());
    gather.finish(&mut block)?;
    Ok(block)
}

/// Rebuilds a response head from a SYN_REPLY block (already checked by the session).
pub fn response_from_block(block: &HeaderBlock) -> Result<Response<()>, MapError> {
    let status = block.get(STATUS).ok_or(MapError("missing :status"))?;
    let code = StatusCode::from_bytes(status.get(..3).unwrap_or(status))
        .map_err(|_| MapError("invalid :status"))?;
    let mut res = Response::new(());
    *res.status_mut() = code;
    // One the router may not put on a status line is replaced by its own.
    if status.len() > 4
        && let Ok(reason) = ReasonPhrase::new(status.slice(4..))
    {
        res.extensions_mut().insert(reason);
    }
    extend_header_map(res.headers_mut(), block)?;
    Ok(res)
}

/// A trailers block from a header map.
pub fn trailers_block(trailers: &HeaderMap) -> Result<HeaderBlock, MapError> {
    let mut block = HeaderBlock::with_capacity(trailers.keys_len());
    append_headers(&mut block, trailers)?;
    Ok(block)
}

/// A header map from a trailers block.
pub fn trailers_from_block(block: &HeaderBlock) -> Result<HeaderMap, MapError> {
    let mut map = HeaderMap::with_capacity(block.len());
    extend_header_map(&mut map, block)?;
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{check_request, check_response};

    #[test]
    fn remembered_names_are_the_names_asked_for() {
        let mut names = HeaderNames::default();
        // More names than slots, so that slots are shared and overwritten;
        // each answer must still be the name asked for.
        let asked: Vec<String> = (0..200).map(|i| format!("x-name-{i}")).collect();
        for round in 0..2 {
            for name in &asked {
                assert_eq!(
                    names.get(name.as_bytes()).unwrap().as_str(),
                    name,
                    "round {round}"
                );
            }
        }
        assert_eq!(
            names.get(b"content-type").unwrap(),
            http::header::CONTENT_TYPE
        );
        assert_eq!(
            names.get(b"content-type").unwrap(),
            http::header::CONTENT_TYPE
        );
        assert!(names.get(b"Bad Name").is_err());
        assert!(names.get(b"").is_err());
    }

    #[test]
    fn request_round_trip() {
        let req = Request::builder()
            .method("POST")
            .uri("/upload?x=1")
            .header("content-type", "text/plain")
            .header("accept", "a")
            .header("accept", "b")
            .header("connection", "keep-alive")
            .header("te", "trailers")
            .header("host", "example.com")
            .body(())
            .unwrap();
        let block = request_block(&req, "http", "example.com").unwrap();
        assert!(check_request(&block).is_ok());
        assert_eq!(block.get(":path").unwrap(), "/upload?x=1");
        assert_eq!(block.get("accept").unwrap(), "a\0b");
        assert!(block.get("connection").is_none() && block.get("host").is_none());
        assert_eq!(block.get("te").unwrap(), "trailers");

        let back = request_from_block(&block).unwrap();
        assert_eq!(back.method(), "POST");
        assert_eq!(back.uri(), "/upload?x=1");
        assert_eq!(back.headers()["host"], "example.com");
        let accepts: Vec<_> = back.headers().get_all("accept").iter().collect();
        assert_eq!(accepts, ["a", "b"]);
    }

    #[test]
    fn response_round_trip() {
        let res = Response::builder()
            .status(404)
            .header("set-cookie", "a=1")
            .header("set-cookie", "b=2")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        let block = response_block(&res).unwrap();
        assert_eq!(check_response(&block, false).unwrap().status, 404);
        assert!(block.get("transfer-encoding").is_none());
        let back = response_from_block(&block).unwrap();
        assert_eq!(back.status(), 404);
        assert_eq!(back.headers().get_all("set-cookie").iter().count(), 2);
    }

    #[test]
    fn a_reason_phrase_travels_after_the_code() {
        let mut res = Response::builder().status(200).body(()).unwrap();
        res.extensions_mut()
            .insert(ReasonPhrase::new("Totally Fine").unwrap());
        let block = response_block(&res).unwrap();
        assert_eq!(block.get(":status").unwrap(), "200 Totally Fine");
        assert_eq!(check_response(&block, false).unwrap().status, 200);
        let back = response_from_block(&block).unwrap();
        assert_eq!(back.status(), 200);
        assert_eq!(
            back.extensions().get::<ReasonPhrase>().unwrap().as_bytes(),
            b"Totally Fine"
        );

        let plain = response_block(&Response::new(())).unwrap();
        assert_eq!(plain.get(":status").unwrap(), "200");
        assert!(
            response_from_block(&plain)
                .unwrap()
                .extensions()
                .get::<ReasonPhrase>()
                .is_none()
        );
    }

    #[test]
    fn a_reason_no_status_line_may_carry_is_left_behind() {
        // Valid on the wire (spec: no NUL, CR or LF), but a control byte or
        // an empty phrase is not an RFC 9112 reason-phrase.
        for value in ["200 a\x01b", "200 ", "200 \x7f"] {
            let mut block = HeaderBlock::new();
            block.insert(":status", value).unwrap();
            let res = response_from_block(&block).unwrap();
            assert_eq!(res.status(), 200, "{value:?}");
            assert!(
                res.extensions().get::<ReasonPhrase>().is_none(),
                "{value:?}"
            );
        }
        for bad in ["", "a\r\nb", "a\0b", "\x7f"] {
            assert!(ReasonPhrase::new(bad).is_err(), "{bad:?}");
        }
        assert!(ReasonPhrase::new(&b"caf\xe9 \tok"[..]).is_ok());
    }

    #[test]
    fn values_added_apart_are_joined_in_the_order_added() {
        let mut headers = HeaderMap::new();
        headers.append("accept", HeaderValue::from_static("a"));
        headers.append("x-one", HeaderValue::from_static("1"));
        headers.append("accept", HeaderValue::from_static("b"));
        headers.append("x-empty", HeaderValue::from_static(""));
        headers.append("te", HeaderValue::from_static("gzip"));
        let mut block = HeaderBlock::new();
        append_headers(&mut block, &headers).unwrap();
        assert_eq!(block.get("accept").unwrap(), "a\0b");
        assert_eq!(block.get("x-one").unwrap(), "1");
        assert!(block.get("x-empty").is_none() && block.get("te").is_none());
        // A name met again after others is joined to its first values,
        // never carried twice.
        let mut more = HeaderMap::new();
        more.append("accept", HeaderValue::from_static("c"));
        more.append("accept", HeaderValue::from_static("d"));
        append_headers(&mut block, &more).unwrap();
        assert_eq!(block.get("accept").unwrap(), "a\0b\0c\0d");
        assert_eq!(block.len(), 2);
    }

    #[test]
    fn a_host_that_cannot_be_carried_is_refused() {
        let req = Request::builder().uri("/").body(()).unwrap();
        assert!(request_block(&req, "http", "a\r\nb").is_err());
        assert!(request_block(&req, "http", "a\0b").is_err());
    }

    #[test]
    fn interim_responses_cannot_be_mapped() {
        let res = Response::builder().status(103).body(()).unwrap();
        assert!(response_block(&res).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(version_text(Version::HTTP_2), "HTTP/2");
        assert_eq!(version_text(Version::HTTP_10), "HTTP/1.0");
        assert_eq!(parse_version(b"HTTP/2"), Version::HTTP_2);
    }
}
