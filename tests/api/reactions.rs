//! Reactions, pinned messages and presence.

use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;
use crate::sse::{Next, SseEvent, SseReader};

async fn put(user: &TestUser, path: &str) -> Response {
    user.client.put(user.url(path)).send().await.unwrap()
}

async fn react(user: &TestUser, message: i64, emoji: &str) -> Response {
    put(user, &format!("/messages/{message}/reactions/{emoji}")).await
}

async fn unreact(user: &TestUser, message: i64, emoji: &str) -> Response {
    user.delete(&format!("/messages/{message}/reactions/{emoji}")).await
}

/// The message as its room's page shows it.
async fn shown(user: &TestUser, room: i64, message: i64) -> Value {
    let page = user.get_json(&format!("/rooms/{room}/messages")).await;
    page["messages"].as_array().unwrap().iter().find(|m| int(m, "id") == message).cloned().expect("on the page")
}

async fn reactions_of(user: &TestUser, room: i64, message: i64) -> Value {
    shown(user, room, message).await["reactions"].clone()
}

/// Two people in a group, with a message of the first.
async fn pair(app: &TestApp) -> (TestUser, TestUser, i64, i64) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Team", &[&alice, &bob]).await;
    let r = app.admin.patch(&format!("/rooms/{room}/members/{}", alice.id), &json!({"role": "admin"})).await;
    expect_status(r, StatusCode::OK).await;
    let message = int(&alice.send(room, "hello").await, "id");
    (alice, bob, room, message)
}

#[tokio::test]
async fn reactions_are_idempotent_and_shown_in_order_of_first_use() {
    let app = spawn_app().await;
    let (alice, bob, room, message) = pair(&app).await;
    assert_eq!(reactions_of(&alice, room, message).await, json!([]));
    for _ in 0..2 {
        expect_status(react(&alice, message, "👍").await, StatusCode::NO_CONTENT).await;
    }
    expect_status(react(&bob, message, "%E2%9D%A4%EF%B8%8F").await, StatusCode::NO_CONTENT).await;
    // The same emoji, percent-encoded or not, and unqualified: one reaction.
    expect_status(react(&bob, message, "%F0%9F%91%8D").await, StatusCode::NO_CONTENT).await;
    expect_status(react(&alice, message, "❤").await, StatusCode::NO_CONTENT).await;
    assert_eq!(
        reactions_of(&bob, room, message).await,
        json!([
            {"emoji": "👍", "count": 2, "user_ids": [alice.id, bob.id]},
            {"emoji": "❤️", "count": 2, "user_ids": [bob.id, alice.id]},
        ])
    );
    for _ in 0..2 {
        expect_status(unreact(&alice, message, "👍").await, StatusCode::NO_CONTENT).await;
    }
    expect_status(unreact(&bob, message, "🎉").await, StatusCode::NO_CONTENT).await;
    // The order is that of first use among the reactions still there: bob's heart came
    // before his thumb.
    assert_eq!(
        reactions_of(&alice, room, message).await,
        json!([
            {"emoji": "❤️", "count": 2, "user_ids": [bob.id, alice.id]},
            {"emoji": "👍", "count": 1, "user_ids": [bob.id]},
        ])
    );
    // Every page of messages carries them, the newest message of a room too.
    let rooms = alice.get_json("/rooms").await;
    assert_eq!(rooms[0]["last_message"]["reactions"][1]["emoji"], "👍");
}

#[tokio::test]
async fn anything_but_one_emoji_is_refused() {
    let app = spawn_app().await;
    let (alice, _bob, room, message) = pair(&app).await;
    let long = "%F0%9F%91%8D".repeat(40);
    let cases = [
        "%F0%9F%91%8D%F0%9F%91%8D", // two emoji
        "👍👎",
        "hello",
        "a",
        "1",
        "%20",
        "",
        long.as_str(),
        "%",
        "%ZZ",
        "%F0%9F",          // a cut UTF-8 sequence
        "%FF%FE",          // not UTF-8
        "%F0%9F%91%8D%20", // an emoji and a space
        ":thumbsup:",
    ];
    for emoji in cases {
        let response = react(&alice, message, emoji).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
        let response = unreact(&alice, message, emoji).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    assert_eq!(reactions_of(&alice, room, message).await, json!([]));
}

#[tokio::test]
async fn a_message_takes_at_most_twenty_distinct_emoji() {
    let app = spawn_app().await;
    let (alice, bob, room, message) = pair(&app).await;
    let emoji = [
        "😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "😊", "😇", "🙂", "🙃", "😉", "😌", "😍", "🥰", "😘", "😗",
        "😙", "😚",
    ];
    for e in emoji {
        expect_status(react(&alice, message, e).await, StatusCode::NO_CONTENT).await;
    }
    assert_error(react(&bob, message, "😋").await, StatusCode::CONFLICT, "conflict").await;
    // One already there may still be added by someone else.
    expect_status(react(&bob, message, "😀").await, StatusCode::NO_CONTENT).await;
    let reactions = reactions_of(&alice, room, message).await;
    assert_eq!(reactions.as_array().unwrap().len(), 20);
    assert_eq!(reactions[0], json!({"emoji": "😀", "count": 2, "user_ids": [alice.id, bob.id]}));
    // Once one goes, there is room for another.
    expect_status(unreact(&alice, message, "😚").await, StatusCode::NO_CONTENT).await;
    expect_status(react(&bob, message, "😋").await, StatusCode::NO_CONTENT).await;
}

#[tokio::test]
async fn reactions_need_a_live_message_of_a_room_i_may_post_in() {
    let app = spawn_app().await;
    let (alice, bob, room, message) = pair(&app).await;
    let carol = app.user("carol").await;
    let reader = app.user_with("reader", Some(&["chat.read"])).await;
    let r = app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": reader.id})).await;
    expect_status(r, StatusCode::CREATED).await;
    assert_error(react(&carol, message, "👍").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(unreact(&carol, message, "👍").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(react(&alice, 999_999, "👍").await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(react(&reader, message, "👍").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(put(&alice, "/messages/abc/reactions/👍").await, StatusCode::BAD_REQUEST, "invalid_input").await;

    let page = alice.get_json(&format!("/rooms/{room}/messages")).await;
    let system = page["messages"].as_array().unwrap().iter().find(|m| m["message_type"] == "system").cloned();
    let system = int(&system.expect("adding a member posts a notice"), "id");
    assert_error(react(&bob, system, "👍").await, StatusCode::BAD_REQUEST, "invalid_input").await;

    expect_status(react(&bob, message, "👍").await, StatusCode::NO_CONTENT).await;
    expect_status(alice.delete(&format!("/messages/{message}")).await, StatusCode::NO_CONTENT).await;
    assert_eq!(reactions_of(&bob, room, message).await, json!([]), "a deleted message shows no reactions");
    assert_error(react(&bob, message, "👍").await, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert_error(unreact(&bob, message, "👍").await, StatusCode::BAD_REQUEST, "invalid_input").await;
}

fn reaction_events(events: &[SseEvent]) -> Vec<(String, Value)> {
    events
        .iter()
        .filter(|e| e.event.starts_with("reaction_"))
        .map(|e| {
            assert!(e.id.is_some(), "reaction events are stored");
            (e.event.clone(), e.data.clone())
        })
        .collect()
}

#[tokio::test]
async fn reaction_events_go_live_and_are_replayed_on_resume_until_the_message_is_deleted() {
    let app = spawn_app().await;
    let (alice, bob, room, message) = pair(&app).await;
    let other = int(&alice.send(room, "another").await, "id");
    let (_, mut live) = SseReader::open(&bob, "", None).await;
    alice.send(room, "mark").await;
    let mark = live.until_message("mark").await.last().and_then(|e| e.id).expect("an id");

    expect_status(react(&alice, message, "👍").await, StatusCode::NO_CONTENT).await;
    expect_status(react(&alice, message, "👍").await, StatusCode::NO_CONTENT).await; // records nothing
    expect_status(react(&bob, other, "🎉").await, StatusCode::NO_CONTENT).await;
    expect_status(unreact(&alice, message, "👍").await, StatusCode::NO_CONTENT).await;
    expect_status(unreact(&alice, message, "👍").await, StatusCode::NO_CONTENT).await; // records nothing
    alice.send(room, "end").await;
    let added = |m: i64, e: &str, u: i64| json!({"room_id": room, "message_id": m, "emoji": e, "user_id": u});
    let expected = vec![
        ("reaction_added".to_owned(), added(message, "👍", alice.id)),
        ("reaction_added".to_owned(), added(other, "🎉", bob.id)),
        ("reaction_removed".to_owned(), added(message, "👍", alice.id)),
    ];
    assert_eq!(reaction_events(&live.until_message("end").await), expected);

    let (_, mut resumed) = SseReader::open(&bob, "", Some(mark)).await;
    assert_eq!(reaction_events(&resumed.until_message("end").await), expected);

    // Deleting a message takes its reactions' events out of the log: who reacted to what was
    // deleted is not replayed.
    expect_status(alice.delete(&format!("/messages/{message}")).await, StatusCode::NO_CONTENT).await;
    alice.send(room, "after").await;
    let (_, mut replay) = SseReader::open(&bob, "", Some(mark)).await;
    assert_eq!(reaction_events(&replay.until_message("after").await), vec![expected[1].clone()]);
}

async fn pins_of(user: &TestUser, room: i64) -> Vec<i64> {
    let list = user.get_json(&format!("/rooms/{room}/pins")).await;
    list.as_array().unwrap().iter().map(|m| int(m, "id")).collect()
}

#[tokio::test]
async fn room_admins_and_moderators_pin_and_the_room_hears_of_it() {
    let app = spawn_app().await;
    let (alice, bob, room, first) = pair(&app).await;
    let second = int(&bob.send(room, "second").await, "id");
    let carol = app.user("carol").await;
    let pin = |m: i64| format!("/messages/{m}/pin");

    assert_error(put(&bob, &pin(first)).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(put(&carol, &pin(first)).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(carol.get(&format!("/rooms/{room}/pins")).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(put(&alice, "/messages/999999/pin").await, StatusCode::NOT_FOUND, "not_found").await;

    let (_, mut stream) = SseReader::open(&bob, "", None).await;
    expect_status(put(&alice, &pin(first)).await, StatusCode::NO_CONTENT).await;
    expect_status(put(&alice, &pin(first)).await, StatusCode::NO_CONTENT).await;
    let r = app.admin.patch(&format!("/rooms/{room}/members/{}", bob.id), &json!({"role": "moderator"})).await;
    expect_status(r, StatusCode::OK).await;
    expect_status(put(&bob, &pin(second)).await, StatusCode::NO_CONTENT).await;
    assert_eq!(pins_of(&alice, room).await, [second, first], "most recently pinned first");

    let shown_first = shown(&alice, room, first).await;
    assert_eq!(int(&shown_first, "pinned_by_id"), alice.id);
    assert!(shown_first["pinned_at"].is_string());
    assert!(shown(&alice, room, second).await["pinned_at"].is_string());

    alice.send(room, "mark").await;
    let events = stream.until_message("mark").await;
    let updates: Vec<&SseEvent> = events.iter().filter(|e| e.event == "message_updated").collect();
    assert_eq!(updates.len(), 2, "one per change, none for pinning again: {events:?}");
    assert_eq!(int(&updates[0].data, "id"), first);
    assert_eq!(int(&updates[0].data, "pinned_by_id"), alice.id);

    expect_status(bob.delete(&pin(second)).await, StatusCode::NO_CONTENT).await;
    expect_status(bob.delete(&pin(second)).await, StatusCode::NO_CONTENT).await;
    assert_eq!(shown(&alice, room, second).await["pinned_at"], Value::Null);
    assert_eq!(pins_of(&alice, room).await, [first]);
    alice.send(room, "mark2").await;
    let events = stream.until_message("mark2").await;
    let update = events.iter().find(|e| e.event == "message_updated").expect("unpinning is told");
    assert_eq!(update.data["pinned_at"], Value::Null);

    // Deleting a pinned message unpins it; a deleted message cannot be pinned.
    expect_status(alice.delete(&format!("/messages/{first}")).await, StatusCode::NO_CONTENT).await;
    assert!(pins_of(&alice, room).await.is_empty());
    assert_eq!(shown(&alice, room, first).await["pinned_at"], Value::Null);
    assert_error(put(&alice, &pin(first)).await, StatusCode::BAD_REQUEST, "invalid_input").await;
}

#[tokio::test]
async fn anyone_in_a_direct_room_pins() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let r = alice.post("/rooms", &json!({"room_type": "direct", "member_ids": [bob.id]})).await;
    let room = int(&expect_status(r, StatusCode::CREATED).await, "id");
    let message = int(&alice.send(room, "remember this").await, "id");
    expect_status(put(&bob, &format!("/messages/{message}/pin")).await, StatusCode::NO_CONTENT).await;
    let pins = alice.get_json(&format!("/rooms/{room}/pins")).await;
    assert_eq!(int(&pins[0], "pinned_by_id"), bob.id);
    assert_eq!(pins[0]["content"], "remember this");
    expect_status(alice.delete(&format!("/messages/{message}/pin")).await, StatusCode::NO_CONTENT).await;
    assert!(pins_of(&bob, room).await.is_empty());
}

/// Presence events until the stream is quiet for `wait`.
async fn presence_events(stream: &mut SseReader, wait: Duration) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Next::Event(e) = stream.next(wait).await {
        if e.event == "presence" {
            assert_eq!(e.id, None, "presence is not stored");
            out.push(e);
        }
    }
    out
}

async fn online_in(user: &TestUser, room: i64, who: i64) -> bool {
    let members = user.get_json(&format!("/rooms/{room}/members")).await;
    let member = members.as_array().unwrap().iter().find(|m| int(m, "user_id") == who).cloned().unwrap();
    member["online"].as_bool().expect("`online` on Member")
}

#[tokio::test]
async fn presence_reaches_those_who_share_a_room_once_per_stream() {
    let app = spawn_app_with(|s| s.presence_grace_ms = 600).await;
    let (alice, bob, room, _) = pair(&app).await;
    // A second room shared by both: still one event per stream.
    let second = app.admin.create_room("group", "Second", &[&alice, &bob]).await;
    let carol = app.user("carol").await;
    carol.create_room_as_admin(&app).await;
    let (_, mut alice_stream) = SseReader::open(&alice, "", None).await;
    let (_, mut alice_room_stream) = SseReader::open(&alice, &format!("?room_id={second}"), None).await;
    let (_, mut carol_stream) = SseReader::open(&carol, "", None).await;
    assert!(!online_in(&alice, room, bob.id).await);

    let (_, bob_stream) = SseReader::open(&bob, "", None).await;
    let bob_online = json!({"user_id": bob.id, "online": true});
    for stream in [&mut alice_stream, &mut alice_room_stream] {
        let events = presence_events(stream, Duration::from_millis(800)).await;
        assert_eq!(events.iter().map(|e| e.data.clone()).collect::<Vec<_>>(), std::slice::from_ref(&bob_online));
    }
    assert!(online_in(&alice, room, bob.id).await);
    let users = alice.get_json("/users?q=bob").await;
    assert_eq!(users[0]["online"], true);
    let users = alice.get_json("/users?q=carol").await;
    assert_eq!(users[0]["online"], true);

    // A reconnect within the grace period does not flap.
    drop(bob_stream);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, bob_stream) = SseReader::open(&bob, "", None).await;
    assert!(presence_events(&mut alice_stream, Duration::from_millis(1200)).await.is_empty());
    assert!(online_in(&alice, room, bob.id).await);

    // Offline once the grace period has passed, not before.
    let closed = Instant::now();
    drop(bob_stream);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(online_in(&alice, room, bob.id).await, "still online within the grace period");
    let event = alice_stream.event(Duration::from_secs(5)).await;
    assert_eq!((event.event.as_str(), event.data.clone()), ("presence", json!({"user_id": bob.id, "online": false})));
    assert!(closed.elapsed() >= Duration::from_millis(600), "offline after {:?}", closed.elapsed());
    assert!(!online_in(&alice, room, bob.id).await);

    // Carol shares no room with bob or alice: she heard nothing of them.
    assert!(presence_events(&mut carol_stream, Duration::from_millis(300)).await.is_empty());
}

#[tokio::test]
async fn people_coming_online_together_are_each_announced_once_to_each_stream() {
    let app = spawn_app_with(|s| s.presence_grace_ms = 600).await;
    let (alice, bob, room, _) = pair(&app).await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    // Bob shares two rooms with alice, carol one, dave none; carol and bob share one too.
    app.admin.create_room("group", "Second", &[&alice, &bob, &carol]).await;
    app.admin.create_room("group", "Elsewhere", &[&dave]).await;
    let (_, mut alice_stream) = SseReader::open(&alice, "", None).await;
    let (_, mut alice_room_stream) = SseReader::open(&alice, &format!("?room_id={room}"), None).await;
    assert!(presence_events(&mut alice_stream, Duration::from_millis(400)).await.is_empty());

    // Three open streams at about the same time, so their changes are announced together.
    let (bob_open, carol_open, dave_open) = tokio::join!(
        SseReader::open(&bob, "", None),
        SseReader::open(&carol, "", None),
        SseReader::open(&dave, "", None)
    );
    let (_bob_stream, _carol_stream, _dave_stream) = (bob_open.1, carol_open.1, dave_open.1);
    for stream in [&mut alice_stream, &mut alice_room_stream] {
        let mut heard: Vec<(i64, bool)> = presence_events(stream, Duration::from_millis(800))
            .await
            .iter()
            .map(|e| (int(&e.data, "user_id"), e.data["online"].as_bool().unwrap()))
            .collect();
        heard.sort_unstable();
        assert_eq!(heard, [(bob.id, true), (carol.id, true)]);
    }
}
