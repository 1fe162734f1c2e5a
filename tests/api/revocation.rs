//! Ending a sign-in ends what it opened: logout, a revoked token, a new password, a right
//! taken away. Each takes effect on open streams at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::sse::{Next, SseReader};

/// A stream opened with an API token, on a connection of its own.
async fn open_with_token(user: &TestUser, token: &str) -> SseReader {
    let fresh = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let response = fresh.get(user.url("/stream")).bearer_auth(token).send().await.unwrap();
    SseReader::over(expect_head(response, StatusCode::OK).await)
}

/// The stream is still open: it carries a message sent now.
async fn still_carries(reader: &mut SseReader, sender: &TestUser, room: i64, text: &str) {
    sender.send(room, text).await;
    match reader.next(Duration::from_secs(10)).await {
        Next::Event(event) => assert_eq!(event.data["content"], text, "{event:?}"),
        other => panic!("the stream should still carry messages, got {other:?}"),
    }
}

#[tokio::test]
async fn logging_out_ends_the_streams_of_that_session_only() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Sessions", &[&bob]).await;
    let other_session = login(&app.address, "bob", PASSWORD).await;
    let (_, mut leaving) = SseReader::open(&bob, "", None).await;
    let (_, mut staying) = SseReader::open(&other_session, "", None).await;
    expect_status(bob.post("/auth/logout", &json!({})).await, StatusCode::NO_CONTENT).await;
    leaving.expect_end().await;
    still_carries(&mut staying, &app.admin, room, "still here").await;
}

#[tokio::test]
async fn revoking_a_token_ends_its_streams() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Tokens", &[&bob]).await;
    let token = bob.create_token().await;
    let tokens = bob.get_json("/me/tokens").await;
    let id = int(&tokens[0], "id");
    let mut by_token = open_with_token(&bob, &token).await;
    let (_, mut by_session) = SseReader::open(&bob, "", None).await;
    expect_status(bob.delete(&format!("/me/tokens/{id}")).await, StatusCode::NO_CONTENT).await;
    by_token.expect_end().await;
    still_carries(&mut by_session, &app.admin, room, "session goes on").await;
    let r = bob.with_token(&token).get("/me").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn a_new_password_ends_every_other_sign_in_and_its_streams() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let token = bob.create_token().await;
    let (_, mut session_stream) = SseReader::open(&bob, "", None).await;
    let mut token_stream = open_with_token(&bob, &token).await;
    let r = app.admin.patch(&format!("/admin/users/{}", bob.id), &json!({"password": "a-new-password-2"})).await;
    expect_status(r, StatusCode::OK).await;
    session_stream.expect_end().await;
    token_stream.expect_end().await;
    // The old cookie, sent by hand, and the token no longer sign in; the new password does.
    let r = reqwest::Client::new()
        .get(bob.url("/me"))
        .header("cookie", format!("causerie_session={}", bob.session))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_error(bob.with_token(&token).get("/me").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    login(&app.address, "bob", "a-new-password-2").await;
}

#[tokio::test]
async fn an_admin_changing_their_own_password_keeps_their_session() {
    let app = spawn_app().await;
    let elsewhere = login(&app.address, "admin", ADMIN_PASSWORD).await;
    let r = app.admin.patch(&format!("/admin/users/{}", app.admin.id), &json!({"password": "a-new-password-3"})).await;
    expect_status(r, StatusCode::OK).await;
    expect_status(app.admin.get("/me").await, StatusCode::OK).await;
    let r = elsewhere.get("/me").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn losing_the_right_to_read_ends_the_streams() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let (_, mut stream) = SseReader::open(&bob, "", None).await;
    let r = app.admin.patch(&format!("/admin/users/{}", bob.id), &json!({"permissions": ["chat.create"]})).await;
    expect_status(r, StatusCode::OK).await;
    stream.expect_end().await;
    let fresh = reqwest::Client::new();
    let r = fresh
        .get(bob.url("/stream"))
        .header("cookie", format!("causerie_session={}", bob.session))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
}
