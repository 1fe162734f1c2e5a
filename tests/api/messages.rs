use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn send_and_read_back() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Team", &[&alice]).await;
    let sent = alice.send(room, "  hello\nworld  ").await;
    assert_eq!(sent["content"], "hello\nworld");
    assert_eq!(sent["sender_name"], "Alice");
    assert_eq!(sent["message_type"], "text");
    assert_eq!(sent["is_edited"], false);
    assert_eq!(sent["reply_to"], Value::Null);
    assert_eq!(sent["attachments"], json!([]));
    assert!(sent["created_at"].as_str().unwrap().ends_with('Z'));
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(page["has_more"], false);
    assert_eq!(page["messages"][0], sent);
}

#[tokio::test]
async fn pagination_walks_every_message_exactly_once() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Busy", &[]).await;
    let mut sent = Vec::new();
    for i in 0..230 {
        sent.push(app.admin.send(room, &format!("message {i}")).await["id"].as_i64().unwrap());
    }
    // Backwards from the newest, in pages of 50 (the default).
    let mut seen = Vec::new();
    let mut path = format!("/rooms/{room}/messages");
    loop {
        let page = app.admin.get_json(&path).await;
        let ids: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending within a page");
        assert!(ids.len() <= 50);
        seen.splice(0..0, ids.iter().copied());
        if page["has_more"] == false {
            break;
        }
        path = format!("/rooms/{room}/messages?before={}", ids[0]);
    }
    assert_eq!(seen, sent);
    // Forwards from the start, 100 at most per page.
    let mut forward: Vec<i64> = Vec::new();
    let mut after = 0;
    loop {
        let page = app.admin.get_json(&format!("/rooms/{room}/messages?after={after}&limit=1000")).await;
        let ids: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert!(ids.len() <= 100);
        forward.extend(&ids);
        if page["has_more"] == false {
            break;
        }
        after = *ids.last().unwrap();
    }
    assert_eq!(forward, sent);
    assert_eq!(forward.iter().collect::<HashSet<_>>().len(), 230);
    let page = app.admin.get_json(&format!("/rooms/{room}/messages?limit=5&before={}", sent[10])).await;
    let ids: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, sent[5..10]);
    assert_eq!(page["has_more"], true);
}

#[tokio::test]
async fn replies_edits_and_deletes() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Team", &[&alice, &bob]).await;
    let long = "x".repeat(300);
    let original = alice.send(room, &long).await;
    let r = bob.post("/messages", &json!({"room_id": room, "content": "agreed", "reply_to_id": original["id"]})).await;
    let reply: Value = r.json().await.unwrap();
    assert_eq!(reply["reply_to_id"], original["id"]);
    assert_eq!(reply["reply_to"]["sender_name"], "Alice");
    assert!(reply["reply_to"]["excerpt"].as_str().unwrap().chars().count() <= 101);
    let other = app.admin.create_room("group", "Other", &[&bob]).await;
    let r = bob.post("/messages", &json!({"room_id": other, "content": "x", "reply_to_id": original["id"]})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;

    let id = original["id"].as_i64().unwrap();
    let r = bob.patch(&format!("/messages/{id}"), &json!({"content": "hijack"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = alice.patch(&format!("/messages/{id}"), &json!({"content": " fixed "})).await;
    let edited: Value = r.json().await.unwrap();
    assert_eq!(edited["content"], "fixed");
    assert_eq!(edited["is_edited"], true);
    assert!(edited["edited_at"].is_string());

    // Bob is a plain member: he cannot delete Alice's message; the room admin can.
    let r = bob.delete(&format!("/messages/{id}")).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(app.admin.delete(&format!("/messages/{id}")).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.admin.delete(&format!("/messages/{id}")).await.status(), StatusCode::NO_CONTENT);
    let page = bob.get_json(&format!("/rooms/{room}/messages")).await;
    let gone = &page["messages"][0];
    assert_eq!(gone["id"], id);
    assert_eq!(gone["is_deleted"], true);
    assert_eq!(gone["content"], "");
    assert_eq!(page["messages"][1]["reply_to"]["excerpt"], "");
    let r = alice.patch(&format!("/messages/{id}"), &json!({"content": "again"})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    // Moderators delete others' messages too.
    let mine = bob.send(room, "moderate me").await;
    app.admin.patch(&format!("/rooms/{room}/members/{}", alice.id), &json!({"role": "moderator"})).await;
    assert_eq!(alice.delete(&format!("/messages/{}", mine["id"])).await.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn unread_counts_and_receipts_follow_read_marks() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Team", &[&alice, &bob]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.admin.send(room, &format!("m{i}")).await["id"].as_i64().unwrap());
    }
    let unread = |u: TestUser| async move { u.get_json("/rooms").await[0]["unread_count"].as_i64().unwrap() };
    assert_eq!(unread(alice.clone()).await, 5);
    assert_eq!(unread(app.admin.clone()).await, 0, "own messages are never unread");
    let r = alice.post(&format!("/rooms/{room}/read"), &json!({"message_id": ids[2]})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(alice.clone()).await, 2);
    // An older mark changes nothing.
    alice.post(&format!("/rooms/{room}/read"), &json!({"message_id": ids[0]})).await;
    assert_eq!(unread(alice.clone()).await, 2);
    bob.post(&format!("/rooms/{room}/read"), &json!({"message_id": ids[4]})).await;
    let seen = app.admin.get_json(&format!("/messages/{}/reads", ids[1])).await;
    let names: Vec<&str> = seen.as_array().unwrap().iter().map(|r| r["display_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alice", "Bob"]);
    let seen = app.admin.get_json(&format!("/messages/{}/reads", ids[4])).await;
    assert_eq!(seen.as_array().unwrap().len(), 1);
    assert_eq!(seen[0]["user_id"], bob.id);
    let members = app.admin.get_json(&format!("/rooms/{room}/members")).await;
    assert!(members[1]["last_read_at"].is_string());
    let other = app.admin.create_room("group", "Other", &[&alice]).await;
    let foreign = app.admin.send(other, "elsewhere").await;
    let r = alice.post(&format!("/rooms/{room}/read"), &json!({"message_id": foreign["id"]})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = bob.get(&format!("/messages/{}/reads", foreign["id"])).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn messages_are_rate_limited_per_user() {
    let app = spawn_app_with(|s| s.rate_limit_per_minute = 3).await;
    let room = app.admin.create_room("group", "Team", &[]).await;
    for i in 0..3 {
        app.admin.send(room, &format!("{i}")).await;
    }
    let r = app.admin.post("/messages", &json!({"room_id": room, "content": "one too many"})).await;
    assert!(r.headers().get("retry-after").is_some());
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 3, "nothing written");
}
