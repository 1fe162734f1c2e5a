//! The Server-Sent-Events stream, read off the wire.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: String,
    pub data: Value,
}

pub struct SseReader {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
    pub raw: String,
    /// Set when the body ended: `true` for a complete response, `false` for a broken one.
    pub ended_cleanly: Option<bool>,
}

impl SseReader {
    pub async fn open(
        user: &TestUser,
        query: &str,
        last_event_id: Option<i64>,
    ) -> (reqwest::header::HeaderMap, SseReader) {
        // A connection of its own, as a browser's EventSource usually gets: the server's
        // lean stream path. (`stream_paths` covers a stream on a reused connection.)
        let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        let mut rq = fresh
            .get(user.url(&format!("/stream{query}")))
            .header("cookie", format!("causerie_session={}", user.session))
            .header("accept-encoding", "gzip, br");
        if let Some(id) = last_event_id {
            rq = rq.header("last-event-id", id.to_string());
        }
        let r = rq.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let headers = r.headers().clone();
        (
            headers,
            SseReader { body: Box::pin(r.bytes_stream()), buf: String::new(), raw: String::new(), ended_cleanly: None },
        )
    }

    /// The next block (event, comment or retry line), or None on timeout / end.
    async fn next_block(&mut self, wait: Duration) -> Option<String> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block = self.buf[..end].to_owned();
                self.buf.drain(..end + 2);
                return Some(block);
            }
            let chunk = match tokio::time::timeout(wait, self.body.next()).await.ok()? {
                Some(Ok(chunk)) => chunk,
                Some(Err(_)) => {
                    self.ended_cleanly = Some(false);
                    return None;
                }
                None => {
                    self.ended_cleanly = Some(true);
                    return None;
                }
            };
            let text = String::from_utf8(chunk.to_vec()).unwrap();
            self.raw.push_str(&text);
            self.buf.push_str(&text);
        }
    }

    /// The next event with an `event:` field, skipping comments and `retry:`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<SseEvent> {
        loop {
            let block = self.next_block(wait).await?;
            let mut id = None;
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.parse().unwrap());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if let Some(event) = event {
                return Some(SseEvent { id, event, data: serde_json::from_str(&data).unwrap() });
            }
        }
    }

    /// Events until `n` of kind `kind` have arrived (others are kept too).
    pub async fn collect(&mut self, n: usize, kind: &str) -> Vec<SseEvent> {
        let mut out = Vec::new();
        while out.iter().filter(|e: &&SseEvent| e.event == kind).count() < n {
            match self.next_event(Duration::from_secs(20)).await {
                Some(e) => out.push(e),
                None => panic!(
                    "stream ended or stalled after {} events: {:?}; raw: {:?}",
                    out.len(),
                    out.iter().map(|e| &e.event).collect::<Vec<_>>(),
                    self.raw
                ),
            }
        }
        out
    }

    /// Asserts that nothing but pings arrives for a while.
    pub async fn expect_quiet(&mut self, wait: Duration) {
        if let Some(e) = self.next_event(wait).await {
            panic!("unexpected event {e:?}");
        }
    }
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn the_stream_opens_with_its_headers_and_retry() {
    let app = spawn_app().await;
    let (headers, mut sse) = SseReader::open(&app.admin, "", None).await;
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    assert_eq!(headers.get("cache-control").unwrap(), "no-cache");
    assert_eq!(headers.get("x-accel-buffering").unwrap(), "no");
    assert!(headers.get("content-encoding").is_none_or(|v| v == "identity"), "never compressed");
    let first = sse.next_block(WAIT).await.unwrap();
    assert_eq!(first, "retry: 3000");
}

#[tokio::test]
async fn every_event_kind_reaches_the_room() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Live", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    let sent = app.admin.send(room, "hello").await;
    let id = sent["id"].as_i64().unwrap();
    app.admin.patch(&format!("/messages/{id}"), &json!({"content": "hello!"})).await;
    app.admin.post(&format!("/rooms/{room}/typing"), &json!({})).await;
    app.admin.post(&format!("/rooms/{room}/read"), &json!({"message_id": id})).await;
    app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": bob.id})).await;
    app.admin.patch(&format!("/rooms/{room}/members/{}", bob.id), &json!({"role": "moderator"})).await;
    app.admin.patch(&format!("/rooms/{room}"), &json!({"name": "Live!"})).await;
    app.admin.delete(&format!("/messages/{id}")).await;
    app.admin.delete(&format!("/rooms/{room}/members/{}", bob.id)).await;
    let events = sse.collect(1, "member_left").await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "new_message",
            "message_updated",
            "typing",
            "read",
            "member_joined",
            "new_message",
            "new_message",
            "member_updated",
            "new_message",
            "room_updated",
            "message_deleted",
            "member_left",
        ]
    );
    assert_eq!(events[0].data, sent);
    assert_eq!(events[1].data["content"], "hello!");
    assert_eq!(events[2].id, None, "typing is not stored");
    assert_eq!(events[2].data, json!({"room_id": room, "user_id": app.admin.id, "display_name": "Administrator"}));
    assert_eq!(events[3].data["message_id"], id);
    assert_eq!(events[4].data["member"]["username"], "bob");
    assert_eq!(events[9].data["name"], "Live!");
    assert_eq!(events[9].data["last_message"]["content"], "Administrator renamed the room to Live!");
    assert!(events[9].data.get("my_role").is_none());
    assert_eq!(events[10].data, json!({"id": id, "room_id": room}));
    let ids: Vec<i64> = events.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids strictly increase: {ids:?}");
    assert!(sse.raw.contains(&format!("id: {}\nevent: new_message\ndata: {{", ids[0])));
}

#[tokio::test]
async fn resuming_replays_exactly_the_missed_events() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Resume", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    app.admin.send(room, "one").await;
    let first = sse.collect(1, "new_message").await;
    let last_id = first.last().unwrap().id.unwrap();
    drop(sse);
    for i in 0..30 {
        app.admin.send(room, &format!("missed {i}")).await;
    }
    let (_, mut sse) = SseReader::open(&alice, "", Some(last_id)).await;
    app.admin.send(room, "live").await;
    let events = sse.collect(31, "new_message").await;
    let texts: Vec<&str> = events.iter().map(|e| e.data["content"].as_str().unwrap()).collect();
    let mut expected: Vec<String> = (0..30).map(|i| format!("missed {i}")).collect();
    expected.push("live".into());
    assert_eq!(texts, expected);
    let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids[0] > last_id && ids.windows(2).all(|w| w[0] < w[1]));
    sse.expect_quiet(Duration::from_millis(300)).await;
    // The query parameter resumes too (a page reload).
    let (_, mut again) = SseReader::open(&alice, &format!("?last_event_id={}", ids[28]), None).await;
    let tail = again.collect(2, "new_message").await;
    assert_eq!(tail.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(), ids[29..]);
}

#[tokio::test]
async fn concurrent_senders_reach_a_subscriber_once_in_order() {
    let app = spawn_app().await;
    let mut senders = Vec::new();
    for i in 0..20 {
        senders.push(app.user(&format!("sender{i}")).await);
    }
    let refs: Vec<&TestUser> = senders.iter().collect();
    let room = app.admin.create_room("group", "Crowd", &refs).await;
    let (_, mut live) = SseReader::open(&app.admin, &format!("?room_id={room}"), None).await;
    let (_, mut interrupted) = SseReader::open(&app.admin, "", None).await;
    let mut tasks = Vec::new();
    for sender in senders.clone() {
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                sender.send(room, &format!("{} {i}", sender.username)).await;
            }
        }));
    }
    // A second stream drops out half way and resumes by id while the senders go on.
    let first_half = interrupted.collect(500, "new_message").await;
    let resume_from = first_half.iter().filter_map(|e| e.id).max().unwrap();
    drop(interrupted);
    let (_, mut resumed) = SseReader::open(&app.admin, "", Some(resume_from)).await;
    for t in tasks {
        t.await.unwrap();
    }
    let events = live.collect(1000, "new_message").await;
    let second_half = resumed.collect(1000 - count(&first_half), "new_message").await;
    for (name, events) in [("live", events), ("resumed", [first_half, second_half].concat())] {
        let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name}: strictly ascending ids");
        let mut messages: Vec<i64> =
            events.iter().filter(|e| e.event == "new_message").map(|e| e.data["id"].as_i64().unwrap()).collect();
        let total = messages.len();
        messages.sort_unstable();
        messages.dedup();
        assert_eq!((total, messages.len()), (1000, 1000), "{name}: every message exactly once");
    }
    live.expect_quiet(Duration::from_millis(300)).await;
    resumed.expect_quiet(Duration::from_millis(300)).await;
}

fn count(events: &[SseEvent]) -> usize {
    events.iter().filter(|e| e.event == "new_message").count()
}

#[tokio::test]
async fn a_slow_reader_with_a_tiny_channel_still_gets_everything_in_order() {
    let app = spawn_app_with(|s| s.channel_capacity = 2).await;
    let room = app.admin.create_room("group", "Flood", &[]).await;
    let (_, sse) = SseReader::open(&app.admin, "", None).await;
    // Far more than the socket buffers hold while nobody reads: the stream stalls on its
    // socket and its channel overflows.
    let total = 1500;
    let padding = "x".repeat(9_000);
    for i in 0..total {
        app.admin.send(room, &format!("{i} {padding}")).await;
    }
    // The server catches the stream up from the log, or ends it and the client resumes by id.
    let mut sse = sse;
    let mut texts = Vec::new();
    let mut last_id = None;
    while texts.len() < total {
        match sse.next_event(Duration::from_secs(20)).await {
            Some(e) if e.event == "new_message" => {
                assert!(last_id.is_none_or(|l| e.id.unwrap() > l), "ascending ids");
                last_id = e.id;
                texts.push(e.data["content"].as_str().unwrap().split(' ').next().unwrap().to_owned());
            }
            Some(_) => {}
            None => sse = SseReader::open(&app.admin, "", last_id).await.1,
        }
    }
    assert_eq!(texts, (0..total).map(|i| i.to_string()).collect::<Vec<_>>());
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("causerie_sse_lagged_total 0\n"), "the channel did overflow");
}

#[tokio::test]
async fn membership_changes_take_effect_on_open_streams() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Door", &[]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    app.admin.send(room, "before alice").await;
    app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": alice.id})).await;
    app.admin.send(room, "welcome").await;
    let events = sse.collect(2, "new_message").await;
    assert_eq!(events[0].event, "member_joined");
    assert_eq!(events[1].data["content"], "Administrator added Alice");
    assert_eq!(events[2].data["content"], "welcome");
    app.admin.delete(&format!("/rooms/{room}/members/{}", alice.id)).await;
    let left = sse.collect(1, "member_left").await;
    assert_eq!(left[0].data["member"]["user_id"], alice.id);
    app.admin.send(room, "after alice").await;
    sse.expect_quiet(Duration::from_millis(500)).await;
    // A direct room made by somebody else shows up at once.
    let bob = app.user("bob").await;
    bob.post("/rooms", &json!({"room_type": "direct", "member_ids": [alice.id]})).await;
    let dm = sse.collect(1, "member_joined").await;
    assert_eq!(dm.len(), 1);
    assert_eq!(dm[0].data["member"]["user_id"], alice.id);
}

#[tokio::test]
async fn a_room_stream_ends_when_its_member_is_removed_or_disabled() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Door", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, &format!("?room_id={room}"), None).await;
    app.admin.delete(&format!("/rooms/{room}/members/{}", alice.id)).await;
    let left = sse.collect(1, "member_left").await;
    assert_eq!(left.len(), 1);
    assert!(sse.next_event(WAIT).await.is_none(), "the stream ends");
    assert_eq!(sse.ended_cleanly, Some(true), "the stream ends with a complete response, not a timeout or a reset");
    let bob = app.user("bob").await;
    let (_, mut all) = SseReader::open(&bob, "", None).await;
    app.admin.patch(&format!("/admin/users/{}", bob.id), &json!({"disabled": true})).await;
    assert!(all.next_event(WAIT).await.is_none(), "a disabled user's stream ends");
}

#[tokio::test]
async fn expired_or_foreign_ids_get_reset() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Old", &[]).await;
    app.admin.send(room, "ancient").await;
    let (_, mut sse) = SseReader::open(&app.admin, "", Some(1_000_000)).await;
    let reset = sse.next_event(WAIT).await.unwrap();
    assert_eq!(reset.event, "reset");
    let latest = reset.id.unwrap();
    app.admin.send(room, "fresh").await;
    let next = sse.collect(1, "new_message").await;
    assert!(next[0].id.unwrap() > latest);
    // Retention removed the early events: resuming from before them resets.
    let db = app.state.db.clone();
    let pruned = db
        .run(|conn| {
            causerie::store::events::prune(conn, causerie::store::now_micros() + 1)
                .map_err(causerie::error::ApiError::from)
        })
        .await
        .unwrap();
    assert!(pruned > 0);
    let (_, mut old) = SseReader::open(&app.admin, "", Some(1)).await;
    assert_eq!(old.next_event(WAIT).await.unwrap().event, "reset");
}

#[tokio::test]
async fn pings_keep_idle_streams_alive() {
    let app = spawn_app_with(|s| s.sse_ping_seconds = 2).await;
    let (_, mut sse) = SseReader::open(&app.admin, "", None).await;
    assert_eq!(sse.next_block(WAIT).await.unwrap(), "retry: 3000");
    // Never silent for much longer than the interval: not after opening, not between pings
    // (the slack is for a busy machine; a whole second interval would exceed it).
    let most = Duration::from_millis(3_000);
    let opened = std::time::Instant::now();
    assert_eq!(sse.next_block(WAIT).await.unwrap(), ": ping");
    assert!(opened.elapsed() < most, "first ping after {:?}", opened.elapsed());
    let pinged = std::time::Instant::now();
    assert_eq!(sse.next_block(WAIT).await.unwrap(), ": ping", "an idle stream pings on every interval");
    assert!(pinged.elapsed() < most, "second ping after {:?}", pinged.elapsed());
}

#[tokio::test]
async fn disconnected_clients_leave_no_subscriber_behind() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Gone", &[]).await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(SseReader::open(&app.admin, "", None).await.1);
    }
    streams.push(SseReader::open(&app.admin, &format!("?room_id={room}"), None).await.1);
    assert_eq!(app.state.hub.subscriber_count(), 6);
    drop(streams);
    // The server notices a closed socket when it next writes: give it something to write.
    for i in 0..100 {
        app.admin.send(room, "poke").await;
        if app.state.hub.subscriber_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20 + i)).await;
    }
    assert_eq!(app.state.hub.subscriber_count(), 0);
    assert_eq!(app.state.hub.room_channels(), 0);
}

#[tokio::test]
async fn typing_is_rate_limited() {
    let app = spawn_app_with(|s| s.typing_per_minute = 2).await;
    let room = app.admin.create_room("group", "Typing", &[]).await;
    for _ in 0..2 {
        assert_eq!(app.admin.post(&format!("/rooms/{room}/typing"), &json!({})).await.status(), StatusCode::NO_CONTENT);
    }
    let r = app.admin.post(&format!("/rooms/{room}/typing"), &json!({})).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

type LogLines = std::io::Lines<std::io::BufReader<std::process::ChildStderr>>;

/// The built binary serving on a free port with a database in `dir`, JSON logs on a pipe:
/// the process, its port (read from its log) and the rest of its log.
fn spawn_binary(dir: &tempfile::TempDir) -> (std::process::Child, u64, LogLines) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_causerie"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(["--database", &format!("sqlite://{}", dir.path().join("t.db").display())])
        .env("CAUSERIE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CAUSERIE_LOG_FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("the server logs its port").unwrap();
        let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if entry["message"] == "listening" {
            break entry["port"].as_u64().unwrap();
        }
    };
    (child, port, lines)
}

/// Waits up to 20 s for the process to exit with success; kills it otherwise.
async fn stops_cleanly(child: &mut std::process::Child) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("the server did not stop");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn sigterm_ends_streams_and_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, lines) = spawn_binary(&dir);
    std::thread::spawn(move || lines.for_each(drop));
    let admin = login(&format!("http://127.0.0.1:{port}"), "admin", ADMIN_PASSWORD).await;
    let (_, mut sse) = SseReader::open(&admin, "", None).await;
    assert_eq!(sse.next_block(WAIT).await.unwrap(), "retry: 3000");
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert!(sse.next_event(WAIT).await.is_none(), "the stream ends");
    assert_eq!(sse.ended_cleanly, Some(true), "the stream ends with a complete response, not a timeout or a reset");
    stops_cleanly(&mut child).await;
}

#[tokio::test]
async fn sigterm_stops_the_server_when_its_log_reader_has_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, lines) = spawn_binary(&dir);
    // The log collector goes away: every later log line meets a closed pipe.
    drop(lines);
    let r = client().get(format!("http://127.0.0.1:{port}/chat/api/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NOT_FOUND, "requests are still answered");
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    stops_cleanly(&mut child).await;
}

#[tokio::test]
async fn idle_streams_cost_no_database_calls() {
    let app = spawn_app_with(|s| s.sse_ping_seconds = 1).await;
    let mut rooms = Vec::new();
    for i in 0..5 {
        rooms.push(app.admin.create_room("group", &format!("Quiet {i}"), &[]).await);
    }
    let mut streams = Vec::new();
    for i in 0..20 {
        let query = if i % 2 == 0 { String::new() } else { format!("?room_id={}", rooms[i % 5]) };
        streams.push(SseReader::open(&app.admin, &query, None).await.1);
    }
    for sse in streams.iter_mut() {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), "retry: 3000");
    }
    let before = app.state.db.calls();
    // Two ping intervals: every stream is alive and writing, none asks the database.
    for sse in streams.iter_mut() {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), ": ping");
    }
    for sse in streams.iter_mut() {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), ": ping");
    }
    assert_eq!(app.state.db.calls(), before);
}
