//! HTTP clients: hyper's for ordinary requests over HTTP/1 and h2c, and a
//! raw connection for bytes a client library would not send.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// GET with a fresh client; the status and the whole body.
pub async fn get(url: &str) -> Result<(u16, Bytes), String> {
    request(&client(), "GET", url, Bytes::new()).await
}

pub async fn request(
    client: &HttpClient,
    method: &str,
    url: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let res = client.request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// A client that speaks only HTTP/2, with prior knowledge (h2c).
pub fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

/// An HTTP/1 response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The status line and header lines, as sent.
    pub head: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A TCP connection that speaks HTTP/1 by hand, for what a client library
/// would not send (no Host, hop-by-hop fields, `Expect`) or would hide (the
/// exact bytes of a response). Every read has a 5 s deadline.
pub struct RawConn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

const RAW_DEADLINE: Duration = Duration::from_secs(5);

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the router");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// The client's port, which the router reports in `forwarded`.
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().expect("a connected socket").port()
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(RAW_DEADLINE, self.stream.read(&mut chunk))
            .await
            .expect("the router answered in time")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Takes the buffer up to and including `needle`, reading as needed.
    pub async fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(needle.len()).position(|w| w == needle) {
                return self.buf.drain(..at + needle.len()).collect();
            }
            assert!(
                self.fill().await,
                "connection closed before {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed inside a body");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one response head: the status and the header lines.
    pub async fn read_head(&mut self) -> RawResponse {
        let head = String::from_utf8(self.read_until(b"\r\n\r\n").await).expect("ASCII head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        RawResponse {
            status,
            head,
            headers,
            body: Vec::new(),
        }
    }

    /// Reads one whole response; `bodiless` for the answer to HEAD (and 1xx,
    /// 204, 304, which have no body whatever their fields say).
    pub async fn read_response(&mut self, bodiless: bool) -> RawResponse {
        let mut res = self.read_head().await;
        if bodiless || matches!(res.status, 100..=199 | 204 | 304) {
            return res;
        }
        if let Some(n) = res.header("content-length") {
            let n: usize = n.parse().expect("content-length");
            res.body = self.read_exact(n).await;
        } else if res
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line = self.read_until(b"\r\n").await;
                let size = String::from_utf8_lossy(&line);
                let size = size.trim().split(';').next().unwrap_or_default();
                let n = usize::from_str_radix(size, 16).expect("chunk size");
                if n == 0 {
                    self.read_until(b"\r\n").await;
                    break;
                }
                res.body.extend(self.read_exact(n).await);
                self.read_exact(2).await;
            }
        } else {
            while self.fill().await {}
            res.body = std::mem::take(&mut self.buf);
        }
        res
    }

    /// Whether the router closed the connection (reading nothing more).
    pub async fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }

    /// Whether the router closes the connection within `within` (sending
    /// nothing more); false if it stays open that long.
    pub async fn closes_within(&mut self, within: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 1024];
        self.buf.is_empty()
            && matches!(
                tokio::time::timeout(within, self.stream.read(&mut chunk)).await,
                Ok(Ok(0) | Err(_))
            )
    }

    /// Everything the router sends until it closes the connection.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        while self.fill().await {}
        std::mem::take(&mut self.buf)
    }
}
