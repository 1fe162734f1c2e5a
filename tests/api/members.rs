use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn system_texts(user: &TestUser, room: i64) -> Vec<String> {
    let page = user.get_json(&format!("/rooms/{room}/messages")).await;
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message_type"] == "system")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn adding_changing_and_removing_members() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Team", &[&alice]).await;
    let r = app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": bob.id, "role": "moderator"})).await;
    let member = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(member["role"], "moderator");
    assert_eq!(member["username"], "bob");
    assert_eq!(member["is_muted"], false);
    let r = app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": bob.id})).await;
    assert_error(r, StatusCode::CONFLICT, "conflict").await;
    let r = app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": 424242})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": bob.id, "role": "owner"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;

    let r = app.admin.patch(&format!("/rooms/{room}/members/{}", alice.id), &json!({"role": "moderator"})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["role"], "moderator");
    // Members mute for themselves only.
    let r = alice.patch(&format!("/rooms/{room}/members/{}", alice.id), &json!({"is_muted": true})).await;
    expect_status(r, StatusCode::OK).await;
    let rooms = alice.get_json("/rooms").await;
    assert_eq!(rooms[0]["is_muted"], true);
    let r = alice.patch(&format!("/rooms/{room}/members/{}", bob.id), &json!({"is_muted": true})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = alice.patch(&format!("/rooms/{room}/members/{}", bob.id), &json!({"role": "member"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = alice.patch(&format!("/rooms/{room}/members/{}", alice.id), &json!({})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;

    let r = app.admin.delete(&format!("/rooms/{room}/members/{}", bob.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    assert_error(bob.get(&format!("/rooms/{room}")).await, StatusCode::NOT_FOUND, "not_found").await;
    let r = alice.delete(&format!("/rooms/{room}/members/{}", alice.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let texts = system_texts(&app.admin, room).await;
    assert_eq!(
        texts,
        ["Administrator added Bob", "Administrator made Alice moderator", "Administrator removed Bob", "Alice left"]
    );
    let members = app.admin.get_json(&format!("/rooms/{room}/members")).await;
    assert_eq!(members.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_last_admin_hands_the_room_on() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Team", &[&alice]).await;
    let r = app.admin.patch(&format!("/rooms/{room}/members/{}", app.admin.id), &json!({"role": "member"})).await;
    assert_error(r, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(
        app.admin.delete(&format!("/rooms/{room}/members/{}", app.admin.id)).await.status(),
        StatusCode::NO_CONTENT
    );
    let members = alice.get_json(&format!("/rooms/{room}/members")).await;
    assert_eq!(members[0]["role"], "admin");
    assert_eq!(system_texts(&alice, room).await, ["Administrator left", "Alice is now an admin"]);
}
