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

fn ids_of(page: &Value) -> Vec<i64> {
    page["messages"].as_array().expect("messages").iter().map(|m| int(m, "id")).collect()
}

#[tokio::test]
async fn pagination_walks_every_message_exactly_once() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Busy", &[]).await;
    let mut sent = Vec::new();
    for i in 0..230 {
        sent.push(int(&app.admin.send(room, &format!("message {i}")).await, "id"));
    }
    // Backwards from the newest, in pages of exactly 50 (the default) but the last.
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut path = format!("/rooms/{room}/messages");
    loop {
        let page = app.admin.get_json(&path).await;
        let ids = ids_of(&page);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending within a page");
        sizes.push(ids.len());
        seen.splice(0..0, ids.iter().copied());
        if page["has_more"] == false {
            break;
        }
        path = format!("/rooms/{room}/messages?before={}", ids[0]);
    }
    assert_eq!(sizes, [50, 50, 50, 50, 30]);
    assert_eq!(seen, sent);
    // Forwards from the start: a limit above 100 gives pages of exactly 100.
    let mut forward: Vec<i64> = Vec::new();
    let mut sizes = Vec::new();
    let mut after = 0;
    loop {
        let page = app.admin.get_json(&format!("/rooms/{room}/messages?after={after}&limit=1000")).await;
        let ids = ids_of(&page);
        sizes.push(ids.len());
        forward.extend(&ids);
        if page["has_more"] == false {
            break;
        }
        after = *ids.last().unwrap();
    }
    assert_eq!(sizes, [100, 100, 30]);
    assert_eq!(forward, sent);
    assert_eq!(forward.iter().collect::<HashSet<_>>().len(), 230);
    assert_eq!(ids_of(&app.admin.get_json(&format!("/rooms/{room}/messages?limit=100")).await), sent[130..]);
    assert_eq!(ids_of(&app.admin.get_json(&format!("/rooms/{room}/messages?limit=101")).await), sent[130..]);
    let page = app.admin.get_json(&format!("/rooms/{room}/messages?limit=5&before={}", sent[10])).await;
    let ids = ids_of(&page);
    assert_eq!(ids, sent[5..10]);
    assert_eq!(page["has_more"], true);
}

#[tokio::test]
async fn replies_edits_and_deletes() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Team", &[&alice, &bob]).await;
    // 100 characters, then more: the excerpt is the first 100 (characters, not bytes) and "…".
    let long = format!("{}{}", "é".repeat(99), "z tail that is cut off");
    let original = alice.send(room, &long).await;
    let r = bob.post("/messages", &json!({"room_id": room, "content": "agreed", "reply_to_id": original["id"]})).await;
    let reply = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(reply["reply_to_id"], original["id"]);
    let quote = json!({"id": original["id"], "sender_name": "Alice", "excerpt": format!("{}z…", "é".repeat(99))});
    assert_eq!(reply["reply_to"], quote);
    let short = alice.send(room, "short and whole").await;
    let r = bob.post("/messages", &json!({"room_id": room, "content": "ok", "reply_to_id": short["id"]})).await;
    let whole = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(whole["reply_to"], json!({"id": short["id"], "sender_name": "Alice", "excerpt": "short and whole"}));
    // The page shows the same quotes.
    let page = alice.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(page["messages"][1], reply);
    let other = app.admin.create_room("group", "Other", &[&bob]).await;
    let r = bob.post("/messages", &json!({"room_id": other, "content": "x", "reply_to_id": original["id"]})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;

    let id = int(&original, "id");
    let r = bob.patch(&format!("/messages/{id}"), &json!({"content": "hijack"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = alice.patch(&format!("/messages/{id}"), &json!({"content": " fixed "})).await;
    let edited = expect_status(r, StatusCode::OK).await;
    assert_eq!(edited["content"], "fixed");
    assert_eq!(edited["is_edited"], true);
    assert!(edited["edited_at"].is_string());

    // Bob is a plain member: he cannot delete Alice's message; the room admin can.
    let r = bob.delete(&format!("/messages/{id}")).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    expect_status(app.admin.delete(&format!("/messages/{id}")).await, StatusCode::NO_CONTENT).await;
    expect_status(app.admin.delete(&format!("/messages/{id}")).await, StatusCode::NO_CONTENT).await;
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
    let r = alice.delete(&format!("/messages/{}", mine["id"])).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.admin.patch(&format!("/rooms/{room}/members/{}", alice.id), &json!({"role": "moderator"})).await;
    expect_status(r, StatusCode::OK).await;
    expect_status(alice.delete(&format!("/messages/{}", mine["id"])).await, StatusCode::NO_CONTENT).await;
}

#[tokio::test]
async fn unread_counts_and_receipts_follow_read_marks() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Team", &[&alice, &bob]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(int(&app.admin.send(room, &format!("m{i}")).await, "id"));
    }
    let unread = |u: TestUser| async move { int(&u.get_json("/rooms").await[0], "unread_count") };
    assert_eq!(unread(alice.clone()).await, 5);
    assert_eq!(unread(app.admin.clone()).await, 0, "own messages are never unread");
    let mark = |u: &TestUser, id: i64| {
        let (u, path) = (u.clone(), format!("/rooms/{room}/read"));
        async move { expect_status(u.post(&path, &json!({"message_id": id})).await, StatusCode::NO_CONTENT).await }
    };
    mark(&alice, ids[2]).await;
    assert_eq!(unread(alice.clone()).await, 2);
    // An older mark changes nothing.
    mark(&alice, ids[0]).await;
    assert_eq!(unread(alice.clone()).await, 2);
    mark(&bob, ids[4]).await;
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
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Team", &[&alice]).await;
    for i in 0..3 {
        app.admin.send(room, &format!("{i}")).await;
    }
    let r = app.admin.post("/messages", &json!({"room_id": room, "content": "one too many"})).await;
    // Three a minute: one comes back every 20 s.
    assert_retry_after(&r, 1..=20);
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other users have their own allowance.
    for i in 0..3 {
        alice.send(room, &format!("alice {i}")).await;
    }
    let r = alice.post("/messages", &json!({"room_id": room, "content": "one too many"})).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    let texts: Vec<&str> =
        page["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(texts, ["0", "1", "2", "alice 0", "alice 1", "alice 2"], "nothing refused was written");
}

#[tokio::test]
async fn typing_notices_are_rate_limited_per_user() {
    let app = spawn_app_with(|s| s.typing_per_minute = 2).await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Typing", &[&alice]).await;
    let typing = format!("/rooms/{room}/typing");
    for user in [&app.admin, &alice] {
        for _ in 0..2 {
            expect_status(user.post(&typing, &json!({})).await, StatusCode::NO_CONTENT).await;
        }
        let r = user.post(&typing, &json!({})).await;
        // Two a minute: one comes back every 30 s.
        assert_retry_after(&r, 1..=30);
        assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    // Typing has its own limit: sending is not affected.
    app.admin.send(room, "still allowed").await;
}
