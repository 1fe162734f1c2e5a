//! What presence adds to a connect storm: 10,000 users each open a stream, through the
//! real open path (registration, the membership read, subscribing), on SQLite. Each user is
//! in two groups of 20, so every change has about 38 people to tell.
//!
//! ```text
//! cargo bench --bench presence_storm --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p BENCH_BINARY setup
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p BENCH_BINARY open
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p BENCH_BINARY presence
//! ```
//!
//! `setup` seeds the database only; `open` also opens the streams (presence state is kept,
//! nothing is announced); `presence` also announces every change in batches of 500, as the
//! announcer does for each 100 ms of a storm, delivering each event to its streams. The cost
//! per stream opened is (open - setup) / N without presence and (presence - setup) / N with
//! it. Instruction counts (callgrind) stay comparable on a loaded machine; the wall and CPU
//! times printed are not.

use std::sync::Arc;
use std::time::Instant;

use causerie::chat::streams::{self, StreamRequest};
use causerie::chat::{presence, Actor, Chat};
use causerie::config::Settings;
use causerie::domain::{Permission, Role, RoomId, RoomType, UserId};
use causerie::store::models::{NewRoom, NewUser};
use causerie::store::{now_micros, rooms, users, DatabaseUrl, Db};
use diesel::Connection;

const USERS: usize = 10_000;
const GROUP: usize = 20;
const BATCH: usize = 500;

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn seed(db: &Db) -> Vec<Actor> {
    let mut conn = db.get().expect("connection");
    let now = now_micros();
    let permissions = [Permission::Read, Permission::Create];
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        let mut ids = Vec::with_capacity(USERS);
        for i in 0..USERS {
            let name = format!("u{i}");
            let user = NewUser {
                username: &name,
                display_name: &name,
                password_hash: "x",
                is_admin: false,
                disabled: false,
                created_at: now,
            };
            ids.push(users::insert(conn, &user, &permissions)?.id);
        }
        // Two partitions into groups of GROUP: consecutive users, and users spread by a stride.
        for partition in 0..2 {
            for g in 0..USERS / GROUP {
                let room = NewRoom {
                    name: "g",
                    room_type: RoomType::Group,
                    created_by_id: ids[0],
                    direct_key: None,
                    created_at: now,
                    updated_at: now,
                    last_activity_at: now,
                };
                let room_id: RoomId = rooms::insert(conn, &room)?.id;
                for k in 0..GROUP {
                    let i = g * GROUP + k;
                    let member = if partition == 0 { i } else { (i * 37) % USERS };
                    rooms::add_member(conn, room_id, ids[member], Role::Member, now)?;
                }
            }
        }
        Ok(ids
            .into_iter()
            .map(|id: UserId| Actor {
                id,
                display_name: String::new(),
                is_admin: false,
                permissions: permissions.to_vec(),
            })
            .collect())
    })
    .expect("seed")
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "presence".into());
    assert!(["setup", "open", "presence"].contains(&mode.as_str()), "mode: setup | open | presence");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::parse(&format!("sqlite://{}/b.db", dir.path().display())).expect("url");
    let db = Db::connect(&url, 4).expect("database");
    let actors = seed(&db);
    let settings = Settings { max_streams: USERS * 2, ..Settings::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    runtime.block_on(async {
        let chat = Chat::new(Arc::new(settings), db);
        if mode == "setup" {
            return;
        }
        let mut open = Vec::with_capacity(USERS);
        for (n, actor) in actors.into_iter().enumerate() {
            let stream = streams::open(&chat, actor, 0, StreamRequest::default()).await.expect("stream");
            open.push(stream);
            if (n + 1) % BATCH == 0 {
                let changes = chat.hub.presence.take_ready();
                if mode == "presence" {
                    presence::announce(&chat, changes).await;
                }
            }
        }
        drop(open);
    });
    println!(
        "{mode}: {USERS} users, cpu {:.2} s, wall {:.2} s (noisy on a shared machine)",
        cpu_seconds() - cpu,
        wall.elapsed().as_secs_f64()
    );
}
