//! `search`: search latency over a large history, and what the search index costs a send.
//!
//! Fills a database with `--messages` messages (50 rooms, the searcher in 10 of them) and
//! times `chat::search::search` (the use case behind `GET /chat/api/search`: the full-text
//! query, the membership filter, the views and the highlights) for a mix of queries, then
//! prints p50 / p95 / max per kind of query. SQLite always; PostgreSQL too with
//! `--postgres URL` (a user who may create databases: a scratch database is made and
//! dropped). On SQLite it then sends messages through `chat::messages::send` (64 at once,
//! as the persist bench does) with the index's triggers and without them, alternately.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use causerie::chat::messages::{send, Draft};
use causerie::chat::search::{search, SearchRequest};
use causerie::chat::{Actor, Chat};
use causerie::config::Settings;
use causerie::domain::{Permission, RoomId, UserId};
use causerie::store::{DatabaseUrl, Db};
use diesel::connection::SimpleConnection;

const ROOMS: i64 = 50;
const MY_ROOMS: i64 = 10;

/// A small deterministic generator (xorshift), so every run searches the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Skewed towards small indexes, as word frequencies are.
    fn skewed(&mut self, n: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((u * u * u) * n as f64) as usize
    }
}

fn vocabulary() -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "pa", "ré", "ço", "bu", "fe", "gi", "ho", "ja", "ké",
        "li", "mo", "nu", "pé", "qui", "zo",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut words = Vec::new();
    while words.len() < 3000 {
        let n = 2 + rng.below(3);
        let word: String = (0..n).map(|_| SYLLABLES[rng.below(SYLLABLES.len())]).collect();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

fn message(rng: &mut Rng, words: &[String]) -> String {
    let n = 5 + rng.below(16);
    let mut text: Vec<&str> = (0..n).map(|_| words[rng.skewed(words.len())].as_str()).collect();
    if rng.below(10) == 0 {
        text.push("(see https://example.com/docs?id=42)");
    }
    text.join(" ")
}

/// Fills the database: users, rooms, memberships, then the messages in transactions of
/// 5,000 (the search index is kept by the migration's triggers or generated column).
fn fill(db: &Db, messages: usize, words: &[String]) -> Duration {
    let mut conn = db.get().expect("connection");
    let mut sql = String::from(
        "INSERT INTO users (id, username, display_name, password_hash, is_admin, disabled, created_at) VALUES \
         (1000, 'searcher', 'Searcher', 'x', false, false, 0), (1001, 'other', 'Other', 'x', false, false, 0);",
    );
    for room in 1..=ROOMS {
        sql += &format!(
            "INSERT INTO chat_rooms (id, name, room_type, created_by_id, created_at, updated_at, last_activity_at) \
             VALUES ({room}, 'room {room}', 'group', 1001, 0, 0, 0); \
             INSERT INTO chat_room_members (room_id, user_id, role, joined_at) VALUES ({room}, 1001, 'admin', 0);"
        );
        if room <= MY_ROOMS {
            sql += &format!(
                "INSERT INTO chat_room_members (room_id, user_id, role, joined_at) VALUES ({room}, 1000, 'member', 0);"
            );
        }
    }
    conn.batch_execute(&sql).expect("users and rooms");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let started = Instant::now();
    let mut id = 0usize;
    while id < messages {
        let mut batch = String::from(
            "BEGIN; INSERT INTO chat_messages (room_id, sender_id, content, message_type, created_at) VALUES ",
        );
        for i in 0..5000.min(messages - id) {
            let room = 1 + rng.below(ROOMS as usize);
            let sender = if rng.below(2) == 0 { 1000 } else { 1001 };
            let text = message(&mut rng, words).replace('\'', "''");
            if i > 0 {
                batch.push(',');
            }
            batch += &format!("({room}, {sender}, '{text}', 'text', {})", id as i64 * 1000);
            id += 1;
        }
        batch.push_str("; COMMIT;");
        conn.batch_execute(&batch).expect("messages");
    }
    started.elapsed()
}

/// The kinds of query timed, from the vocabulary by frequency rank.
fn queries(words: &[String]) -> Vec<(&'static str, String)> {
    let prefix = |w: &str| w.chars().take(3).collect::<String>();
    vec![
        ("common word", words[0].clone()),
        ("frequent word", words[20].clone()),
        ("mid word", words[400].clone()),
        ("rare word", words[2900].clone()),
        ("3-letter prefix", prefix(&words[5])),
        ("two words", format!("{} {}", words[3], words[40])),
        ("phrase", format!("\"{} {}\"", words[0], words[1])),
        (
            "accent-free spelling",
            words.iter().find(|w| w.contains('é')).map(|w| w.replace('é', "e")).unwrap_or_default(),
        ),
        ("no match", "zzzyx".to_owned()),
        ("punctuation", "https://example.com".to_owned()),
    ]
}

/// CPU time of this process so far (user + system), from /proc; zero where there is none.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name;
    // the kernel counts them in USER_HZ, 100 per second on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn run(backend: &str, url: &str, messages: usize, rounds: usize) {
    let db = Db::connect(&DatabaseUrl::parse(url).expect("database url"), 4).expect("database");
    let words = vocabulary();
    let took = fill(&db, messages, &words);
    if backend == "PostgreSQL" {
        // What autovacuum does after this many inserts; the planner needs the statistics.
        db.get().expect("connection").batch_execute("ANALYZE").expect("analyze");
    }
    println!(
        "{backend}: {messages} messages stored in {:.1} s ({:.0} messages/s, index included, batches of 5,000)",
        took.as_secs_f64(),
        messages as f64 / took.as_secs_f64()
    );
    let settings = Settings { search_per_minute: 0, ..Settings::default() };
    let chat = Chat::new(Arc::new(settings), db);
    let searcher = Actor {
        id: UserId(1000),
        display_name: "Searcher".into(),
        is_admin: false,
        permissions: vec![Permission::Read],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut all = Vec::new();
    let cpu_before = process_cpu();
    println!("| {backend} query | results | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (kind, q) in queries(&words) {
        for filter_room in [None, Some(RoomId(1))] {
            let mut times = Vec::with_capacity(rounds);
            let mut found = 0;
            for _ in 0..rounds {
                let request = SearchRequest { q: Some(q.clone()), room_id: filter_room, ..SearchRequest::default() };
                let started = Instant::now();
                let page = runtime.block_on(search(&chat, searcher.clone(), request)).expect("search");
                times.push(started.elapsed());
                found = page.results.len();
            }
            times.sort();
            all.extend_from_slice(&times);
            let label = if filter_room.is_some() { format!("{kind}, one room") } else { kind.to_owned() };
            println!(
                "| {label} (`{q}`) | {found} | {} | {} | {} |",
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.95)),
                ms(times[times.len() - 1])
            );
        }
    }
    let cpu = process_cpu().saturating_sub(cpu_before);
    all.sort();
    println!(
        "{backend}: all {} searches: p50 {} ms, p95 {} ms, p99 {} ms; CPU of this process per search {} ms",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.95)),
        ms(percentile(&all, 0.99)),
        ms(cpu / all.len().max(1) as u32)
    );
}

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// Messages in the history searched
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Times each query runs
    #[arg(long, default_value_t = 40)]
    rounds: usize,
    /// Also on PostgreSQL: the URL of a database whose user may create databases
    #[arg(long)]
    postgres: Option<String>,
    /// Messages sent per persist run (0: no persist runs)
    #[arg(long, default_value_t = 20_000)]
    persist: usize,
}

pub fn run_all(args: &SearchArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("causerie-bench-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    run("SQLite", &format!("sqlite://{}/search.db", dir.display()), args.messages, args.rounds);
    let _ = std::fs::remove_dir_all(&dir);
    if args.persist > 0 {
        persist_runs(&dir, args.persist)?;
        let _ = std::fs::remove_dir_all(&dir);
    }

    let Some(base) = args.postgres.clone() else {
        println!("PostgreSQL skipped: no --postgres URL");
        return Ok(());
    };
    use diesel::{Connection, PgConnection, RunQueryDsl};
    causerie::store::prepare_postgres();
    let name = format!("causerie_bench_search_{}", std::process::id());
    let mut admin = PgConnection::establish(&base).context("--postgres does not answer")?;
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).context("create database")?;
    let (prefix, _) = base.rsplit_once('/').context("a database URL ends in /DBNAME")?;
    let url = format!("{prefix}/{name}");
    let (messages, rounds) = (args.messages, args.rounds);
    let outcome = std::panic::catch_unwind(|| run("PostgreSQL", &url, messages, rounds));
    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    Ok(())
}

/// Messages per second through the use case, 64 senders at once, with the search index's
/// triggers and without them (dropped, then put back), three times each, alternately.
fn persist_runs(dir: &std::path::Path, count: usize) -> Result<()> {
    const TRIGGERS: &str = "chat_messages_fts_insert";
    let url = format!("sqlite://{}/persist.db", dir.display());
    let db = Db::connect(&DatabaseUrl::parse(&url).map_err(|e| anyhow::anyhow!("{e}"))?, 4)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
    conn.batch_execute(
        "INSERT INTO users (id, username, display_name, password_hash, is_admin, disabled, created_at) \
         VALUES (1000, 'sender', 'Sender', 'x', false, false, 0); \
         INSERT INTO chat_rooms (id, name, room_type, created_by_id, created_at, updated_at, last_activity_at) \
         VALUES (1, 'room', 'group', 1000, 0, 0, 0); \
         INSERT INTO chat_room_members (room_id, user_id, role, joined_at) VALUES (1, 1000, 'admin', 0);",
    )?;
    let trigger: String = {
        #[derive(diesel::QueryableByName)]
        struct Sql {
            #[diesel(sql_type = diesel::sql_types::Text)]
            sql: String,
        }
        use diesel::RunQueryDsl;
        let rows: Vec<Sql> =
            diesel::sql_query(format!("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = '{TRIGGERS}'"))
                .load(&mut conn)?;
        rows.into_iter().next().map(|r| r.sql).context("the index's insert trigger")?
    };
    drop(conn);
    let settings = Settings { rate_limit_per_minute: 0, ..Settings::default() };
    let chat = Chat::new(Arc::new(settings), db.clone());
    let sender = Actor {
        id: UserId(1000),
        display_name: "Sender".into(),
        is_admin: false,
        permissions: vec![Permission::Create],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let words = vocabulary();
    for round in 0..6 {
        let indexed = round % 2 == 0;
        let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
        if indexed {
            conn.batch_execute(&format!("DROP TRIGGER IF EXISTS {TRIGGERS}; {trigger};"))?;
        } else {
            conn.batch_execute(&format!("DROP TRIGGER {TRIGGERS};"))?;
        }
        drop(conn);
        let texts: Vec<String> = (0..count).map(|_| message(&mut rng, &words)).collect();
        let cpu_before = process_cpu();
        let started = Instant::now();
        runtime.block_on(async {
            for chunk in texts.chunks(64) {
                let sends = chunk.iter().map(|text| {
                    send(&chat, sender.clone(), Draft { room_id: RoomId(1), content: text.clone(), reply_to_id: None })
                });
                for sent in futures_util::future::join_all(sends).await {
                    sent.map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
            Ok::<_, anyhow::Error>(())
        })?;
        let took = started.elapsed();
        let cpu = process_cpu().saturating_sub(cpu_before);
        println!(
            "persist on SQLite, {}: {count} messages in {:.2} s: {:.0} messages/s, {:.0} µs CPU per message",
            if indexed { "with the search index" } else { "without it" },
            took.as_secs_f64(),
            count as f64 / took.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / count as f64
        );
    }
    Ok(())
}
