//! Hot paths of the fan-out: framing an event as SSE bytes, publishing one event to many
//! in-process subscribers, and persisting a message with its event row on SQLite.
//!
//! `cargo bench --bench hot_paths` (add `-- --quick` or `-- --measurement-time 2` for a
//! fast pass).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use causerie::broker::hub::RoomReceiver;
use causerie::broker::{sse, Event, Hub, Notice, StreamLimits};
use causerie::chat::messages::{self, Draft};
use causerie::chat::{Actor, Chat};
use causerie::config::Settings;
use causerie::domain::{EventKind, Permission, Role, RoomId, RoomType, UserId};
use causerie::store::models::{NewRoom, NewUser};
use causerie::store::{events, now_micros, rooms, users, DatabaseUrl, Db};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};

/// A `new_message` payload as the server sends it for a short text message.
fn typical_payload() -> String {
    serde_json::json!({
        "id": 123_456,
        "room_id": 42,
        "sender_id": 7,
        "sender_name": "Alice Martin",
        "content": "t=1764072000123456 seq=1234 Shall we move the stand-up to 10:30 tomorrow?",
        "message_type": "text",
        "reply_to_id": null,
        "reply_to": null,
        "is_edited": false,
        "is_deleted": false,
        "created_at": "2026-11-25T12:00:00.123456Z",
        "edited_at": null,
        "attachments": []
    })
    .to_string()
}

fn bench_frame(c: &mut Criterion) {
    let payload = typical_payload();
    let mut group = c.benchmark_group("sse_frame");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("new_message", |b| {
        b.iter(|| sse::frame(Some(123_456), EventKind::NewMessage.as_str(), &payload))
    });
    group.finish();
}

/// Drains every receiver without blocking; returns how many events were taken.
fn drain(receivers: &mut [(i64, RoomReceiver)]) -> usize {
    receivers.iter_mut().map(|(_, rx)| std::iter::from_fn(|| rx.try_recv().ok()).count()).sum()
}

fn bench_publish(c: &mut Criterion) {
    const ROOM: i64 = 1;
    let payload = typical_payload();
    let mut group = c.benchmark_group("hub_publish_and_drain");
    for subscribers in [1_000usize, 10_000] {
        let hub = Hub::new(1024, StreamLimits::NONE);
        let mut receivers: Vec<(i64, RoomReceiver)> = (0..subscribers).flat_map(|_| hub.subscribe(&[ROOM])).collect();
        let mut next_id = 0i64;
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_with_input(BenchmarkId::from_parameter(subscribers), &subscribers, |b, &n| {
            b.iter(|| {
                next_id += 1;
                let event = Event::stored(next_id, ROOM, EventKind::NewMessage.as_str(), &payload);
                hub.publish(vec![Notice::Event(Arc::new(event))]);
                let taken = drain(&mut receivers);
                assert_eq!(taken, n);
            })
        });
    }
    group.finish();
}

/// A fresh SQLite database under the temp dir with one user, a member of one room.
struct Fixture {
    chat: Chat,
    sender: Actor,
    room_id: RoomId,
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("causerie-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let url = DatabaseUrl::parse(&format!("sqlite://{}/b.db", dir.display())).expect("database url");
        let db = Db::connect(&url, 4).expect("database");
        let mut conn = db.get().expect("connection");
        let now = now_micros();
        let user = NewUser {
            username: "bench",
            display_name: "Bench",
            password_hash: "x",
            is_admin: false,
            disabled: false,
            created_at: now,
        };
        let user_id: UserId =
            users::insert(&mut conn, &user, &[Permission::Read, Permission::Create]).expect("user").id;
        let room = NewRoom {
            name: "bench",
            room_type: RoomType::Group,
            created_by_id: user_id,
            direct_key: None,
            created_at: now,
            updated_at: now,
            last_activity_at: now,
        };
        let room_id = rooms::insert(&mut conn, &room).expect("room").id;
        rooms::add_member(&mut conn, room_id, user_id, Role::Admin, now).expect("member");
        drop(conn);
        // No rate limit: the bench sends as fast as it can.
        let settings = Settings { rate_limit_per_minute: 0, ..Settings::default() };
        let sender = Actor {
            id: user_id,
            display_name: "Bench".into(),
            is_admin: false,
            permissions: vec![Permission::Read, Permission::Create],
        };
        Self { chat: Chat::new(Arc::new(settings), db), sender, room_id, dir }
    }

    /// What `POST /messages` does once its body is read: the use case, through the writer
    /// thread (membership check, message row, its view, the event row, publishing).
    async fn send(&self, content: String) {
        let draft = Draft { room_id: self.room_id, content, reply_to_id: None };
        messages::send(&self.chat, self.sender.clone(), draft).await.expect("send");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn bench_persist(c: &mut Criterion) {
    let fixture = Fixture::new("persist");
    let content = "Shall we move the stand-up to 10:30 tomorrow?";
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut group = c.benchmark_group("persist_sqlite");
    group.throughput(Throughput::Elements(1));
    group.bench_function("send_one", |b| b.iter(|| runtime.block_on(fixture.send(content.to_owned()))));

    // Concurrent senders: what queued while the writer was busy commits together.
    const SENDERS: usize = 64;
    group.throughput(Throughput::Elements(SENDERS as u64));
    group.bench_function(BenchmarkId::new("send_concurrent", SENDERS), |b| {
        b.iter_batched(
            || (0..SENDERS).map(|i| format!("{content} #{i}")).collect::<Vec<_>>(),
            |contents| {
                runtime.block_on(futures_util::future::join_all(contents.into_iter().map(|text| fixture.send(text))))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Replaying the whole log to a stream that resumes from id 0, in the server's batches: a
/// log ten times longer must take about ten times as long (each event read once).
fn bench_replay(c: &mut Criterion) {
    use diesel::connection::SimpleConnection;
    let mut group = c.benchmark_group("catch_up_replay");
    group.sample_size(10);
    for events in [30_000u64, 300_000] {
        let fixture = Fixture::new(&format!("replay-{events}"));
        let mut conn = fixture.chat.db.get().expect("connection");
        // Half the events in the reader's room, half in a room of others.
        let fill = format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {events}) \
             INSERT INTO chat_events (room_id, kind, payload, created_at) \
             SELECT CASE n % 2 WHEN 0 THEN {room} ELSE {room} + 1 END, 'new_message', \
             '{{\"id\":1,\"content\":\"Shall we move the stand-up to 10:30 tomorrow?\"}}', 0 FROM g;",
            room = fixture.room_id.get()
        );
        conn.batch_execute(&fill).expect("events");
        drop(conn);
        let reader = fixture.sender.id;
        group.throughput(Throughput::Elements(events));
        group.bench_with_input(BenchmarkId::from_parameter(events), &events, |b, _| {
            b.iter(|| {
                let mut conn = fixture.chat.db.get().expect("connection");
                let (mut after, mut read) = (0i64, 0usize);
                loop {
                    let batch = events::visible_after(&mut conn, reader, None, after, 500).expect("batch");
                    let Some(last) = batch.last() else { break };
                    after = last.id;
                    read += batch.len();
                }
                assert_eq!(read as u64, events / 2);
            })
        });
    }
    group.finish();
}

/// Rendering a message's Markdown to sanitized HTML (what `content_html` costs), and a page
/// of 50 messages read with the HTML stored (rendered on write) against the same page
/// rendered as it is read.
fn bench_markup(c: &mut Criterion) {
    use causerie::chat::messages::PageRequest;
    use causerie::domain::markup;
    let plain = "Shall we move the stand-up to 10:30 tomorrow?";
    let formatted = "**Heads up**: the `deploy` script moved, see https://example.com/wiki/deploy\n\n\
                     - run `make release`\n- then *check* the [dashboard](https://example.com/d)\n\n\
                     ```\ncargo build --release\n```";
    let mut group = c.benchmark_group("message_html");
    group.throughput(Throughput::Elements(1));
    group.bench_function("plain", |b| b.iter(|| markup::render(std::hint::black_box(plain))));
    group.bench_function("formatted", |b| b.iter(|| markup::render(std::hint::black_box(formatted))));
    group.bench_function("mentions_scan", |b| {
        b.iter(|| markup::written_mentions(std::hint::black_box("@alice could you and @bob look at it?")))
    });
    group.finish();

    let fixture = Fixture::new("markup");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for i in 0..50 {
        let text = if i % 2 == 0 { plain.to_owned() } else { formatted.to_owned() };
        runtime.block_on(fixture.send(text));
    }
    let request = PageRequest { before: None, after: None, limit: Some(50) };
    let mut group = c.benchmark_group("page_50");
    group.throughput(Throughput::Elements(50));
    group.bench_function("html_stored", |b| {
        b.iter(|| {
            runtime
                .block_on(messages::page(&fixture.chat, fixture.sender.clone(), fixture.room_id, request))
                .expect("page")
        })
    });
    group.bench_function("html_rendered_on_read", |b| {
        b.iter(|| {
            let page = runtime
                .block_on(messages::page(&fixture.chat, fixture.sender.clone(), fixture.room_id, request))
                .expect("page");
            page.messages.iter().map(|m| markup::render(&m.content).len()).sum::<usize>()
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30)
}

criterion_group! { name = benches; config = config(); targets = bench_frame, bench_publish, bench_persist, bench_replay, bench_markup }
criterion_main!(benches);
