//! One SSE subscriber: connects, checks the response, then parses the stream and records
//! each stamped delivery until told to stop.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

use crate::http::{read_head, Framing, Url};
use crate::sse::{Dispatched, Parser};
use crate::stats::{parse_stamp, wall_micros, Histogram, Slots};

const READ_BUFFER: usize = 4096;

/// State shared by every subscriber of a run.
pub struct Shared {
    pub rooms: usize,
    pub slots: Slots,
    pub latency: Histogram,
    /// Latency of the deliveries to subscribers on another server than the room's publisher.
    pub latency_cross: Histogram,
    pub received: AtomicU64,
    /// Subscribers whose connection attempt ended (connected or failed).
    pub attempts_done: AtomicU64,
    /// Connected subscribers per room.
    pub connected: Vec<AtomicU64>,
}

impl Shared {
    /// Each published message is expected once by every connected subscriber of its room.
    pub fn expected_deliveries(&self) -> u64 {
        (0..self.slots.len())
            .filter(|seq| self.slots.published[*seq].load(Relaxed))
            .map(|seq| self.connected[seq % self.rooms].load(Relaxed))
            .sum()
    }
}

/// What one subscriber saw.
#[derive(Default)]
pub struct Outcome {
    pub room: usize,
    pub connected: bool,
    pub connect_us: u64,
    pub error: Option<String>,
    /// The server ended the stream before the run did.
    pub ended_early: bool,
    pub tally: Tally,
}

/// Per-subscriber delivery accounting (sequence numbers are per room).
#[derive(Default)]
pub struct Tally {
    /// Its deliveries also count as crossing servers.
    cross_node: bool,
    seen: Vec<u64>,
    last: Option<u64>,
    pub unique: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    /// Events without a stamp (other event kinds) or stamped for another room.
    pub foreign: u64,
    /// `event: reset` (the server could not resume the stream).
    pub resets: u64,
    /// Numeric event ids that did not increase along the stream.
    pub id_regressions: u64,
    last_id: Option<u64>,
}

impl Tally {
    fn on_event(&mut self, room: usize, event: &Dispatched<'_>, shared: &Shared) {
        if event.event == b"reset" {
            self.resets += 1;
        }
        let id = std::str::from_utf8(event.id).ok().and_then(|id| id.parse::<u64>().ok());
        if let (Some(id), Some(last)) = (id, self.last_id) {
            if id <= last {
                self.id_regressions += 1;
            }
        }
        self.last_id = id.or(self.last_id);
        self.record(room, event.data, shared);
    }

    fn record(&mut self, room: usize, data: &[u8], shared: &Shared) {
        let now = wall_micros();
        let Some((sent, seq)) = parse_stamp(data) else {
            self.foreign += 1;
            return;
        };
        let seq = seq as usize;
        if seq >= shared.slots.len() || seq % shared.rooms != room {
            self.foreign += 1;
            return;
        }
        shared.latency.record(now.saturating_sub(sent));
        if self.cross_node {
            shared.latency_cross.record(now.saturating_sub(sent));
        }
        shared.slots.delivered(seq, now);
        shared.received.fetch_add(1, Relaxed);
        let position = (seq / shared.rooms) as u64;
        let (word, bit) = ((position / 64) as usize, 1u64 << (position % 64));
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & bit != 0 {
            self.duplicated += 1;
            return;
        }
        self.seen[word] |= bit;
        self.unique += 1;
        if self.last.is_some_and(|last| position < last) {
            self.out_of_order += 1;
        }
        self.last = Some(self.last.map_or(position, |last| last.max(position)));
    }
}

pub struct Subscription {
    pub room: usize,
    pub addr: Url,
    /// On another server than the one its room's messages are published on.
    pub cross_node: bool,
    pub request: Arc<Vec<u8>>,
    pub connect_timeout: Duration,
}

/// Runs one subscriber until `stop` turns true or the stream ends.
pub async fn run(sub: Subscription, shared: Arc<Shared>, gate: Arc<Semaphore>, stop: watch::Receiver<bool>) -> Outcome {
    let mut outcome = Outcome { room: sub.room, ..Outcome::default() };
    let started = Instant::now();
    let opened = {
        let _permit = gate.acquire().await;
        tokio::time::timeout(sub.connect_timeout, open(&sub))
            .await
            .unwrap_or_else(|_| Err(anyhow!("connect timed out")))
    };
    shared.attempts_done.fetch_add(1, Relaxed);
    let (stream, leftover, framing) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            outcome.error = Some(format!("{error:#}"));
            return outcome;
        }
    };
    outcome.connected = true;
    outcome.connect_us = started.elapsed().as_micros() as u64;
    shared.connected[sub.room].fetch_add(1, Relaxed);
    let mut body = Body {
        room: sub.room,
        framing,
        parser: Parser::new(),
        tally: Tally { cross_node: sub.cross_node, ..Tally::default() },
    };
    let result = body.pump(stream, &leftover, &shared, stop).await;
    match result {
        Ok(ended_early) => outcome.ended_early = ended_early,
        Err(error) => outcome.error = Some(format!("{error:#}")),
    }
    outcome.tally = body.tally;
    outcome
}

/// Connects and reads the response head; refuses anything but `200 text/event-stream`.
async fn open(sub: &Subscription) -> Result<(TcpStream, Vec<u8>, Framing)> {
    let mut stream = TcpStream::connect(sub.addr.addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(&sub.request).await?;
    let mut buf = Vec::new();
    let head = read_head(&mut stream, &mut buf).await?;
    ensure!(head.status == 200, "subscribe: HTTP {}", head.status);
    Ok((stream, buf, head.framing))
}

struct Body {
    room: usize,
    framing: Framing,
    parser: Parser,
    tally: Tally,
}

impl Body {
    /// Reads the stream; `Ok(true)` when the server ended it first.
    async fn pump(
        &mut self,
        mut stream: TcpStream,
        leftover: &[u8],
        shared: &Shared,
        mut stop: watch::Receiver<bool>,
    ) -> Result<bool> {
        if !self.feed(leftover, shared)? {
            return Ok(true);
        }
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(false),
                read = stream.read(&mut buf) => {
                    let n = read?;
                    if n == 0 || !self.feed(&buf[..n], shared)? {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Decodes the transfer framing and parses events; false once the body has ended.
    fn feed(&mut self, bytes: &[u8], shared: &Shared) -> Result<bool> {
        let Self { room, framing, parser, tally } = self;
        let room = *room;
        let mut on_event = |event: &Dispatched<'_>| tally.on_event(room, event, shared);
        match framing {
            Framing::Chunked(decoder) => {
                decoder.feed(bytes, &mut |chunk| parser.feed(chunk, &mut on_event))?;
                Ok(!decoder.is_done())
            }
            Framing::Length(remaining) => {
                let take = (*remaining).min(bytes.len());
                parser.feed(&bytes[..take], &mut on_event);
                *remaining -= take;
                Ok(*remaining > 0)
            }
            Framing::UntilClose => {
                parser.feed(bytes, &mut on_event);
                Ok(true)
            }
        }
    }
}
