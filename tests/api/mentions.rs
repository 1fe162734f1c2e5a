//! Message formatting (`content_html`), mentions, `mention_count`, `GET /me/mentions` and
//! the member's `notify` level.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::sse::SseReader;

fn html(message: &Value) -> &str {
    message["content_html"].as_str().expect("content_html is a string")
}

fn ids(message: &Value) -> Vec<i64> {
    message["mentions"].as_array().expect("mentions is an array").iter().map(|v| v.as_i64().unwrap()).collect()
}

/// A user who may create and manage rooms.
async fn manager(app: &TestApp, name: &str) -> TestUser {
    app.user_with(name, Some(&["chat.read", "chat.create", "chat.update", "chat.delete", "chat.manage_rooms"])).await
}

async fn room_of(user: &TestUser, room: i64) -> Value {
    let rooms = user.get_json("/rooms").await;
    rooms.as_array().unwrap().iter().find(|r| r["id"] == room).cloned().expect("the room is listed")
}

#[tokio::test]
async fn content_is_rendered_and_sanitized() {
    let app = spawn_app().await;
    let alice = manager(&app, "alice").await;
    let room = alice.create_room_as_admin(&app).await;

    let m = alice.send(room, "**bold** *em* `a<b`\nnext line").await;
    assert_eq!(html(&m), "<p><strong>bold</strong> <em>em</em> <code>a&lt;b</code><br>\nnext line</p>\n");
    assert_eq!(m["content"], "**bold** *em* `a<b`\nnext line", "content stays as written");

    let m = alice.send(room, "<script>alert(1)</script>").await;
    assert_eq!(html(&m), "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n");
    let m = alice.send(room, "say <b onclick=\"x()\">hi</b> <img src=x onerror=alert(1)>").await;
    assert!(!html(&m).contains("<b") && !html(&m).contains("<img"), "{}", html(&m));
    assert!(html(&m).contains("&lt;b onclick="), "raw HTML shows as text: {}", html(&m));

    for evil in ["[click](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](data:text/html,<script>1</script>)"] {
        let m = alice.send(room, evil).await;
        let h = html(&m).to_ascii_lowercase();
        assert!(!h.contains("javascript:") && !h.contains("href=\"data:"), "{evil} -> {h}");
    }
    let m = alice.send(room, "[site](https://example.com/a?b=1&c=2) and mailto <mailto:bob@example.com>").await;
    assert!(
        html(&m).contains(r#"<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">site</a>"#),
        "{}",
        html(&m)
    );
    assert!(html(&m).contains(r#"href="mailto:bob@example.com""#), "{}", html(&m));
    let m = alice.send(room, "see https://example.com/x for more").await;
    assert_eq!(
        html(&m),
        "<p>see <a href=\"https://example.com/x\" rel=\"noopener noreferrer nofollow\">https://example.com/x</a> for more</p>\n"
    );

    let m = alice.send(room, "```rust\nlet x = \"<script>\";\n```\n> quoted\n\n- one\n- two").await;
    assert!(html(&m).contains("<pre><code>let x = \"&lt;script&gt;\";\n</code></pre>"), "{}", html(&m));
    assert!(html(&m).contains("<blockquote>") && html(&m).contains("<ul>"), "{}", html(&m));

    // System messages show their escaped text; a deleted message shows nothing.
    let page = alice.get_json(&format!("/rooms/{room}/messages?limit=100")).await;
    let system = page["messages"].as_array().unwrap().iter().find(|m| m["message_type"] == "system").unwrap();
    assert_eq!(html(system), system["content"].as_str().unwrap());
    let id = int(&m, "id");
    expect_status(alice.delete(&format!("/messages/{id}")).await, StatusCode::NO_CONTENT).await;
    let page = alice.get_json(&format!("/rooms/{room}/messages?after={}", id - 1)).await;
    assert_eq!(page["messages"][0]["content_html"], "");

    // An edit renders again, and the logged event that a stream replays follows it.
    let m = alice.send(room, "first *draft*").await;
    let id = int(&m, "id");
    let r = alice.patch(&format!("/messages/{id}"), &json!({"content": "final **text**"})).await;
    let edited = expect_status(r, StatusCode::OK).await;
    assert_eq!(html(&edited), "<p>final <strong>text</strong></p>\n");
    let (_, mut replay) = SseReader::open(&alice, &format!("?room_id={room}&last_event_id=0"), None).await;
    let events = replay.collect(1, "message_updated").await;
    let shown: Vec<&Value> =
        events.iter().filter(|e| e.event == "new_message" && e.data["id"] == id).map(|e| &e.data).collect();
    assert_eq!(shown.len(), 1);
    assert_eq!(html(shown[0]), "<p>final <strong>text</strong></p>\n", "the replayed event shows the edit");
}

#[tokio::test]
async fn mentions_of_members_outside_code_and_addresses() {
    let app = spawn_app().await;
    let alice = manager(&app, "alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = alice.create_room_as_admin(&app).await;
    let r = alice.post(&format!("/rooms/{room}/members"), &json!({"user_id": bob.id})).await;
    expect_status(r, StatusCode::CREATED).await;

    let m = alice.send(room, "hi @Bob.").await;
    assert_eq!(ids(&m), [bob.id]);
    assert_eq!(m["mentions_room"], false);
    for none in [
        "`@bob` in code",
        "```\n@bob\n```",
        "write to bob@example.com",
        "see https://example.com/@bob",
        "@carol is not here",
        "@nobody-at-all",
    ] {
        let m = alice.send(room, none).await;
        assert_eq!(ids(&m), Vec::<i64>::new(), "{none}");
    }
    let m = alice.send(room, "@bob and @alice and @bob again").await;
    assert_eq!(ids(&m), [alice.id, bob.id]);

    // Edits recompute mentions.
    let id = int(&m, "id");
    let r = alice.patch(&format!("/messages/{id}"), &json!({"content": "never mind `@bob`"})).await;
    assert_eq!(ids(&expect_status(r, StatusCode::OK).await), Vec::<i64>::new());
    let r = alice.patch(&format!("/messages/{id}"), &json!({"content": "@BOB, again"})).await;
    assert_eq!(ids(&expect_status(r, StatusCode::OK).await), [bob.id]);

    // Reading the room shows the same.
    let page = bob.get_json(&format!("/rooms/{room}/messages")).await;
    let last = page["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ids(&last), [bob.id]);
    // Carol is outside the room: none of it reaches her.
    assert_error(carol.get(&format!("/rooms/{room}/messages")).await, StatusCode::NOT_FOUND, "not_found").await;
    let mine = carol.get_json("/me/mentions").await;
    assert_eq!(mine["messages"], json!([]));
}

#[tokio::test]
async fn at_room_in_channels_needs_a_moderator() {
    let app = spawn_app().await;
    let alice = manager(&app, "alice").await;
    let moder = app.user("moder").await;
    let bob = app.user("bob").await;
    let channel = app.admin.create_room("channel", "News", &[&alice, &moder, &bob]).await;
    let r = app.admin.patch(&format!("/rooms/{channel}/members/{}", moder.id), &json!({"role": "moderator"})).await;
    expect_status(r, StatusCode::OK).await;

    let plain = alice.send(channel, "hello @room").await;
    assert_eq!(plain["mentions_room"], false, "a plain member's @room stays text");
    let loud = moder.send(channel, "hello @room").await;
    assert_eq!(loud["mentions_room"], true);
    assert_eq!(ids(&loud), Vec::<i64>::new(), "@room is not expanded");
    let by_admin = app.admin.send(channel, "@room: meeting").await;
    assert_eq!(by_admin["mentions_room"], true);

    let group = alice.create_room("group", "Team", &[&bob]).await;
    let m = alice.send(group, "@room lunch?").await;
    assert_eq!(m["mentions_room"], true, "anyone may use @room in a group");
    let m = alice.send(group, "`@room` in code").await;
    assert_eq!(m["mentions_room"], false);

    let room = room_of(&bob, channel).await;
    assert_eq!(room["unread_count"], 3);
    assert_eq!(room["mention_count"], 2);
    let room = room_of(&bob, group).await;
    assert_eq!(room["mention_count"], 1);
    // Editing @room away takes the mention back.
    let id = int(&loud, "id");
    let r = moder.patch(&format!("/messages/{id}"), &json!({"content": "hello all"})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["mentions_room"], false);
    assert_eq!(room_of(&bob, channel).await["mention_count"], 1);
}

#[tokio::test]
async fn mention_count_clears_when_read() {
    let app = spawn_app().await;
    let alice = manager(&app, "alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let room = alice.create_room("group", "Team", &[&bob, &carol]).await;
    let other = alice.create_room("group", "Other", &[&bob]).await;
    // Sending moves the sender's read mark to what they sent: what each wrote before the
    // others' messages is behind their mark.
    bob.send(room, "@bob talking to myself").await;
    bob.send(room, "@alice ping").await;
    alice.send(room, "no mention").await;
    alice.send(room, "@bob one").await;
    alice.send(room, "@bob two").await;
    let last = carol.send(room, "@alice hello").await;
    alice.send(other, "@bob elsewhere").await;
    let deleted = alice.send(other, "@bob gone").await;
    expect_status(alice.delete(&format!("/messages/{}", int(&deleted, "id"))).await, StatusCode::NO_CONTENT).await;
    assert_eq!(deleted["mentions"], json!([bob.id]));

    let r = room_of(&bob, room).await;
    assert_eq!((r["unread_count"].as_i64(), r["mention_count"].as_i64()), (Some(4), Some(2)));
    let r = room_of(&bob, other).await;
    assert_eq!((r["unread_count"].as_i64(), r["mention_count"].as_i64()), (Some(1), Some(1)));
    let single = bob.get_json(&format!("/rooms/{room}")).await;
    assert_eq!(single["mention_count"], 2);
    // Alice's count has Carol's mention of her, not Bob's from before she wrote.
    assert_eq!(room_of(&alice, room).await["mention_count"], 1);

    let r = bob.post(&format!("/rooms/{room}/read"), &json!({"message_id": int(&last, "id")})).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let r = room_of(&bob, room).await;
    assert_eq!((r["unread_count"].as_i64(), r["mention_count"].as_i64()), (Some(0), Some(0)));
    assert_eq!(room_of(&bob, other).await["mention_count"], 1, "other rooms keep theirs");
}

#[tokio::test]
async fn my_mentions_page_back_and_leave_with_the_room() {
    let app = spawn_app().await;
    let alice = manager(&app, "alice").await;
    let bob = app.user("bob").await;
    let room = alice.create_room("group", "Team", &[&bob]).await;
    let other = alice.create_room("group", "Other", &[&bob]).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(int(&alice.send(room, &format!("@bob number {i}")).await, "id"));
        alice.send(room, "filler").await;
    }
    sent.push(int(&alice.send(other, "@room in the other room").await, "id"));
    bob.send(room, "@bob mine").await;

    let page = bob.get_json("/me/mentions?limit=4").await;
    let got: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| int(m, "id")).collect();
    assert_eq!(got, [sent[5], sent[4], sent[3], sent[2]], "newest first");
    assert_eq!(page["has_more"], true);
    assert_eq!(page["messages"][0]["mentions_room"], true);
    let page = bob.get_json(&format!("/me/mentions?limit=4&before={}", sent[2])).await;
    let got: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| int(m, "id")).collect();
    assert_eq!(got, [sent[1], sent[0]]);
    assert_eq!(page["has_more"], false);
    assert!(page["messages"][0]["content_html"].as_str().unwrap().starts_with("<p>"));

    // Leaving a room takes its mentions out of the list.
    expect_status(bob.delete(&format!("/rooms/{room}/members/{}", bob.id)).await, StatusCode::NO_CONTENT).await;
    let page = bob.get_json("/me/mentions").await;
    let got: Vec<i64> = page["messages"].as_array().unwrap().iter().map(|m| int(m, "id")).collect();
    assert_eq!(got, [sent[5]]);

    // Bad paging, and no session.
    for bad in ["?limit=0", "?limit=-1", "?limit=abc", "?before=x", "?limit=1.5"] {
        assert_error(bob.get(&format!("/me/mentions{bad}")).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let big = bob.get_json("/me/mentions?limit=1000").await;
    assert_eq!(big["messages"].as_array().unwrap().len(), 1);
    let r = client().get(bob.url("/me/mentions")).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn notify_levels_by_room_type_and_self_only() {
    let app = spawn_app().await;
    let alice = manager(&app, "alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let group = alice.create_room("group", "Team", &[&bob]).await;
    let channel = alice.create_room("channel", "News", &[&bob]).await;
    let r = alice.post("/rooms", &json!({"room_type": "direct", "member_ids": [bob.id]})).await;
    let direct = int(&expect_status(r, StatusCode::CREATED).await, "id");

    let level = |members: &Value, id: i64| {
        members.as_array().unwrap().iter().find(|m| m["user_id"] == id).unwrap()["notify"].clone()
    };
    assert_eq!(level(&bob.get_json(&format!("/rooms/{group}/members")).await, bob.id), "all");
    assert_eq!(level(&bob.get_json(&format!("/rooms/{channel}/members")).await, bob.id), "mentions");
    assert_eq!(level(&bob.get_json(&format!("/rooms/{direct}/members")).await, bob.id), "all");

    let me = format!("/rooms/{group}/members/{}", bob.id);
    let r = bob.patch(&me, &json!({"notify": "mentions"})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["notify"], "mentions");
    let r = bob.patch(&format!("/rooms/{channel}/members/{}", bob.id), &json!({"notify": "all"})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["notify"], "all");
    for bad in [
        json!({"notify": "loud"}),
        json!({"notify": ""}),
        json!({"notify": 1}),
        json!({"notify": ["all"]}),
        json!({"notify": "ALL"}),
    ] {
        assert_error(bob.patch(&me, &bad).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let r = bob.patch(&me, &json!({"notify": "none", "is_muted": "yes"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    // A refused request changed nothing.
    assert_eq!(level(&bob.get_json(&format!("/rooms/{group}/members")).await, bob.id), "mentions");

    // Muted reads as none; unmuting brings the chosen level back.
    let r = bob.patch(&me, &json!({"is_muted": true})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["notify"], "none");
    let r = bob.patch(&me, &json!({"is_muted": false})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["notify"], "mentions");

    // Only for oneself; outsiders see nothing.
    let r = alice.patch(&me, &json!({"notify": "none"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = carol.patch(&me, &json!({"notify": "none"})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = carol.patch(&format!("/rooms/{group}/members/{}", carol.id), &json!({"notify": "all"})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(level(&bob.get_json(&format!("/rooms/{group}/members")).await, bob.id), "mentions");
}

#[tokio::test]
async fn stream_events_carry_html_and_mentions() {
    let app = spawn_app().await;
    let alice = manager(&app, "alice").await;
    let bob = app.user("bob").await;
    let room = alice.create_room("group", "Team", &[&bob]).await;
    let (_, mut stream) = SseReader::open(&bob, "", None).await;
    alice.send(room, "**hey** @bob").await;
    let events = stream.until_message("**hey** @bob").await;
    let event = events.last().unwrap();
    assert_eq!(event.data["content_html"], "<p><strong>hey</strong> @bob</p>\n");
    assert_eq!(event.data["mentions"], json!([bob.id]));
    assert_eq!(event.data["mentions_room"], false);

    let id = int(&event.data, "id");
    let r = alice.patch(&format!("/messages/{id}"), &json!({"content": "@room _all_"})).await;
    expect_status(r, StatusCode::OK).await;
    let updated = stream.collect(1, "message_updated").await;
    let updated = &updated.last().unwrap().data;
    assert_eq!(updated["content_html"], "<p>@room <em>all</em></p>\n");
    assert_eq!(updated["mentions"], json!([]));
    assert_eq!(updated["mentions_room"], true);
}
