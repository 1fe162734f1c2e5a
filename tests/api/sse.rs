//! The tests' one reader of the event stream: strict about the server's framing (a block
//! the server would never write fails the test), over a response body or over bytes read
//! off a raw socket.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// How long a test waits for the next block before calling the stream silent.
pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// `None` for an event that is not stored (typing).
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
}

/// One block of the stream: what lies between two blank lines.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Retry(u64),
    Comment(String),
    Event(SseEvent),
}

/// Parses a block as the server writes it: `retry: N`, a `: comment`, or an event of an
/// optional `id: N`, then `event: NAME`, then one `data: JSON` line, in that order.
pub fn parse_block(block: &str) -> Block {
    let bad = || -> ! { panic!("a block the server does not write: {block:?}") };
    if let Some(ms) = block.strip_prefix("retry: ") {
        return Block::Retry(ms.parse().unwrap_or_else(|_| bad()));
    }
    if let Some(comment) = block.strip_prefix(": ") {
        if comment.contains('\n') {
            bad();
        }
        return Block::Comment(comment.to_owned());
    }
    let mut lines = block.split('\n').peekable();
    let id = match lines.peek().and_then(|l| l.strip_prefix("id: ")) {
        Some(id) => {
            let id = id.parse().unwrap_or_else(|_| bad());
            lines.next();
            Some(id)
        }
        None => None,
    };
    let event = lines.next().and_then(|l| l.strip_prefix("event: ")).unwrap_or_else(|| bad()).to_owned();
    let data = lines.next().and_then(|l| l.strip_prefix("data: ")).unwrap_or_else(|| bad());
    if lines.next().is_some() {
        bad();
    }
    let data = serde_json::from_str(data).unwrap_or_else(|e| panic!("data is not JSON ({e}): {block:?}"));
    Block::Event(SseEvent { id, event, data })
}

/// Splits the complete blocks off the front of `buf`; an unfinished one stays there.
pub fn take_blocks(buf: &mut String) -> Vec<Block> {
    let mut blocks = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        blocks.push(parse_block(&buf[..end]));
        buf.drain(..end + 2);
    }
    blocks
}

/// The blocks of a stream's text, which must end with a complete block.
pub fn parse_stream(text: &str) -> Vec<Block> {
    let mut buf = text.to_owned();
    let blocks = take_blocks(&mut buf);
    assert!(buf.is_empty(), "an unfinished block at the end: {buf:?}");
    blocks
}

/// What came next on a stream.
#[derive(Debug)]
pub enum Next {
    Event(SseEvent),
    /// The response ended: `cleanly` when it was complete, not cut or reset.
    Ended {
        cleanly: bool,
    },
    /// Nothing but comments for the whole wait.
    Silent,
}

pub struct SseReader {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
    ready: std::collections::VecDeque<Block>,
    /// Every byte read so far, for failure messages.
    pub raw: String,
    /// Event kinds passed over as if they were comments.
    ignored: Vec<&'static str>,
}

/// The end of a long text, for failure messages.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(1500);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl SseReader {
    /// Opens the stream on a connection of its own, as a browser's EventSource usually gets:
    /// the server's lean stream path. (`stream_paths` covers a stream on a reused connection.)
    pub async fn open(
        user: &TestUser,
        query: &str,
        last_event_id: Option<i64>,
    ) -> (reqwest::header::HeaderMap, SseReader) {
        let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let mut rq = fresh
            .get(user.url(&format!("/stream{query}")))
            .header("cookie", format!("causerie_session={}", user.session))
            .header("accept-encoding", "gzip, br");
        if let Some(id) = last_event_id {
            rq = rq.header("last-event-id", id.to_string());
        }
        let r = expect_head(rq.send().await.unwrap(), StatusCode::OK).await;
        (r.headers().clone(), SseReader::over(r))
    }

    /// Reads the stream of a response already received.
    pub fn over(response: reqwest::Response) -> SseReader {
        SseReader {
            body: Box::pin(response.bytes_stream()),
            buf: String::new(),
            ready: Default::default(),
            raw: String::new(),
            ignored: Vec::new(),
        }
    }

    /// Passes over events of this kind from now on (`presence`, which comes whenever people
    /// sharing a room open streams, in tests about something else).
    pub fn ignoring(mut self, kind: &'static str) -> Self {
        self.ignored.push(kind);
        self
    }

    /// The next block; `Err(Some(cleanly))` when the response ended, `Err(None)` when
    /// nothing came for `wait`.
    pub async fn next_block(&mut self, wait: Duration) -> Result<Block, Option<bool>> {
        loop {
            if let Some(block) = self.ready.pop_front() {
                return Ok(block);
            }
            let chunk = match tokio::time::timeout(wait, self.body.next()).await {
                Err(_) => return Err(None),
                Ok(None) => return Err(Some(self.buf.is_empty())),
                Ok(Some(Err(_))) => return Err(Some(false)),
                Ok(Some(Ok(chunk))) => chunk,
            };
            let text = String::from_utf8(chunk.to_vec()).unwrap();
            self.raw.push_str(&text);
            self.buf.push_str(&text);
            self.ready.extend(take_blocks(&mut self.buf));
        }
    }

    /// The next event, passing over comments and `retry:`.
    pub async fn next(&mut self, wait: Duration) -> Next {
        loop {
            match self.next_block(wait).await {
                Ok(Block::Event(e)) if self.ignored.contains(&e.event.as_str()) => continue,
                Ok(Block::Event(e)) => return Next::Event(e),
                Ok(_) => continue,
                Err(Some(cleanly)) => return Next::Ended { cleanly },
                Err(None) => return Next::Silent,
            }
        }
    }

    /// The next event, which must come within `wait`.
    pub async fn event(&mut self, wait: Duration) -> SseEvent {
        match self.next(wait).await {
            Next::Event(e) => e,
            other => panic!("expected an event, got {other:?}; the stream's end: {:?}", tail(&self.raw)),
        }
    }

    /// Events until `n` of kind `kind` have arrived (others are kept too).
    pub async fn collect(&mut self, n: usize, kind: &str) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while out.iter().filter(|e: &&SseEvent| e.event == kind).count() < n {
            match self.next(Duration::from_secs(20)).await {
                Next::Event(e) => out.push(e),
                other => panic!(
                    "{other:?} after {} events, {} of them {kind}; the stream's end: {:?}",
                    out.len(),
                    out.iter().filter(|e| e.event == kind).count(),
                    tail(&self.raw)
                ),
            }
        }
        out
    }

    /// Events up to and including the `new_message` whose content is `text`.
    pub async fn until_message(&mut self, text: &str) -> Vec<SseEvent> {
        let mut out = Vec::new();
        loop {
            let e = self.event(Duration::from_secs(20)).await;
            let done = e.event == "new_message" && e.data["content"] == text;
            out.push(e);
            if done {
                return out;
            }
        }
    }

    /// Asserts that nothing but comments arrives for a while, and that the stream stays open.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        match self.next(wait).await {
            Next::Silent => {}
            other => panic!("expected a quiet stream, got {other:?}"),
        }
    }

    /// Asserts that the stream ends with a complete response within `WAIT`, with no event
    /// before its end.
    pub async fn expect_end(&mut self) {
        match self.next(WAIT).await {
            Next::Ended { cleanly: true } => {}
            Next::Silent => panic!("the stream is still open after {WAIT:?}; its end: {:?}", tail(&self.raw)),
            other => panic!("expected the stream to end with a complete response, got {other:?}"),
        }
    }
}

#[test]
fn blocks_are_read_strictly() {
    let text = "retry: 3000\n\n: ping\n\nid: 7\nevent: new_message\ndata: {\"a\":1}\n\nevent: typing\ndata: {}\n\n";
    let blocks = parse_stream(text);
    assert_eq!(blocks[0], Block::Retry(3000));
    assert_eq!(blocks[1], Block::Comment("ping".into()));
    assert_eq!(
        blocks[2],
        Block::Event(SseEvent { id: Some(7), event: "new_message".into(), data: serde_json::json!({"a": 1}) })
    );
    assert_eq!(blocks[3], Block::Event(SseEvent { id: None, event: "typing".into(), data: serde_json::json!({}) }));
    let mut partial = "id: 8\nevent: x\ndata: {}\n\nid: 9\nev".to_owned();
    assert_eq!(take_blocks(&mut partial).len(), 1);
    assert_eq!(partial, "id: 9\nev");
}

#[test]
fn blocks_the_server_never_writes_are_refused() {
    for bad in [
        "event: x\nid: 1\ndata: {}",
        "id: 1\nevent: x",
        "id: 1\nevent: x\ndata: {}\ndata: {}",
        "data: {}",
        "retry: soon",
        "id: 1\nevent: x\ndata: not json",
        "HTTP/1.1 200 OK\r\ncontent-length: 2",
    ] {
        assert!(std::panic::catch_unwind(|| parse_block(bad)).is_err(), "{bad:?}");
    }
}
