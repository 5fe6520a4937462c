//! The response as HTTP/1.1 puts it on the wire, framed as hyper frames it
//! for the requests the lean path serves (HTTP/1.1, no `TE`): the worker's
//! or the router's `content-length` where there is one, else chunked; no
//! body for HEAD, 204 and 304; a `date` field if the response has none; and
//! `connection: close` when the connection ends after it.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, HeaderValue, TRANSFER_ENCODING};
use http::{Response, StatusCode};
use http_body::Body as _;

use crate::http::body::ProxyBody;

/// How the body goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked, to the last chunk.
    Chunked,
}

/// Writes the status line and fields of `res` into `out`, and says how its
/// body is framed and whether the connection ends after it: when `close`
/// asks for it, or the response itself says `connection: close`. `None`
/// when the response cannot be framed (a `content-length` that is no
/// number): the connection is then dropped, as hyper drops it.
pub(super) fn head(
    res: &mut Response<ProxyBody>,
    is_head: bool,
    close: bool,
    out: &mut Vec<u8>,
) -> Option<(Framing, bool)> {
    let status = res.status();
    // RFC 9110 §6.4.1: a 204 or 304 has no content, nor does a HEAD response.
    let has_content_length = !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED);
    let has_body = has_content_length && !is_head;
    let body = res.body();
    let ended = body.is_end_stream();
    let known = if ended {
        Some(0)
    } else {
        body.size_hint().exact()
    };
    let says_close = res
        .headers()
        .get_all(CONNECTION)
        .iter()
        .any(|v| has_token(v, b"close"));
    if close && !says_close {
        res.headers_mut()
            .append(CONNECTION, HeaderValue::from_static("close"));
    }
    // The worker's reason phrase, as hyper writes it (`proxy::status_reason`).
    let reason = res.extensions().get::<hyper::ext::ReasonPhrase>();
    if status == StatusCode::OK && reason.is_none() {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.as_str().as_bytes());
        out.push(b' ');
        match reason {
            Some(reason) => out.extend_from_slice(reason.as_bytes()),
            // A reason must be written: many parsers expect one.
            None => out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
    let mut framing = None;
    let mut wrote_date = false;
    for (name, value) in res.headers() {
        if *name == CONTENT_LENGTH {
            if framing.is_some() {
                continue;
            }
            let length = parse_length(value)?;
            if ended && !is_head {
                // An empty body: `content-length: 0` is written below.
                continue;
            }
            if !has_content_length {
                continue;
            }
            framing = Some(Framing::Length(if is_head {
                0
            } else {
                known.unwrap_or(length)
            }));
        } else if *name == TRANSFER_ENCODING {
            // Hop by hop: the router frames the body itself.
            continue;
        } else if *name == DATE {
            wrote_date = true;
        }
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    let framing = match framing {
        Some(framing) => framing,
        // As hyper frames a body whose length the response does not give.
        None => match known {
            Some(0) => {
                if has_content_length && !is_head {
                    field(out, b"content-length", b"0");
                }
                Framing::Length(0)
            }
            Some(n) if has_content_length => {
                field(
                    out,
                    b"content-length",
                    itoa::Buffer::new().format(n).as_bytes(),
                );
                Framing::Length(n)
            }
            Some(_) => Framing::Length(0),
            None if has_body => {
                field(out, b"transfer-encoding", b"chunked");
                Framing::Chunked
            }
            None => Framing::Length(0),
        },
    };
    if !wrote_date {
        date(out);
    }
    out.extend_from_slice(b"\r\n");
    let framing = if has_body {
        framing
    } else {
        Framing::Length(0)
    };
    Some((framing, close || says_close))
}

/// One body frame's bytes as the framing puts them, appended to `out`; `data`
/// itself goes after `out` when it is large (see `Lane::send_body`).
pub(super) fn chunk_header(framing: Framing, len: usize, out: &mut Vec<u8>) {
    if framing == Framing::Chunked && len > 0 {
        use std::io::Write as _;
        let _ = write!(out, "{len:x}\r\n");
    }
}

pub(super) fn chunk_end(framing: Framing, len: usize, out: &mut Vec<u8>) {
    if framing == Framing::Chunked && len > 0 {
        out.extend_from_slice(b"\r\n");
    }
}

/// The end of a chunked body (no trailers: the client did not ask for them).
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn parse_length(value: &HeaderValue) -> Option<u64> {
    let digits = value.as_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn has_token(value: &HeaderValue, token: &[u8]) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// `date: <IMF-fixdate>\r\n`, formatted once a second per thread.
fn date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, Bytes)> = const {
            std::cell::RefCell::new((u64::MAX, Bytes::new()))
        };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|(at, text)| {
        if *at != second {
            *at = second;
            *text = Bytes::from(httpdate::fmt_http_date(now));
        }
        field(out, b"date", text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(mut res: Response<ProxyBody>, is_head: bool, close: bool) -> (String, Framing) {
        let mut out = Vec::new();
        let (framing, _) = head(&mut res, is_head, close, &mut out).expect("framed");
        let text = String::from_utf8(out).unwrap();
        // The date changes: check it is there, then leave it out.
        assert_eq!(text.matches("\r\ndate: ").count(), 1, "{text}");
        let text = text
            .lines()
            .filter(|l| !l.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\n");
        (text, framing)
    }

    fn full(status: u16, body: &'static str) -> Response<ProxyBody> {
        let mut res = Response::new(ProxyBody::full(Bytes::from_static(body.as_bytes())));
        *res.status_mut() = StatusCode::from_u16(status).unwrap();
        res
    }

    #[test]
    fn a_known_length_is_written_and_kept() {
        let (text, framing) = written(full(404, "not here\n"), false, false);
        assert_eq!(text, "HTTP/1.1 404 Not Found\ncontent-length: 9\n");
        assert_eq!(framing, Framing::Length(9));
    }

    #[test]
    fn an_empty_body_says_zero_except_for_head_204_and_304() {
        let empty = |status| {
            let mut res = Response::new(ProxyBody::empty());
            *res.status_mut() = StatusCode::from_u16(status).unwrap();
            res
        };
        assert_eq!(
            written(empty(200), false, false).0,
            "HTTP/1.1 200 OK\ncontent-length: 0\n"
        );
        assert_eq!(
            written(empty(204), false, false).0,
            "HTTP/1.1 204 No Content\n"
        );
        assert_eq!(
            written(empty(304), false, false).0,
            "HTTP/1.1 304 Not Modified\n"
        );
        assert_eq!(written(empty(200), true, false).0, "HTTP/1.1 200 OK\n");
        // A local answer to a HEAD request: its length, and no body.
        let (text, framing) = written(full(404, "not here\n"), true, false);
        assert_eq!(text, "HTTP/1.1 404 Not Found\ncontent-length: 9\n");
        assert_eq!(framing, Framing::Length(0));
    }

    #[test]
    fn a_head_response_keeps_the_length_it_was_given_and_sends_no_body() {
        let mut res = Response::new(ProxyBody::empty());
        res.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("1234"));
        let (text, framing) = written(res, true, false);
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 1234\n");
        assert_eq!(framing, Framing::Length(0));
    }

    #[test]
    fn closing_says_so_once() {
        let (text, _) = written(full(200, ""), false, true);
        assert!(text.contains("\nconnection: close"), "{text}");
        let mut res = full(400, "bad\n");
        res.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        let (text, _) = written(res, false, true);
        assert_eq!(text.matches("connection: close").count(), 1, "{text}");
    }

    #[test]
    fn a_length_that_is_no_number_is_not_framed() {
        let mut res = full(200, "x");
        res.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("1, 1"));
        assert!(head(&mut res, false, false, &mut Vec::new()).is_none());
    }
}
