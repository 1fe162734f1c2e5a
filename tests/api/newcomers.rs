//! What the web client leans on so that a newcomer is not tripped up: sending counts as
//! reading, joining starts at the newest message, account changes reach open pages, the
//! start-up probe of `/me` is no error, and the upload rules are there to ask for.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::sse::*;

async fn unread(user: &TestUser, room: i64) -> i64 {
    let rooms = user.get_json("/rooms").await;
    let room = rooms.as_array().unwrap().iter().find(|r| r["id"] == room).expect("the room is listed");
    int(room, "unread_count")
}

#[tokio::test]
async fn sending_a_message_moves_the_senders_read_mark_whatever_the_client() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Desk", &[&alice, &bob]).await;
    for n in 1..=4 {
        bob.send(room, &format!("from bob {n}")).await;
    }
    let bobs_last = bob.send(room, "from bob 5").await;
    assert_eq!(unread(&alice, room).await, 5);
    let (_, mut bob_stream) = SseReader::open(&bob, "", None).await;

    // Alice writes with a token, as a bot or another tab would: no read mark is asked for.
    let token = alice.create_token().await;
    let sent = alice.with_token(&token).send(room, "alice answers by token").await;
    assert_eq!(unread(&alice, room).await, 0, "what she answered to is read");
    assert_eq!(unread(&bob, room).await, 1, "bob has her message to read");

    // The new message stands for the mark: no `read` event follows it.
    let events = bob_stream.until_message("alice answers by token").await;
    assert!(events.iter().all(|e| e.event != "read"), "{events:?}");
    bob_stream.expect_quiet(Duration::from_millis(600)).await;

    // "Seen by" on bob's message counts her, from the mark her message made.
    let reads = bob.get_json(&format!("/messages/{}/reads", int(&bobs_last, "id"))).await;
    let readers: Vec<i64> = reads.as_array().unwrap().iter().map(|r| int(r, "user_id")).collect();
    assert_eq!(readers, vec![alice.id]);
    // Her own message is not "seen" by her.
    let own = alice.get_json(&format!("/messages/{}/reads", int(&sent, "id"))).await;
    assert_eq!(own, json!([]));

    // Marking an older message afterwards changes nothing.
    let r = alice.post(&format!("/rooms/{room}/read"), &json!({"message_id": int(&bobs_last, "id")})).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    assert_eq!(unread(&alice, room).await, 0);

    // A message with files moves it too.
    bob.send(room, "one more from bob").await;
    assert_eq!(unread(&alice, room).await, 1);
    let form = Form::new()
        .text("room_id", room.to_string())
        .text("content", "notes attached")
        .part("files", Part::bytes(b"minutes\n".to_vec()).file_name("minutes.txt"));
    let r = alice.client.post(alice.url("/messages")).multipart(form).send().await.unwrap();
    expect_status(r, StatusCode::CREATED).await;
    assert_eq!(unread(&alice, room).await, 0);

    // A refused message moves nothing.
    bob.send(room, "and another").await;
    let r = alice.post("/messages", &json!({"room_id": room, "content": "   "})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert_eq!(unread(&alice, room).await, 1);
    // Nor does a message to a room one is not in.
    let outsider = app.user("carol").await;
    let r = outsider.post("/messages", &json!({"room_id": room, "content": "let me in"})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(unread(&alice, room).await, 1);
}

#[tokio::test]
async fn a_newcomer_starts_at_the_newest_message() {
    let app = spawn_app().await;
    let alice = app.user_with("alice", Some(&["chat.read", "chat.create", "chat.manage_rooms"])).await;
    let bob = app.user("bob").await;
    let channel = alice.create_room("channel", "Town hall", &[]).await;
    let group = alice.create_room("group", "Inner circle", &[]).await;
    for n in 1..=12 {
        alice.send(channel, &format!("history {n}")).await;
        alice.send(group, &format!("secret {n}")).await;
    }

    let joined = expect_status(bob.post(&format!("/rooms/{channel}/join"), &json!({})).await, StatusCode::OK).await;
    assert_eq!(int(&joined, "unread_count"), 0, "history from before joining is not unread");
    assert_eq!(unread(&bob, channel).await, 0);
    let r = alice.post(&format!("/rooms/{group}/members"), &json!({"user_id": bob.id})).await;
    expect_status(r, StatusCode::CREATED).await;
    assert_eq!(unread(&bob, group).await, 0);

    // What comes after is unread as always.
    alice.send(channel, "news after bob joined").await;
    alice.send(group, "news after bob came in").await;
    assert_eq!(unread(&bob, channel).await, 1);
    assert_eq!(unread(&bob, group).await, 1);
    // The history is still there to read.
    let page = bob.get_json(&format!("/rooms/{channel}/messages?limit=100")).await;
    assert!(page["messages"].as_array().unwrap().iter().any(|m| m["content"] == "history 1"));
    // Nobody saw history on bob's behalf.
    let first = &page["messages"][0];
    let reads = alice.get_json(&format!("/messages/{}/reads", int(first, "id"))).await;
    assert_eq!(reads, json!([]));
}

#[tokio::test]
async fn an_account_change_reaches_the_accounts_open_streams() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Both", &[&alice, &bob]).await;
    // Presence comes as the streams open; this test is about account changes.
    let mut alice_all = SseReader::open(&alice, "", None).await.1.ignoring("presence");
    let mut alice_room = SseReader::open(&alice, &format!("?room_id={room}"), None).await.1.ignoring("presence");
    let mut bob_all = SseReader::open(&bob, "", None).await.1.ignoring("presence");
    for sse in [&mut alice_all, &mut alice_room, &mut bob_all] {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Retry(3000));
    }

    let granted = json!(["chat.read", "chat.create", "chat.update", "chat.delete", "chat.manage_rooms"]);
    let r = app.admin.patch(&format!("/admin/users/{}", alice.id), &json!({"permissions": granted})).await;
    expect_status(r, StatusCode::OK).await;
    for sse in [&mut alice_all, &mut alice_room] {
        let e = sse.event(WAIT).await;
        assert_eq!(e.event, "me_updated");
        assert_eq!(e.id, None, "not stored, never replayed");
        assert_eq!(e.data, alice.get_json("/me").await, "the same User as GET /me");
        assert!(e.data["permissions"].as_array().unwrap().contains(&json!("chat.manage_rooms")));
    }
    bob_all.expect_quiet(Duration::from_millis(500)).await;

    // Made admin, then a new display name: each announced.
    let r = app.admin.patch(&format!("/admin/users/{}", alice.id), &json!({"is_admin": true})).await;
    expect_status(r, StatusCode::OK).await;
    assert_eq!(alice_all.event(WAIT).await.data["is_admin"], true);
    let r = app.admin.patch(&format!("/admin/users/{}", alice.id), &json!({"display_name": "Alice M."})).await;
    expect_status(r, StatusCode::OK).await;
    assert_eq!(alice_all.event(WAIT).await.data["display_name"], "Alice M.");

    // A refused change announces nothing.
    let r = bob.patch(&format!("/admin/users/{}", alice.id), &json!({"is_admin": false})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = app.admin.patch(&format!("/admin/users/{}", alice.id), &json!({"permissions": ["chat.fly"]})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    alice_all.expect_quiet(Duration::from_millis(500)).await;

    // A resumed stream does not replay it.
    bob.send(room, "after the changes").await;
    let last = alice_all.until_message("after the changes").await;
    let last_id = last.last().and_then(|e| e.id).expect("a stored id");
    let (_, mut resumed) = SseReader::open(&alice, "", Some(last_id - 1)).await;
    let replayed = resumed.until_message("after the changes").await;
    assert!(replayed.iter().all(|e| e.event != "me_updated"), "{replayed:?}");

    // Taking away chat.read still ends the streams.
    bob_all.until_message("after the changes").await;
    let r = app.admin.patch(&format!("/admin/users/{}", bob.id), &json!({"permissions": ["chat.create"]})).await;
    expect_status(r, StatusCode::OK).await;
    bob_all.expect_end().await;
}

#[tokio::test]
async fn the_start_up_probe_of_me_is_no_error() {
    let app = spawn_app().await;
    let anonymous = client();
    let url = format!("{}/chat/api/me", app.address);
    let r = anonymous.get(format!("{url}?optional=true")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.text().await.unwrap(), "");
    // API clients still get the contract's 401.
    assert_error(anonymous.get(&url).send().await.unwrap(), StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = anonymous.get(format!("{url}?optional=false")).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = anonymous.get(format!("{url}?optional=maybe")).send().await.unwrap();
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    // A session that ended is nobody signed in too: the page shows its sign-in form.
    let gone = app.user("gone").await;
    expect_status(gone.post("/auth/logout", &json!({})).await, StatusCode::NO_CONTENT).await;
    let r = gone.get_with_session_cookie("/me?optional=true").await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(gone.get_with_session_cookie("/me").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // Signed in, the same request answers the user.
    let alice = app.user("alice").await;
    let me = alice.get_json("/me?optional=true").await;
    assert_eq!(me["username"], "alice");
    assert!(me["permissions"].is_array());
}

#[tokio::test]
async fn the_upload_rules_are_the_ones_the_server_applies() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Files", &[&alice]).await;
    let anonymous = client().get(format!("{}/chat/api/uploads/rules", app.address)).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let rules = alice.get_json("/uploads/rules").await;
    let extensions: Vec<&str> = rules["extensions"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for expected in ["jpg", "png", "pdf", "zip", "docx", "txt", "csv", "md"] {
        assert!(extensions.contains(&expected), "{expected} in {extensions:?}");
    }
    assert!(!extensions.contains(&"exe") && !extensions.contains(&"svg") && !extensions.contains(&"html"));
    assert_eq!(int(&rules, "max_file_bytes"), 25 * 1024 * 1024);
    assert_eq!(int(&rules, "max_files_per_message"), 10);

    // A refusal ends with the same words.
    let allowed = rules["allowed"].as_str().unwrap();
    let form = Form::new()
        .text("room_id", room.to_string())
        .text("content", "")
        .part("files", Part::bytes(b"MZ".to_vec()).file_name("setup.exe"));
    let r = alice.client.post(alice.url("/messages")).multipart(form).send().await.unwrap();
    let body: Value = assert_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(message, format!("'.exe' files are not accepted; allowed: {allowed}"));
    // Every listed extension passes the extension check (a file that is what it says).
    let form = Form::new()
        .text("room_id", room.to_string())
        .text("content", "")
        .part("files", Part::bytes(b"plain text\n".to_vec()).file_name("readme.md"));
    let r = alice.client.post(alice.url("/messages")).multipart(form).send().await.unwrap();
    expect_status(r, StatusCode::CREATED).await;

    // Without chat.read, no rules either.
    let writer = app.user_with("writer", Some(&["chat.create"])).await;
    assert_error(writer.get("/uploads/rules").await, StatusCode::FORBIDDEN, "forbidden").await;
}

/// `causerie user grant --help` shows what applies to it: the permission names and what each
/// allows, and none of the server's own options.
#[test]
fn user_grant_help_shows_only_what_applies() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_causerie")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    for command in ["grant", "revoke"] {
        let help = run(&["user", command, "--help"]);
        for name in ["chat.read", "chat.create", "chat.update", "chat.delete", "chat.manage_rooms", "--database"] {
            assert!(help.contains(name), "`user {command} --help` names {name}:\n{help}");
        }
        for other in ["--bind", "--uploads", "--demo"] {
            assert!(!help.contains(other), "`user {command} --help` shows {other}, which does not apply:\n{help}");
        }
    }
    // The server's options are where they apply: `serve`, and `causerie` alone.
    let serve = run(&["serve", "--help"]);
    assert!(serve.contains("--bind") && serve.contains("--uploads") && serve.contains("--demo"), "{serve}");
    assert!(run(&["--help"]).contains("--bind"));
    assert!(run(&["uploads", "gc", "--help"]).contains("--uploads"));
}
