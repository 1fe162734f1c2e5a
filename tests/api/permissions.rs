//! Every row of the contract's permission matrix, allowed and refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

const ALL: &[&str] = &["chat.read", "chat.create", "chat.update", "chat.delete", "chat.manage_rooms"];

fn without(p: &str) -> Vec<&'static str> {
    ALL.iter().copied().filter(|x| *x != p).collect()
}

/// Sends a message with a small PNG attached.
async fn upload(user: &TestUser, room: i64, content: &str) -> reqwest::Response {
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3])))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("room_id", room.to_string())
        .text("content", content.to_owned())
        .part("files", reqwest::multipart::Part::bytes(png.into_inner()).file_name("dot.png"));
    user.client.post(user.url("/messages")).multipart(form).send().await.unwrap()
}

#[tokio::test]
async fn each_global_permission_gates_its_actions() {
    let app = spawn_app().await;
    let no_read = app.user_with("noread", Some(&without("chat.read"))).await;
    let no_create = app.user_with("nocreate", Some(&without("chat.create"))).await;
    let no_update = app.user_with("noupdate", Some(&without("chat.update"))).await;
    let no_delete = app.user_with("nodelete", Some(&without("chat.delete"))).await;
    let no_manage = app.user_with("nomanage", Some(&without("chat.manage_rooms"))).await;
    let full = app.user_with("full", Some(ALL)).await;
    let everyone = [&no_read, &no_create, &no_update, &no_delete, &no_manage, &full];
    let room = app.admin.create_room("group", "Matrix", &everyone).await;
    for user in everyone {
        let r = app.admin.patch(&format!("/rooms/{room}/members/{}", user.id), &json!({"role": "admin"})).await;
        expect_status(r, StatusCode::OK).await;
    }
    let channel = app.admin.create_room("channel", "Open", &[]).await;
    let file = upload(&full, room, "a file").await;
    let file = expect_status(file, StatusCode::CREATED).await;
    let download = file["attachments"][0]["url"].as_str().expect("url").to_owned();
    let thumbnail = file["attachments"][0]["thumbnail_url"].as_str().expect("thumbnail_url").to_owned();

    // chat.read: list rooms, read messages, open the stream, join a channel, download.
    assert_error(no_read.get("/rooms").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(no_read.get(&format!("/rooms/{room}/messages")).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(no_read.get("/stream").await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(no_read.post(&format!("/rooms/{channel}/join"), &json!({})).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    for url in [&download, &thumbnail] {
        let r = no_read.client.get(format!("{}{url}", no_read.address)).send().await.unwrap();
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_error(no_read.get(&format!("/rooms/{room}/attachments")).await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_status(full.get("/rooms").await, StatusCode::OK).await;
    expect_status(full.get(&format!("/rooms/{room}/messages")).await, StatusCode::OK).await;
    expect_status(full.post(&format!("/rooms/{channel}/join"), &json!({})).await, StatusCode::OK).await;
    for url in [&download, &thumbnail] {
        let r = no_create.client.get(format!("{}{url}", no_create.address)).send().await.unwrap();
        expect_status(r, StatusCode::OK).await;
    }

    // chat.create: send, upload, open a direct conversation.
    let r = no_create.post("/messages", &json!({"room_id": room, "content": "hi"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(upload(&no_create, room, "no file").await, StatusCode::FORBIDDEN, "forbidden").await;
    let r = no_create.post("/rooms", &json!({"room_type": "direct", "member_ids": [full.id]})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = full.post("/rooms", &json!({"room_type": "direct", "member_ids": [no_create.id]})).await;
    expect_status(r, StatusCode::CREATED).await;

    // chat.update: edit (own messages only).
    let own = no_update.send(room, "mine").await;
    let r = no_update.patch(&format!("/messages/{}", own["id"]), &json!({"content": "edit"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let own = full.send(room, "mine").await;
    expect_status(full.patch(&format!("/messages/{}", own["id"]), &json!({"content": "edit"})).await, StatusCode::OK)
        .await;

    // chat.delete: delete (own, or as room admin/moderator).
    let r = no_delete.delete(&format!("/messages/{}", own["id"])).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let theirs = no_delete.send(room, "theirs").await;
    expect_status(full.delete(&format!("/messages/{}", theirs["id"])).await, StatusCode::NO_CONTENT).await;

    // chat.manage_rooms: create groups and channels; rename, add/remove members, roles.
    let r = no_manage.post("/rooms", &json!({"room_type": "group", "name": "x", "member_ids": []})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = no_manage.post("/rooms", &json!({"room_type": "channel", "name": "x", "member_ids": []})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(
        no_manage.patch(&format!("/rooms/{room}"), &json!({"name": "y"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = no_manage.delete(&format!("/rooms/{room}/members/{}", no_read.id)).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = no_manage.patch(&format!("/rooms/{room}/members/{}", no_read.id), &json!({"role": "member"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    expect_status(full.patch(&format!("/rooms/{room}"), &json!({"name": "Renamed"})).await, StatusCode::OK).await;
    assert!(full.create_room("group", "Mine", &[]).await > 0);

    // Own membership needs no global permission: mute, mark read, leave.
    let last = full.send(room, "last").await;
    let r = no_read.patch(&format!("/rooms/{room}/members/{}", no_read.id), &json!({"is_muted": true})).await;
    expect_status(r, StatusCode::OK).await;
    let r = no_read.post(&format!("/rooms/{room}/read"), &json!({"message_id": last["id"]})).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    expect_status(no_read.delete(&format!("/rooms/{room}/members/{}", no_read.id)).await, StatusCode::NO_CONTENT).await;

    // Managing users needs an administrator.
    assert_error(full.get("/admin/users").await, StatusCode::FORBIDDEN, "forbidden").await;
    expect_status(app.admin.get("/admin/users").await, StatusCode::OK).await;
    expect_status(full.get("/users?q=no").await, StatusCode::OK).await;
    assert_error(no_read.get("/users?q=no").await, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn room_roles_gate_room_management() {
    let app = spawn_app().await;
    let member = app.user_with("member", Some(ALL)).await;
    let other = app.user("other").await;
    let room = app.admin.create_room("group", "Roles", &[&member, &other]).await;
    // chat.manage_rooms alone is not enough: the room role must be admin.
    let r = member.post(&format!("/rooms/{room}/members"), &json!({"user_id": app.admin.id})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(
        member.patch(&format!("/rooms/{room}"), &json!({"name": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let r = app.admin.patch(&format!("/rooms/{room}/members/{}", member.id), &json!({"role": "moderator"})).await;
    expect_status(r, StatusCode::OK).await;
    assert_error(
        member.patch(&format!("/rooms/{room}"), &json!({"name": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let msg = other.send(room, "delete me").await;
    expect_status(member.delete(&format!("/messages/{}", msg["id"])).await, StatusCode::NO_CONTENT).await;
    let r = app.admin.patch(&format!("/rooms/{room}/members/{}", member.id), &json!({"role": "admin"})).await;
    expect_status(r, StatusCode::OK).await;
    expect_status(member.patch(&format!("/rooms/{room}"), &json!({"name": "x"})).await, StatusCode::OK).await;
    let r = member.post(&format!("/rooms/{room}/members"), &json!({"user_id": app.admin.id})).await;
    assert_error(r, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn rooms_i_am_not_in_do_not_exist_for_me() {
    let app = spawn_app().await;
    let stranger = app.user("stranger").await;
    let room = app.admin.create_room("group", "Secret", &[]).await;
    let msg = app.admin.send(room, "secret").await;
    let id = int(&msg, "id");
    let not_found = [
        stranger.get(&format!("/rooms/{room}")).await,
        stranger.get(&format!("/rooms/{room}/messages")).await,
        stranger.get(&format!("/rooms/{room}/members")).await,
        stranger.get(&format!("/rooms/{room}/attachments")).await,
        stranger.get(&format!("/stream?room_id={room}")).await,
        stranger.post("/messages", &json!({"room_id": room, "content": "hi"})).await,
        stranger.patch(&format!("/messages/{id}"), &json!({"content": "x"})).await,
        stranger.delete(&format!("/messages/{id}")).await,
        stranger.get(&format!("/messages/{id}/reads")).await,
        stranger.post(&format!("/rooms/{room}/read"), &json!({"message_id": id})).await,
        stranger.post(&format!("/rooms/{room}/typing"), &json!({})).await,
        stranger.patch(&format!("/rooms/{room}"), &json!({"name": "x"})).await,
        stranger.post(&format!("/rooms/{room}/members"), &json!({"user_id": stranger.id})).await,
        stranger.delete(&format!("/rooms/{room}/members/{}", app.admin.id)).await,
        stranger.post(&format!("/rooms/{room}/join"), &json!({})).await,
        stranger.get("/rooms/999999").await,
        stranger.get("/messages/999999/reads").await,
    ];
    for r in not_found {
        let url = r.url().to_string();
        let status = r.status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn permission_changes_apply_at_once() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Now", &[&alice]).await;
    alice.send(room, "allowed").await;
    let r = app.admin.patch(&format!("/admin/users/{}", alice.id), &json!({"permissions": ["chat.read"]})).await;
    expect_status(r, StatusCode::OK).await;
    let r = alice.post("/messages", &json!({"room_id": room, "content": "refused"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let change = json!({"display_name": "Alicia", "permissions": ALL});
    expect_status(app.admin.patch(&format!("/admin/users/{}", alice.id), &change).await, StatusCode::OK).await;
    assert_eq!(alice.send(room, "renamed").await["sender_name"], "Alicia");
}
