//! What a stream replays from the event log: never the text a message had before it was
//! edited or deleted, whoever reads it and whenever they joined.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Everything a replay from the start of the log sends, up to and including `until`.
async fn replay_from_start(user: &TestUser, until: &str) -> String {
    let response = user.get("/stream?last_event_id=0").await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
            if text.contains(until) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("the replay reached the marker");
    text
}

#[tokio::test]
async fn a_replay_shows_no_text_from_before_an_edit_or_a_delete() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("channel", "Leaks", &[&bob]).await;
    let deleted = bob.send(room, "secret-one, soon deleted").await;
    let edited = bob.send(room, "secret-two, soon edited").await;
    let deleted_id = deleted["id"].as_i64().expect("id");
    let edited_id = edited["id"].as_i64().expect("id");
    // A reply quotes the message it answers.
    let r =
        app.admin.post("/messages", &json!({"room_id": room, "content": "an answer", "reply_to_id": deleted_id})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = bob.patch(&format!("/messages/{edited_id}"), &json!({"content": "public-two"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = bob.delete(&format!("/messages/{deleted_id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.admin.send(room, "marker-end").await;

    // Someone who joins later, and someone who was there all along.
    let carol = app.user("carol").await;
    let r = carol.post(&format!("/rooms/{room}/join"), &json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    for reader in [&carol, &bob] {
        let replay = replay_from_start(reader, "marker-end").await;
        assert!(!replay.contains("secret-"), "{} was replayed earlier text:\n{replay}", reader.username);
        assert!(replay.contains("public-two"), "{} misses the edit:\n{replay}", reader.username);
        assert!(replay.contains("event: message_deleted"), "{replay}");
        assert!(replay.contains("an answer"), "{replay}");
    }
}

#[tokio::test]
async fn a_rename_notice_that_is_deleted_leaves_no_text_in_the_room_event() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Before", &[]).await;
    let r = app.admin.patch(&format!("/rooms/{room}"), &json!({"name": "After"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    let notice =
        page["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["id"].as_i64()).expect("the rename notice");
    let r = app.admin.delete(&format!("/messages/{notice}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    app.admin.send(room, "marker-end").await;
    let replay = replay_from_start(&app.admin, "marker-end").await;
    assert!(replay.contains("event: room_updated"), "{replay}");
    assert!(!replay.contains("renamed the room"), "{replay}");
}
