//! Writes while another process (the command line, a second node) holds the database.

use std::time::Duration;

use causerie::store::{Backend, DatabaseUrl};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::sse::SseReader;

/// Holds a write transaction on the database from another connection until told to commit.
fn hold_the_write_lock(url: &str) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    let url = DatabaseUrl::parse(url).expect("the test's database URL");
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Touches the event counter: the row every write's event takes on PostgreSQL, and a
        // write that takes SQLite's one write lock.
        let hold = "UPDATE chat_event_counter SET pruned_through = pruned_through;";
        fn hold_until<C: SimpleConnection>(
            mut conn: C,
            begin: &str,
            locked: std::sync::mpsc::Sender<()>,
            release: std::sync::mpsc::Receiver<()>,
        ) {
            conn.batch_execute(begin).expect("the lock");
            locked.send(()).expect("the test waits");
            let _ = release.recv();
            conn.batch_execute("COMMIT;").expect("commit");
        }
        match url.backend {
            Backend::Sqlite => {
                let conn = SqliteConnection::establish(&url.target).expect("a second connection");
                hold_until(conn, &format!("BEGIN IMMEDIATE; {hold}"), locked_tx, release_rx);
            }
            Backend::Postgres => {
                let conn = PgConnection::establish(&url.target).expect("a second connection");
                hold_until(conn, &format!("BEGIN; {hold}"), locked_tx, release_rx);
            }
        }
    });
    (locked, release)
}

#[tokio::test]
async fn a_message_sent_while_another_process_writes_waits_and_is_stored() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Busy", &[]).await;
    let (locked, release) = hold_the_write_lock(&app.state.settings.database_url);
    locked.recv().expect("the other connection holds the lock");
    let sender = app.admin.clone();
    let send =
        tokio::spawn(async move { sender.post("/messages", &json!({"room_id": room, "content": "waited"})).await });
    // Let the send reach the database and wait there, then let the other writer commit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    release.send(()).expect("the holder is waiting");
    let response = send.await.expect("the request task");
    assert_eq!(response.status(), StatusCode::CREATED, "{:?}", response.text().await);
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(page["messages"][0]["content"], "waited");
}

#[tokio::test]
async fn a_send_refused_by_the_database_among_others_committed_together_undoes_only_itself() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Batch", &[]).await;
    // The database itself refuses some messages, after the checks of the use case: a
    // failure in the middle of a write, which must undo that send and nothing else.
    const PG_REFUSE: &str = "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
        IF NEW.content LIKE 'refused%' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
        CREATE TRIGGER refuse BEFORE INSERT ON chat_messages FOR EACH ROW EXECUTE FUNCTION refuse();";
    const SQLITE_REFUSE: &str = "CREATE TRIGGER refuse BEFORE INSERT ON chat_messages \
        WHEN NEW.content LIKE 'refused%' BEGIN SELECT RAISE(ABORT, 'refused'); END;";
    let url = DatabaseUrl::parse(&app.state.settings.database_url).expect("the test's database URL");
    match url.backend {
        Backend::Sqlite => SqliteConnection::establish(&url.target).expect("a connection").batch_execute(SQLITE_REFUSE),
        Backend::Postgres => PgConnection::establish(&url.target).expect("a connection").batch_execute(PG_REFUSE),
    }
    .expect("the trigger");
    let (_, mut sse) = SseReader::open(&app.admin, "", None).await;
    // While another connection holds the event counter, the sends queue up on the writer,
    // which then commits them together.
    let (locked, release) = hold_the_write_lock(&app.state.settings.database_url);
    locked.recv().expect("the other connection holds the lock");
    let contents: Vec<String> =
        (0..12).map(|i| if i % 4 == 1 { format!("refused {i}") } else { format!("kept {i}") }).collect();
    let sends: Vec<_> = contents
        .iter()
        .map(|content| {
            let (sender, content) = (app.admin.clone(), content.clone());
            tokio::spawn(async move { sender.post("/messages", &json!({"room_id": room, "content": content})).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    release.send(()).expect("the holder is waiting");
    let mut kept = Vec::new();
    for (send, content) in sends.into_iter().zip(&contents) {
        let response = send.await.expect("the request task");
        if content.starts_with("refused") {
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "{content}");
        } else {
            assert_eq!(response.status(), StatusCode::CREATED, "{content}");
            let message: serde_json::Value = response.json().await.expect("a message");
            kept.push((message["id"].as_i64().expect("an id"), content.clone()));
        }
    }
    kept.sort();
    let stored: Vec<(i64, String)> = app.admin.get_json(&format!("/rooms/{room}/messages")).await["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["message_type"] == "text")
        .map(|m| (m["id"].as_i64().expect("an id"), m["content"].as_str().expect("content").to_owned()))
        .collect();
    assert_eq!(stored, kept, "the accepted sends are stored, the refused ones are not");
    // Their events come in id order, once each, with none of the refused ones.
    let events = sse.collect(kept.len(), "new_message").await;
    let ids: Vec<i64> = events.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending ids: {ids:?}");
    let shown: Vec<(i64, String)> = events
        .iter()
        .filter(|e| e.event == "new_message")
        .map(|e| (e.data["id"].as_i64().expect("an id"), e.data["content"].as_str().expect("content").to_owned()))
        .collect();
    assert_eq!(shown, kept);
}
