//! The lean event-stream connection: a fresh HTTP/1.1 connection whose first request is
//! `GET /chat/api/stream`. The request head is peeked, not read, so that anything this
//! path does not take (another request, a bad credential, a room that is not the
//! caller's) reaches actix-web byte for byte and gets the same answer as always.

use std::future::Future;
use std::io::{self, IoSlice};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::cookie::Cookie;
use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::Front;
use crate::auth::{self, SESSION_COOKIE};
use crate::broker::Subscriber;
use crate::chat::streams;

const PATH: &str = "/chat/api/stream";
const REQUEST_LINE_START: &[u8] = b"GET /chat/api/stream";
/// A longer head (many cookies) goes to actix-web, which takes up to 32 KiB.
const MAX_HEAD: usize = 8 * 1024;
const TYPICAL_HEAD: usize = 1024;
/// The same bound actix-web gives a client to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A client that takes nothing for this long while its socket buffer is full is gone.
const WRITE_STALL: Duration = Duration::from_secs(60);
/// Between two looks at a head that arrived in pieces.
const PEEK_RETRY: Duration = Duration::from_millis(2);
/// Headers a stream request may carry; more go to actix-web.
const MAX_HEADERS: usize = 48;

/// What the lean path takes from a stream request's head.
pub struct StreamRequest {
    head_len: usize,
    query: String,
    authorization: Option<Vec<u8>>,
    session: Option<String>,
    last_event_id: Option<String>,
    started: Instant,
}

impl StreamRequest {
    /// What the open stream still needs of its request.
    pub fn opened(self) -> Opened {
        Opened { head_len: self.head_len, started: self.started }
    }
}

pub struct Opened {
    head_len: usize,
    started: Instant,
}

enum Parsed {
    Stream(StreamRequest),
    Partial,
    /// Not a request this path serves: actix-web answers it.
    Other,
}

/// Peeks at a new connection's first request. `Some` when it is a complete `GET` of the
/// stream in HTTP/1.1 without a body; the bytes stay in the socket either way.
pub async fn peek_request(io: &TcpStream) -> Option<StreamRequest> {
    let started = Instant::now();
    let deadline = started + HEAD_TIMEOUT;
    // Most connections are told apart by their first bytes, without a buffer for the head.
    let mut start = [0u8; REQUEST_LINE_START.len()];
    let seen = tokio::time::timeout_at(deadline, io.peek(&mut start)).await.ok()?.ok()?;
    if seen == 0 || !starts_like_a_stream(&start[..seen]) {
        return None;
    }
    // Most heads fit the first size; thousands of streams connecting at once should not
    // each hold the largest.
    let mut head = vec![0u8; TYPICAL_HEAD];
    loop {
        let seen = tokio::time::timeout_at(deadline, io.peek(&mut head)).await.ok()?.ok()?;
        if seen == 0 || !starts_like_a_stream(&head[..seen]) {
            return None;
        }
        match parse(&head[..seen], started) {
            Parsed::Stream(request) => return Some(request),
            Parsed::Partial if seen == head.len() && head.len() < MAX_HEAD => head.resize(MAX_HEAD, 0),
            Parsed::Partial if seen < head.len() && Instant::now() + PEEK_RETRY < deadline => {
                // The socket stays readable while bytes wait in it: poll, do not spin.
                tokio::time::sleep(PEEK_RETRY).await;
            }
            Parsed::Partial | Parsed::Other => return None,
        }
    }
}

/// Whether these first bytes of a request may still be `GET /chat/api/stream…`.
fn starts_like_a_stream(bytes: &[u8]) -> bool {
    let len = bytes.len().min(REQUEST_LINE_START.len());
    bytes[..len] == REQUEST_LINE_START[..len]
}

fn parse(bytes: &[u8], started: Instant) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let (Some("GET"), Some(1), Some(target)) = (req.method, req.version, req.path) else { return Parsed::Other };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != PATH {
        return Parsed::Other;
    }
    let mut request = StreamRequest {
        head_len,
        query: query.to_owned(),
        authorization: None,
        session: None,
        last_event_id: None,
        started,
    };
    for header in req.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("authorization") {
            if request.authorization.is_some() {
                return Parsed::Other;
            }
            request.authorization = Some(header.value.to_vec());
        } else if name.eq_ignore_ascii_case("cookie") {
            // As actix-web reads cookies: every header, `;`-separated, the first match wins;
            // one that does not parse leaves the request to actix-web.
            let Ok(text) = std::str::from_utf8(header.value) else { return Parsed::Other };
            for pair in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let Ok(cookie) = Cookie::parse_encoded(pair) else { return Parsed::Other };
                if cookie.name() == SESSION_COOKIE && request.session.is_none() {
                    request.session = Some(cookie.value().to_owned());
                }
            }
        } else if name.eq_ignore_ascii_case("last-event-id") {
            // Two of them: actix-web refuses the request.
            if request.last_event_id.is_some() {
                return Parsed::Other;
            }
            let Ok(text) = std::str::from_utf8(header.value) else { return Parsed::Other };
            request.last_event_id = Some(text.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            if header.value.trim_ascii() != b"0" {
                return Parsed::Other;
            }
        } else if ["transfer-encoding", "upgrade", "expect"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            return Parsed::Other;
        }
    }
    Parsed::Stream(request)
}

/// Authenticates and subscribes the request, through the same use case as the API's
/// stream handler.
pub async fn accept(front: &Front, request: &StreamRequest) -> Option<Subscriber> {
    let (credential, hash) = auth::credential(request.authorization.as_deref(), request.session.as_deref()).ok()??;
    let user = auth::authenticate(&front.chat.auth_cache, &front.chat.db, credential, hash).await.ok()?;
    let asked = streams::StreamRequest::parse(&request.query, request.last_event_id.clone()).ok()?;
    let subscriber = streams::open(&front.chat, user.actor(), asked).await.ok()?;
    tracing::debug!(user_id = user.id.get(), "stream opened");
    Some(subscriber)
}

/// Reads the request head, answers `200`, and writes the subscriber's chunks until the
/// stream ends or the client goes.
pub async fn serve(io: TcpStream, request: Opened, mut subscriber: Subscriber, front: &Front) {
    if consume(&io, request.head_len).await.is_err() {
        return;
    }
    // Each event goes out at once rather than waiting for the previous one's ACK.
    let _ = io.set_nodelay(true);
    front.metrics.observe(PATH, "GET", 200, request.started.elapsed().as_secs_f64());
    let mut head = Some(response_head());
    loop {
        let chunk = {
            let next = subscriber.next_chunk();
            tokio::pin!(next);
            // The stream's next chunk, unless the client goes first. Read readiness is
            // polled directly: its waker has a slot of its own in the socket's registration,
            // where a `readable()` future would join and leave a waiter list per event.
            std::future::poll_fn(|cx| match next.as_mut().poll(cx) {
                Poll::Ready(chunk) => Poll::Ready(Some(chunk)),
                Poll::Pending => client_gone(&io, cx).map(|()| None),
            })
            .await
        };
        let Some(chunk) = chunk else { return };
        let last = chunk.is_none();
        let body = chunk.unwrap_or_default();
        if body.is_empty() && !last {
            continue;
        }
        let head = head.take().unwrap_or_default();
        if write_chunk(&io, &head, &body, last).await.is_err() || last {
            return;
        }
    }
}

/// Ready when the client has hung up (or the connection failed). Bytes it sends are read
/// and dropped: a stream takes no further request on its connection.
fn client_gone(io: &TcpStream, cx: &mut Context<'_>) -> Poll<()> {
    let mut scratch = [0u8; 64];
    // A client that keeps sending is read in bounded rounds, then the task yields.
    for _ in 0..4 {
        match io.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(()),
            Poll::Ready(Ok(())) => match io.try_read(&mut scratch) {
                Ok(0) => return Poll::Ready(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Poll::Ready(()),
            },
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// Takes the request head out of the socket (it was only peeked at).
async fn consume(io: &TcpStream, len: usize) -> io::Result<()> {
    let mut buf = vec![0u8; len];
    let mut read = 0;
    while read < len {
        io.readable().await?;
        match io.try_read(&mut buf[read..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn response_head() -> Bytes {
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    Bytes::from(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         x-accel-buffering: no\r\ncontent-encoding: identity\r\ntransfer-encoding: chunked\r\n\
         connection: close\r\ndate: {date}\r\n\r\n"
    ))
}

/// One chunk of the chunked body (after the response head, the first time), and the
/// last-chunk marker when the stream ends: one `writev(2)` when the socket has room.
async fn write_chunk(io: &TcpStream, head: &[u8], body: &[u8], last: bool) -> io::Result<()> {
    let mut size = [0u8; 18];
    let size = chunk_size_line(body.len(), &mut size);
    let (size, crlf): (&[u8], &[u8]) = if body.is_empty() { (&[], &[]) } else { (size, b"\r\n") };
    let end: &[u8] = if last { b"0\r\n\r\n" } else { &[] };
    let mut slices =
        [IoSlice::new(head), IoSlice::new(size), IoSlice::new(body), IoSlice::new(crlf), IoSlice::new(end)];
    write_all(io, &mut slices).await
}

/// `<hex length>\r\n`.
fn chunk_size_line(len: usize, out: &mut [u8; 18]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut at = out.len() - 2;
    out[at..].copy_from_slice(b"\r\n");
    let mut rest = len;
    loop {
        at -= 1;
        out[at] = HEX[rest & 0xf];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    &out[at..]
}

async fn write_all(io: &TcpStream, slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut slices = slices;
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match io.try_write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Boxed: a full socket buffer is rare, and a timer kept inline would add its
                // size to every stream's task.
                Box::pin(tokio::time::timeout(WRITE_STALL, io.writable()))
                    .await
                    .map_err(|_| io::ErrorKind::TimedOut)??;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(head: &str) -> Option<StreamRequest> {
        match parse(head.as_bytes(), Instant::now()) {
            Parsed::Stream(request) => Some(request),
            _ => None,
        }
    }

    #[test]
    fn takes_plain_stream_requests_only() {
        let request = parsed(
            "GET /chat/api/stream?room_id=3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer cau_t\r\n\
             Cookie: a=1; causerie_session=abc\r\nLast-Event-ID: 42\r\n\r\n",
        )
        .expect("a stream request");
        assert_eq!(request.query, "room_id=3");
        assert_eq!(request.authorization.as_deref(), Some(&b"Bearer cau_t"[..]));
        assert_eq!(request.session.as_deref(), Some("abc"));
        assert_eq!(request.last_event_id.as_deref(), Some("42"));

        for other in [
            "GET /chat/api/streams HTTP/1.1\r\n\r\n",
            "GET /chat/api/stream HTTP/1.0\r\n\r\n",
            "POST /chat/api/stream HTTP/1.1\r\n\r\n",
            "GET /chat/api/stream HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
            "GET /chat/api/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /chat/api/stream HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
            "GET /chat/api/stream HTTP/1.1\r\nLast-Event-ID: 1\r\nLast-Event-ID: 2\r\n\r\n",
            "GET /chat/api/stream HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(parsed(other).is_none(), "{other:?}");
        }
        assert!(matches!(parse(b"GET /chat/api/stream HTTP/1.1\r\nHost:", Instant::now()), Parsed::Partial));
    }

    #[test]
    fn chunk_sizes_are_hex() {
        let mut buf = [0u8; 18];
        assert_eq!(chunk_size_line(0, &mut buf), b"0\r\n");
        assert_eq!(chunk_size_line(255, &mut buf), b"ff\r\n");
        assert_eq!(chunk_size_line(4096, &mut buf), b"1000\r\n");
        assert_eq!(chunk_size_line(usize::MAX, &mut buf), b"ffffffffffffffff\r\n");
    }
}
