use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn direct_rooms_are_one_per_pair() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let r = alice.post("/rooms", &json!({"room_type": "direct", "member_ids": [bob.id]})).await;
    let room = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(room["name"], "Bob", "named after the other member");
    assert_eq!(room["room_type"], "direct");
    assert_eq!(room["member_count"], 2);
    let r = alice.post("/rooms", &json!({"room_type": "direct", "member_ids": [bob.id]})).await;
    let body = expect_status(r, StatusCode::OK).await;
    assert_eq!(body["id"], room["id"]);
    let r = bob.post("/rooms", &json!({"room_type": "direct", "member_ids": [alice.id]})).await;
    let seen_by_bob = expect_status(r, StatusCode::OK).await;
    assert_eq!(seen_by_bob["id"], room["id"]);
    assert_eq!(seen_by_bob["name"], "Alice");
    for bad in [
        json!({"room_type": "direct", "member_ids": []}),
        json!({"room_type": "direct", "member_ids": [alice.id]}),
        json!({"room_type": "direct", "member_ids": [bob.id, app.admin.id]}),
        json!({"room_type": "direct", "member_ids": [bob.id], "name": "x"}),
    ] {
        assert_error(alice.post("/rooms", &bad).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let r = alice.post("/rooms", &json!({"room_type": "direct", "member_ids": [987654]})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn groups_channels_and_joining() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let r =
        app.admin.post("/rooms", &json!({"room_type": "group", "name": "  Team  ", "member_ids": [alice.id]})).await;
    let group = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(group["name"], "Team");
    assert_eq!(group["my_role"], "admin");
    assert_eq!(group["unread_count"], 0);
    assert_eq!(group["is_muted"], false);
    assert_eq!(group["last_message"], Value::Null);
    // `member_ids` may be left out or `null`: a room of its creator alone.
    for members in [json!({}), json!({"member_ids": null})] {
        let mut body = json!({"room_type": "group", "name": "Solo"});
        body.as_object_mut().unwrap().extend(members.as_object().unwrap().clone());
        let r = app.admin.post("/rooms", &body).await;
        let solo = expect_status(r, StatusCode::CREATED).await;
        assert_eq!(solo["member_count"], 1, "{body}");
    }
    let channel = app.admin.create_room("channel", "Announcements", &[]).await;
    app.admin.send(channel, "welcome").await;
    let open = bob.get_json("/channels").await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["id"], channel);
    // The Room shape in full: not yet a member, so no role, not muted, nothing unread.
    assert_eq!(open[0]["my_role"], Value::Null);
    assert!(open[0].as_object().unwrap().contains_key("my_role"), "{}", open[0]);
    assert_eq!(open[0]["is_muted"], false);
    assert_eq!(open[0]["unread_count"], 0);
    assert_eq!(open[0]["last_message"]["content"], "welcome");
    let r = bob.post(&format!("/rooms/{channel}/join"), &json!({})).await;
    let body = expect_status(r, StatusCode::OK).await;
    assert_eq!(body["my_role"], "member");
    assert!(bob.get_json("/channels").await.as_array().unwrap().is_empty());
    let r = bob.post(&format!("/rooms/{}/join", group["id"]), &json!({})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let detail = alice.get_json(&format!("/rooms/{}", group["id"])).await;
    let members = detail["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["role"], "admin");
    assert_eq!(members[1]["username"], "alice");
    for bad in [
        json!({"room_type": "group", "member_ids": []}),
        json!({"room_type": "group", "name": "", "member_ids": []}),
        json!({"room_type": "group", "name": "x".repeat(81), "member_ids": []}),
        json!({"room_type": "lounge", "name": "x", "member_ids": []}),
        json!({"name": "x"}),
    ] {
        assert_error(app.admin.post("/rooms", &bad).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
}

#[tokio::test]
async fn rooms_are_listed_by_latest_activity() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let a = app.admin.create_room("group", "A", &[&alice]).await;
    let b = app.admin.create_room("group", "B", &[&alice]).await;
    let c = app.admin.create_room("group", "C", &[&alice]).await;
    app.admin.send(a, "news in A").await;
    let list = alice.get_json("/rooms").await;
    let ids: Vec<i64> = list.as_array().unwrap().iter().map(|r| int(r, "id")).collect();
    assert_eq!(ids, [a, c, b]);
    assert_eq!(list[0]["last_message"]["content"], "news in A");
    assert_eq!(list[0]["unread_count"], 1);
}

#[tokio::test]
async fn renaming_a_room() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Old", &[&alice]).await;
    let r = app.admin.patch(&format!("/rooms/{room}"), &json!({"name": "New"})).await;
    let body = expect_status(r, StatusCode::OK).await;
    assert_eq!(body["name"], "New");
    let r = alice.patch(&format!("/rooms/{room}"), &json!({"name": "Mine"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.admin.patch(&format!("/rooms/{room}"), &json!({"name": ""})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let last = alice.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(last["messages"][0]["message_type"], "system");
    assert_eq!(last["messages"][0]["content"], "Administrator renamed the room to New");
}

/// Alice opens a direct room with bob, who then leaves it.
async fn a_direct_room_bob_left(app: &TestApp) -> (TestUser, TestUser, i64) {
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let r = alice.post("/rooms", &json!({"room_type": "direct", "member_ids": [bob.id]})).await;
    let room = int(&expect_status(r, StatusCode::CREATED).await, "id");
    let r = bob.delete(&format!("/rooms/{room}/members/{}", bob.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    (alice, bob, room)
}

#[tokio::test]
async fn a_direct_room_keeps_its_name_and_tells_who_came_back() {
    let app = spawn_app().await;
    let (alice, bob, room) = a_direct_room_bob_left(&app).await;
    let seen = alice.get_json(&format!("/rooms/{room}")).await;
    assert_eq!(seen["name"], "Bob", "still named after the other party");
    assert_eq!(seen["member_count"], 1);
    let listed = alice.get_json("/rooms").await;
    assert_eq!(listed[0]["name"], "Bob");
    let r = bob.post("/rooms", &json!({"room_type": "direct", "member_ids": [alice.id]})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["name"], "Alice");
    let page = alice.get_json(&format!("/rooms/{room}/messages")).await;
    let notices: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "system")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(notices, ["Bob left", "Bob joined"]);
}

/// Either party asking again brings back the one who left: leaving a direct room hides it
/// until one of the two opens it again.
#[tokio::test]
async fn asking_for_a_direct_room_again_brings_back_the_other_party() {
    let app = spawn_app().await;
    let (alice, bob, room) = a_direct_room_bob_left(&app).await;
    assert_error(bob.get(&format!("/rooms/{room}")).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = alice.post("/rooms", &json!({"room_type": "direct", "member_ids": [bob.id]})).await;
    let again = expect_status(r, StatusCode::OK).await;
    assert_eq!(int(&again, "id"), room);
    assert_eq!(again["member_count"], 2);
    let seen = bob.get_json(&format!("/rooms/{room}")).await;
    assert_eq!(seen["name"], "Alice");
    let page = bob.get_json(&format!("/rooms/{room}/messages")).await;
    let last = page["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
    assert_eq!(last["content"], "Bob joined");
}
