//! Every change counts against its author's budget, not only sending messages.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn changes_of_every_kind_share_one_budget_per_user() {
    let app = spawn_app_with(|s| s.actions_per_minute = 5).await;
    // Five changes of different kinds by the admin: an account, a room, a rename, a member,
    // a token.
    let bob = app.user("bob").await;
    let room = app.admin.create_room("channel", "Budget", &[]).await;
    let r = app.admin.patch(&format!("/rooms/{room}"), &json!({"name": "Budget 2"})).await;
    expect_status(r, StatusCode::OK).await;
    let r = app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": bob.id})).await;
    expect_status(r, StatusCode::CREATED).await;
    let r = app.admin.post("/me/tokens", &json!({})).await;
    expect_status(r, StatusCode::CREATED).await;
    // The sixth is refused, with when to come back, and changes nothing.
    let r = app.admin.patch(&format!("/rooms/{room}"), &json!({"name": "Budget 3"})).await;
    assert_retry_after(&r, 1..=60);
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let now = app.admin.get_json(&format!("/rooms/{room}")).await;
    assert_eq!(now["name"], "Budget 2");
    // Reading is not a change; and bob's budget is his own.
    app.admin.get_json("/rooms").await;
    let sent = bob.send(room, "hello").await;
    let r = bob.post(&format!("/rooms/{room}/read"), &json!({"message_id": int(&sent, "id")})).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let r = bob.patch(&format!("/messages/{}", int(&sent, "id")), &json!({"content": "hello again"})).await;
    expect_status(r, StatusCode::OK).await;
}
