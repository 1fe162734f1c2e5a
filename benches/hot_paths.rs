//! Hot paths of the fan-out: framing an event as SSE bytes, publishing one event to many
//! in-process subscribers, and persisting a message with its event row on SQLite.
//!
//! `cargo bench --bench hot_paths` (add `-- --quick` or `-- --measurement-time 2` for a
//! fast pass).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use causerie::api::messages::insert_and_announce;
use causerie::broker::hub::RoomReceiver;
use causerie::broker::{sse, Event, Hub, Notice, Outbox};
use causerie::store::models::{NewMessage, NewRoom, NewUser};
use causerie::store::{now_micros, rooms, users, DatabaseUrl, Db, DbConn};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use diesel::Connection;

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
    group.bench_function("new_message", |b| b.iter(|| sse::frame(Some(123_456), "new_message", &payload)));
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
        let hub = Hub::new(1024);
        let mut receivers: Vec<(i64, RoomReceiver)> = (0..subscribers).flat_map(|_| hub.subscribe(&[ROOM])).collect();
        let mut next_id = 0i64;
        group.throughput(Throughput::Elements(subscribers as u64));
        group.bench_with_input(BenchmarkId::from_parameter(subscribers), &subscribers, |b, &n| {
            b.iter(|| {
                next_id += 1;
                let event = Event::stored(next_id, ROOM, "new_message", &payload);
                hub.publish(vec![Notice::Event(Arc::new(event))]);
                let taken = drain(&mut receivers);
                assert_eq!(taken, n);
            })
        });
    }
    group.finish();
}

/// A fresh SQLite database under the temp dir with one user and one room.
struct Fixture {
    db: Db,
    user_id: i64,
    room_id: i64,
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
        let user_id = users::insert(&mut conn, &user, &["chat.read", "chat.create"]).expect("user").id;
        let room = NewRoom {
            name: "bench",
            room_type: "group",
            created_by_id: user_id,
            direct_key: None,
            created_at: now,
            updated_at: now,
            last_activity_at: now,
        };
        let room_id = rooms::insert(&mut conn, &room).expect("room").id;
        drop(conn);
        Self { db, user_id, room_id, dir }
    }

    fn message<'a>(&self, content: &'a str) -> NewMessage<'a> {
        new_message(self.room_id, self.user_id, content)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn new_message(room_id: i64, sender_id: i64, content: &str) -> NewMessage<'_> {
    NewMessage { room_id, sender_id, content, message_type: "text", reply_to_id: None, created_at: now_micros() }
}

/// What `POST /messages` does in its transaction (the server's own function): the row,
/// its view, the event row.
fn persist(conn: &mut DbConn, new: &NewMessage<'_>) -> anyhow::Result<Outbox> {
    let mut outbox = Outbox::default();
    insert_and_announce(conn, &mut outbox, new, Some("Bench"), |_, _| Ok(())).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(outbox)
}

fn bench_persist(c: &mut Criterion) {
    let fixture = Fixture::new("persist");
    let content = "Shall we move the stand-up to 10:30 tomorrow?";
    let mut group = c.benchmark_group("persist_sqlite");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_transaction", |b| {
        b.iter(|| {
            let mut conn = fixture.db.get().expect("connection");
            let new = fixture.message(content);
            conn.transaction(|conn| persist(conn, &new)).expect("persist")
        })
    });

    // Concurrent senders through the server's path: `Db::write` (the writer thread).
    const SENDERS: usize = 64;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    group.throughput(Throughput::Elements(SENDERS as u64));
    group.bench_function(BenchmarkId::new("db_write_concurrent", SENDERS), |b| {
        b.iter_batched(
            || (0..SENDERS).map(|i| format!("{content} #{i}")).collect::<Vec<_>>(),
            |contents| {
                runtime.block_on(async {
                    let writes = contents.into_iter().map(|text| {
                        let (db, room_id, user_id) = (fixture.db.clone(), fixture.room_id, fixture.user_id);
                        async move {
                            db.write(move |conn| persist(conn, &new_message(room_id, user_id, &text)), |_| {}).await
                        }
                    });
                    for result in futures_util::future::join_all(writes).await {
                        result.expect("persist");
                    }
                })
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30)
}

criterion_group! { name = benches; config = config(); targets = bench_frame, bench_publish, bench_persist }
criterion_main!(benches);
