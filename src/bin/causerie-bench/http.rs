//! Just enough HTTP/1.1 over a tokio `TcpStream`: loopback URLs, request heads, response
//! heads, `Content-Length` and chunked bodies, and a keep-alive client for JSON calls.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body kept by `Client::request`.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// `http://HOST:PORT/PATH` on a loopback address.
#[derive(Debug, Clone)]
pub struct Url {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

impl Url {
    pub fn parse(text: &str) -> Result<Self> {
        let rest = text.strip_prefix("http://").ok_or_else(|| anyhow!("only http:// URLs are supported: {text}"))?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        ensure!(!authority.is_empty(), "no host in {text}");
        let with_port = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:80")
        } else {
            authority.to_owned()
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("resolving {authority}"))?
            .find(|a| is_loopback(a.ip()))
            .ok_or_else(|| {
                anyhow!("{authority} is not a loopback address: this tool only talks to 127.0.0.0/8 or ::1")
            })?;
        Ok(Self { addr, host: authority.to_owned(), path: path.to_owned() })
    }

    /// The same server with another path.
    pub fn with_path(&self, path: &str) -> Self {
        Self { addr: self.addr, host: self.host.clone(), path: path.to_owned() }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Writes a request head (and body) in one buffer.
pub fn request_bytes(method: &str, url: &Url, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("{method} {} HTTP/1.1\r\nHost: {}\r\n", url.path, url.host).as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if method != "GET" || !body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// How the body after a response head is delimited.
#[derive(Debug)]
pub enum Framing {
    Length(usize),
    Chunked(ChunkDecoder),
    UntilClose,
}

#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    pub close: bool,
}

/// Parses a complete response head (without the blank line).
fn parse_head(text: &str) -> Result<Head> {
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    ensure!(version.starts_with("HTTP/1."), "not an HTTP/1.x response: {status_line:?}");
    let status =
        parts.next().and_then(|s| s.parse::<u16>().ok()).ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut framing = Framing::UntilClose;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" if value.to_ascii_lowercase().contains("chunked") => {
                framing = Framing::Chunked(ChunkDecoder::default())
            }
            "content-length" if !matches!(framing, Framing::Chunked(_)) => {
                framing = Framing::Length(value.parse().with_context(|| format!("bad content-length {value:?}"))?)
            }
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::Length(0);
    }
    Ok(Head { status, framing, close })
}

/// Reads from `stream` until `buf` holds a complete head; returns it and leaves the
/// bytes after it in `buf`.
pub async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Head> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let text = std::str::from_utf8(&buf[..end]).context("response head is not UTF-8")?;
            let head = parse_head(text)?;
            buf.drain(..end + 4);
            return Ok(head);
        }
        ensure!(buf.len() <= MAX_HEAD, "response head over {MAX_HEAD} bytes");
        if read_some(stream, buf).await? == 0 {
            bail!("connection closed before the response head");
        }
    }
}

/// Appends what the socket has to `buf`; 0 at end of stream.
pub async fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize> {
    let start = buf.len();
    buf.resize(start + 8192, 0);
    match stream.read(&mut buf[start..]).await {
        Ok(n) => {
            buf.truncate(start + n);
            Ok(n)
        }
        Err(error) => {
            buf.truncate(start);
            Err(error.into())
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes `Transfer-Encoding: chunked` incrementally (chunk extensions and trailers are
/// skipped).
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    state: ChunkState,
    line: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    /// The CRLF after a chunk's data.
    DataEnd,
    Trailer,
    Done,
}

impl ChunkDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Feeds raw bytes; passes the decoded body to `out`. Returns how many bytes of
    /// `input` were used (all of them unless the body ended).
    pub fn feed(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<usize> {
        let mut pos = 0;
        while pos < input.len() {
            match self.state {
                ChunkState::Data(remaining) => {
                    let take = remaining.min(input.len() - pos);
                    out(&input[pos..pos + take]);
                    pos += take;
                    self.state =
                        if take == remaining { ChunkState::DataEnd } else { ChunkState::Data(remaining - take) };
                }
                ChunkState::Done => return Ok(pos),
                _ => {
                    let byte = input[pos];
                    pos += 1;
                    if byte != b'\n' {
                        ensure!(self.line.len() < 4096, "chunk header line too long");
                        self.line.push(byte);
                        continue;
                    }
                    self.end_of_line()?;
                }
            }
        }
        Ok(pos)
    }

    fn end_of_line(&mut self) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        self.state = match self.state {
            ChunkState::Size => {
                let hex = line.split(|b| *b == b';').next().unwrap_or_default();
                let hex = std::str::from_utf8(hex).unwrap_or_default().trim();
                let size = usize::from_str_radix(hex, 16).map_err(|_| anyhow!("bad chunk size {hex:?}"))?;
                if size == 0 {
                    ChunkState::Trailer
                } else {
                    ChunkState::Data(size)
                }
            }
            ChunkState::DataEnd => {
                ensure!(line.is_empty(), "missing CRLF after chunk data");
                ChunkState::Size
            }
            ChunkState::Trailer if line.is_empty() => ChunkState::Done,
            other => other,
        };
        Ok(())
    }
}

/// A response read whole.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive connection for request/response calls; reconnects when the server
/// closed it.
pub struct Client {
    url: Url,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Client {
    pub fn new(url: &Url, timeout: Duration) -> Self {
        Self { url: url.clone(), stream: None, buf: Vec::new(), timeout }
    }

    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Response> {
        let bytes = request_bytes(method, &self.url.with_path(path), headers, body);
        match tokio::time::timeout(self.timeout, self.exchange(&bytes)).await {
            Ok(result) => result,
            Err(_) => {
                self.stream = None;
                bail!("{method} {path}: no response within {:?}", self.timeout)
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<Response> {
        // A kept-alive connection may have been closed by the server meanwhile: retry once
        // on a fresh one when nothing came back.
        let reused = self.stream.is_some();
        match self.exchange_once(request).await {
            Err(error) if reused => {
                self.stream = None;
                self.exchange_once(request).await.context(error)
            }
            other => other,
        }
    }

    async fn exchange_once(&mut self, request: &[u8]) -> Result<Response> {
        if self.stream.is_none() {
            let stream =
                TcpStream::connect(self.url.addr).await.with_context(|| format!("connecting to {}", self.url.addr))?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let stream = self.stream.as_mut().ok_or_else(|| anyhow!("no connection"))?;
        let result = round_trip(stream, &mut self.buf, request).await;
        match &result {
            Ok((_, close)) if !close => {}
            _ => self.stream = None,
        }
        result.map(|(response, _)| response)
    }
}

/// Sends a request and reads its whole response; also says whether the connection must
/// close.
async fn round_trip(stream: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> Result<(Response, bool)> {
    stream.write_all(request).await?;
    let head = read_head(stream, buf).await?;
    let mut body = Vec::new();
    let close = match head.framing {
        Framing::Length(len) => {
            while buf.len() < len {
                ensure!(read_some(stream, buf).await? > 0, "connection closed in the response body");
            }
            body.extend(buf.drain(..len));
            head.close
        }
        Framing::Chunked(mut decoder) => {
            loop {
                let used = decoder.feed(buf, &mut |b| body.extend_from_slice(b))?;
                buf.drain(..used);
                ensure!(body.len() <= MAX_BODY, "response body over {MAX_BODY} bytes");
                if decoder.is_done() {
                    break;
                }
                ensure!(read_some(stream, buf).await? > 0, "connection closed in the response body");
            }
            head.close
        }
        Framing::UntilClose => {
            while read_some(stream, buf).await? > 0 {
                ensure!(buf.len() <= MAX_BODY, "response body over {MAX_BODY} bytes");
            }
            body.append(buf);
            true
        }
    };
    Ok((Response { status: head.status, body }, close))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_across_splits() {
        let wire: &[u8] = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for split in 0..wire.len() {
            let mut decoder = ChunkDecoder::default();
            let mut body = Vec::new();
            let mut used = decoder.feed(&wire[..split], &mut |b| body.extend_from_slice(b)).unwrap();
            used += decoder.feed(&wire[split..], &mut |b| body.extend_from_slice(b)).unwrap();
            assert_eq!(body, b"hello, world", "split at {split}");
            assert!(decoder.is_done());
            assert_eq!(&wire[used..], b"NEXT");
        }
    }

    #[test]
    fn heads_and_urls() {
        let head =
            parse_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream").unwrap();
        assert_eq!(head.status, 200);
        assert!(matches!(head.framing, Framing::Chunked(_)));
        let head = parse_head("HTTP/1.1 201 Created\r\ncontent-length: 12\r\nconnection: close").unwrap();
        assert!(matches!(head.framing, Framing::Length(12)) && head.close);
        assert!(parse_head("SSH-2.0").is_err());
        let url = Url::parse("http://127.0.0.1:8081/sub/r1").unwrap();
        assert_eq!((url.addr.port(), url.path.as_str()), (8081, "/sub/r1"));
        assert!(Url::parse("http://8.8.8.8/x").is_err());
        assert!(Url::parse("https://127.0.0.1/").is_err());
    }
}
