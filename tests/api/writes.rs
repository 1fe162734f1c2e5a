//! Writes while another process (the command line, a second node) holds the database.

use std::time::Duration;

use causerie::store::{Backend, DatabaseUrl};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Holds a write transaction on the database from another connection until told to commit.
fn hold_the_write_lock(url: &str) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    let url = DatabaseUrl::parse(url).expect("the test's database URL");
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Touches the event counter: the row every write's event takes on PostgreSQL, and a
        // write that takes SQLite's one write lock.
        let hold = "UPDATE chat_event_counter SET pruned_through = pruned_through;";
        match url.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&url.target).expect("a second connection");
                conn.batch_execute(&format!("BEGIN IMMEDIATE; {hold}")).expect("the write lock");
                locked_tx.send(()).expect("the test waits");
                let _ = release_rx.recv();
                conn.batch_execute("COMMIT;").expect("commit");
            }
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&url.target).expect("a second connection");
                conn.batch_execute(&format!("BEGIN; {hold}")).expect("the row lock");
                locked_tx.send(()).expect("the test waits");
                let _ = release_rx.recv();
                conn.batch_execute("COMMIT;").expect("commit");
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
