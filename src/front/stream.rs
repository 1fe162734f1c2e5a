//! The lean event-stream connection: a fresh HTTP/1.1 connection whose first request is
//! `GET /chat/api/stream`. The request head is peeked, not read, so that anything this
//! path does not take (another request, a bad credential, a room that is not the
//! caller's) reaches actix-web byte for byte and gets the same answer as always.

use std::future::Future;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::cookie::Cookie;
use bytes::Bytes;
use tokio::io::Interest;
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
/// A client that takes nothing for this long while its socket buffer is full is gone: its
/// stream ends, and with it what the stream held for it (a catch-up batch, at most).
const WRITE_STALL: Duration = Duration::from_secs(20);
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

/// What the first look at a connection found.
pub enum Peeked {
    /// A complete stream request, still in the socket.
    Stream(StreamRequest),
    /// Anything else: actix-web answers it.
    Other,
    /// The head did not arrive within `HEAD_TIMEOUT` (see `time_out`).
    TimedOut,
    /// The client closed the connection, or it failed.
    Gone,
}

/// Peeks at a new connection's first request: `Stream` when it is a complete `GET` of the
/// stream in HTTP/1.1 without a body; the bytes stay in the socket either way. The client
/// has `HEAD_TIMEOUT` from the connection's start to send a stream request's head, as
/// actix-web gives for any other: a head that is not a stream's goes to actix-web as soon
/// as its first bytes tell, and a stream's that stalls is answered here.
pub async fn peek_request(io: &TcpStream) -> Peeked {
    let started = Instant::now();
    let deadline = started + HEAD_TIMEOUT;
    // Most connections are told apart by their first bytes, without a buffer for the head.
    let mut start = [0u8; REQUEST_LINE_START.len()];
    let seen = match peek_within(deadline, io, &mut start, 0).await {
        Ok(seen) => seen,
        Err(peeked) => return peeked,
    };
    if !starts_like_a_stream(&start[..seen]) {
        return Peeked::Other;
    }
    // Most heads fit the first size; thousands of streams connecting at once should not
    // each hold the largest.
    let mut head = vec![0u8; TYPICAL_HEAD];
    let mut seen = 0;
    loop {
        seen = match peek_within(deadline, io, &mut head, seen).await {
            Ok(seen) => seen,
            Err(peeked) => return peeked,
        };
        if !starts_like_a_stream(&head[..seen]) {
            return Peeked::Other;
        }
        match parse(&head[..seen], started) {
            Parsed::Stream(request) => return Peeked::Stream(request),
            Parsed::Partial if seen == head.len() && head.len() < MAX_HEAD => head.resize(MAX_HEAD, 0),
            // The rest of the head is on its way.
            Parsed::Partial if seen < head.len() => {}
            Parsed::Partial | Parsed::Other => return Peeked::Other,
        }
    }
}

/// `peek_more` until the deadline.
async fn peek_within(deadline: Instant, io: &TcpStream, buf: &mut [u8], seen: usize) -> Result<usize, Peeked> {
    match tokio::time::timeout_at(deadline, peek_more(io, buf, seen)).await {
        Err(_) => Err(Peeked::TimedOut),
        Ok(Ok(seen)) => Ok(seen),
        // A head cut short by the client's end of the connection: actix-web reads what
        // there is and closes, as it does for any request.
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof && seen > 0 => Err(Peeked::Other),
        Ok(Err(_)) => Err(Peeked::Gone),
    }
}

/// Peeks into `buf` once the socket holds more than the `seen` bytes already looked at (or
/// fills `buf`), sleeping until then: a peek leaves the socket readable, so readiness alone
/// cannot tell new bytes from old. A peek that finds no new bytes reports `WouldBlock`
/// through `try_io`, which clears the readiness it was woken by, and the next wait lasts
/// until the kernel reports new bytes (a readiness event newer than the one cleared is kept).
/// `UnexpectedEof` when the client closed its side with no more bytes to come.
async fn peek_more(io: &TcpStream, buf: &mut [u8], seen: usize) -> io::Result<usize> {
    loop {
        let ready = io.ready(Interest::READABLE).await?;
        let peeked = io.try_io(Interest::READABLE, || {
            let n = peek_now(io, buf)?;
            if n > seen || n == buf.len() || n == 0 {
                Ok(n)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        });
        match peeked {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => return Ok(n),
            // The end of the stream stays ready: no more bytes will come.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && ready.is_read_closed() => {
                return Err(io::ErrorKind::UnexpectedEof.into())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// One non-blocking `recv(MSG_PEEK)`: the bytes waiting in the socket, left there.
fn peek_now(io: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length for the duration of the call, and
    // the descriptor is the stream's own, open while `io` is borrowed.
    let n =
        unsafe { libc::recv(io.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Answers a stream request whose head did not arrive in time as actix-web answers any
/// other (`408`, then the connection closes). What the client sent is read first, so that
/// closing does not reset the connection before the answer is read.
pub fn time_out(io: TcpStream) {
    let mut scratch = [0u8; 1024];
    for _ in 0..MAX_HEAD / scratch.len() {
        match io.try_read(&mut scratch) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let answer =
        format!("HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\ndate: {date}\r\n\r\n");
    let _ = io.try_write(answer.as_bytes());
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
            // Two of them: actix-web refuses the request (400), as its own path does.
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
    let user_id = user.id.get();
    let credential = user.credential.tag();
    let subscriber = streams::open(&front.chat, user.into_actor(), credential, asked).await.ok()?;
    tracing::debug!(user_id, "stream opened");
    Some(subscriber)
}

/// What an open stream keeps: its connection, what it needs of its request, its subscriber.
pub struct Serving {
    pub io: TcpStream,
    pub request: Opened,
    pub subscriber: Subscriber,
}

/// Reads the request head, answers `200`, and writes the subscriber's chunks until the
/// stream ends or the client goes. The state is borrowed rather than moved in: a future
/// keeps room for what it is given as well as for what it moves it into, for its whole life.
pub async fn serve(serving: &mut Serving, front: &Front) {
    let Serving { io, request, subscriber } = serving;
    let io = &*io;
    if consume(io, request.head_len).await.is_err() {
        return;
    }
    // Each event goes out at once rather than waiting for the previous one's ACK.
    let _ = io.set_nodelay(true);
    front.metrics.observe(PATH, "GET", "200", request.started.elapsed().as_secs_f64());
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
                Poll::Pending => client_gone(io, cx).map(|()| None),
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
        if write_chunk(io, &head, &body, last).await.is_err() || last {
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
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

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

    /// What httparse sees in a head, the oracle for the lean path's reading of it.
    struct Seen {
        len: usize,
        method: String,
        target: String,
        version: u8,
        headers: Vec<(String, Vec<u8>)>,
    }

    fn httparse_sees(bytes: &[u8]) -> Option<Seen> {
        let mut headers = [httparse::EMPTY_HEADER; 256];
        let mut req = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(len) = req.parse(bytes).ok()? else { return None };
        Some(Seen {
            len,
            method: req.method?.to_owned(),
            target: req.path?.to_owned(),
            version: req.version?,
            headers: req.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect(),
        })
    }

    /// Checks the lean path's reading of `bytes` against httparse's: a stream request is
    /// exactly what httparse sees, anything else is left to actix-web.
    fn agrees_with_httparse(bytes: &[u8]) -> Result<(), TestCaseError> {
        let Parsed::Stream(request) = parse(bytes, Instant::now()) else { return Ok(()) };
        let seen = httparse_sees(bytes);
        prop_assert!(seen.is_some(), "taken as a stream, but httparse finds no complete head");
        let Some(seen) = seen else { return Ok(()) };
        prop_assert_eq!(request.head_len, seen.len);
        prop_assert_eq!(seen.method.as_str(), "GET");
        prop_assert_eq!(seen.version, 1);
        let (path, query) = seen.target.split_once('?').unwrap_or((seen.target.as_str(), ""));
        prop_assert_eq!(path, PATH);
        prop_assert_eq!(request.query.as_str(), query);
        let values =
            |name: &str| -> Vec<&Vec<u8>> { seen.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v).collect() };
        let authorization = values("authorization");
        prop_assert!(authorization.len() <= 1, "two Authorization headers taken");
        prop_assert_eq!(request.authorization.as_ref(), authorization.first().copied());
        let ids = values("last-event-id");
        prop_assert!(ids.len() <= 1, "two Last-Event-ID headers taken");
        let last_event_id = ids.first().map(|v| String::from_utf8_lossy(v).into_owned());
        prop_assert_eq!(request.last_event_id.clone(), last_event_id);
        let session = values("cookie")
            .into_iter()
            .flat_map(|v| std::str::from_utf8(v).unwrap_or_default().split(';'))
            .filter_map(|pair| Cookie::parse_encoded(pair.trim()).ok())
            .find(|c| c.name() == SESSION_COOKIE)
            .map(|c| c.value().to_owned());
        prop_assert_eq!(request.session.clone(), session);
        for (name, value) in &seen.headers {
            match name.as_str() {
                "content-length" => prop_assert_eq!(value.trim_ascii(), b"0"),
                "transfer-encoding" | "upgrade" | "expect" => prop_assert!(false, "{} taken", name),
                _ => {}
            }
        }
        Ok(())
    }

    /// A stream request's head from parts that vary: the query, and headers of the kinds the
    /// lean path reads or refuses, among others.
    fn stream_heads() -> impl Strategy<Value = Vec<u8>> {
        let header = prop_oneof![
            Just("Host: localhost".to_owned()),
            "[A-Za-z0-9+/=_.-]{0,24}".prop_map(|t| format!("Authorization: Bearer {t}")),
            "[a-z_]{1,20}=[A-Za-z0-9%]{0,16}( *; *[a-z_]{1,20}=[A-Za-z0-9%]{0,16}){0,3}"
                .prop_map(|c| format!("Cookie: {c}")),
            "[A-Za-z0-9%]{0,16}".prop_map(|v| format!("Cookie: causerie_session={v}")),
            "[0-9 a-z-]{0,12}".prop_map(|v| format!("Last-Event-ID: {v}")),
            "[0-9 ]{1,4}".prop_map(|v| format!("Content-Length: {v}")),
            Just("Transfer-Encoding: chunked".to_owned()),
            Just("Expect: 100-continue".to_owned()),
            "[A-Za-z-]{1,16}: [ -~]{0,24}".prop_map(|h| h),
        ];
        let head =
            ("(\\?[a-z_=&0-9%.-]{0,24})?", proptest::collection::vec(header, 0..8)).prop_map(|(query, headers)| {
                let mut head = format!("GET /chat/api/stream{query} HTTP/1.1\r\n");
                for header in headers {
                    head.push_str(&header);
                    head.push_str("\r\n");
                }
                head.push_str("\r\n");
                head.into_bytes()
            });
        // Mutations: a byte replaced, inserted or removed, or the head cut short.
        let mutation = prop_oneof![
            Just(None),
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| Some((0u8, at, byte))),
            (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(at, byte)| Some((1u8, at, byte))),
            any::<prop::sample::Index>().prop_map(|at| Some((2u8, at, 0))),
            any::<prop::sample::Index>().prop_map(|at| Some((3u8, at, 0))),
        ];
        (head, proptest::collection::vec(mutation, 0..3)).prop_map(|(mut head, mutations)| {
            for (kind, at, byte) in mutations.into_iter().flatten() {
                let at = at.index(head.len().max(1)).min(head.len());
                match kind {
                    0 if at < head.len() => head[at] = byte,
                    1 => head.insert(at, byte),
                    2 if at < head.len() => {
                        head.remove(at);
                    }
                    3 => head.truncate(at),
                    _ => {}
                }
            }
            head
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_bytes_are_a_stream_httparse_agrees_with_or_left_to_actix_web(
            bytes in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            agrees_with_httparse(&bytes)?;
        }

        #[test]
        fn stream_heads_and_their_mutations_are_read_as_httparse_reads_them(head in stream_heads()) {
            agrees_with_httparse(&head)?;
        }
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
