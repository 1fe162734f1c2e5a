//! Malformed requests get the contract's 4xx errors, never a 500, and write nothing.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn malformed_requests_get_contract_errors() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Target", &[]).await;
    let msg = int(&app.admin.send(room, "hello").await, "id");
    let big = format!("{{\"room_id\": {room}, \"content\": \"{}\"}}", "x".repeat(400 * 1024));
    let cases: Vec<(Method, String, Option<String>, StatusCode, &str)> = vec![
        (Method::POST, "/messages".into(), Some("{not json".into()), StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::POST, "/messages".into(), Some("".into()), StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::POST, "/messages".into(), Some("[]".into()), StatusCode::BAD_REQUEST, "invalid_input"),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("[{room}, \"in order\", null]")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("{{\"room_id\": {room}, \"content\": \"x\"}} {{\"room_id\": {room}}}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("{{\"room_id\": {room}, \"content\": \"x\"}} trailing")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("{{\"room_id\": \"{room}\", \"content\": \"x\"}}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some("{\"content\": \"x\"}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("{{\"room_id\": {room}}}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("{{\"room_id\": {room}, \"content\": \"   \"}}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("{{\"room_id\": {room}, \"content\": \"{}\"}}", "y".repeat(10_001))),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some(format!("{{\"room_id\": {room}, \"content\": 5}}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/messages".into(),
            Some("{\"room_id\": 99999999999999999999999, \"content\": \"x\"}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (Method::POST, "/messages".into(), Some(big), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (
            Method::PATCH,
            format!("/messages/{msg}"),
            Some("{\"content\": \"x\", \"extra\": 1}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::PATCH,
            format!("/messages/{msg}"),
            Some("{\"content\": null}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (Method::GET, "/rooms/abc".into(), None, StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::GET, "/rooms/1.5/messages".into(), None, StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::GET, format!("/rooms/{room}/messages?limit=abc"), None, StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::GET, format!("/rooms/{room}/messages?limit=0"), None, StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::GET, format!("/rooms/{room}/messages?before=x"), None, StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::GET, "/stream?last_event_id=abc".into(), None, StatusCode::BAD_REQUEST, "invalid_input"),
        (Method::GET, "/stream?room_id=x".into(), None, StatusCode::BAD_REQUEST, "invalid_input"),
        (
            Method::POST,
            format!("/rooms/{room}/read"),
            Some("{\"message_id\": \"x\"}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/rooms".into(),
            Some("{\"room_type\": \"group\", \"name\": \"x\", \"member_ids\": \"1\"}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::PATCH,
            format!("/rooms/{room}"),
            Some("{\"nmae\": \"x\"}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (
            Method::POST,
            "/auth/login".into(),
            Some("{\"username\": 1}".into()),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        ),
        (Method::GET, "/no/such/endpoint".into(), None, StatusCode::NOT_FOUND, "not_found"),
        (Method::GET, "/messages/0/reads".into(), None, StatusCode::NOT_FOUND, "not_found"),
        (Method::PUT, "/rooms".into(), Some("{}".into()), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ];
    for (method, path, body, status, code) in cases {
        let mut rq = app.admin.client.request(method.clone(), app.admin.url(&path));
        if let Some(body) = body {
            rq = rq.header("content-type", "application/json").body(body);
        }
        let r = rq.send().await.unwrap();
        let got = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert_eq!(json["error"]["code"], code, "{method} {path}: {text}");
    }
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1, "no refused request wrote a message");
}

#[tokio::test]
async fn error_messages_name_the_field() {
    let app = spawn_app().await;
    let r = app.admin.post_raw("/messages", "{\"room_id\": \"7\", \"content\": \"x\"}").await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("room_id"), "{body}");
    let r = app.admin.post_raw("/messages", "{\"room_id\": 7}").await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("content"), "{body}");
}

#[tokio::test]
async fn query_and_body_errors_say_what_is_wrong() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Target", &[]).await;
    for (path, field) in [
        (format!("/rooms/{room}/messages?limit=abc"), "limit"),
        (format!("/rooms/{room}/messages?before=x"), "before"),
        (format!("/rooms/{room}/messages?after=1.5"), "after"),
        (format!("/rooms/{room}/attachments?before=x"), "before"),
        ("/users?limit=many".to_owned(), "limit"),
        ("/stream?room_id=abc".to_owned(), "room_id"),
    ] {
        let body = assert_error(app.admin.get(&path).await, StatusCode::BAD_REQUEST, "invalid_input").await;
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}: ")), "{path}: {message}");
    }
    // A body cut short: no stray path marker in front of the parser's words.
    let r = app.admin.post_raw("/messages", format!("{{\"room_id\": {room}, \"content\": \"x\",")).await;
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert!(body["error"]["message"].as_str().unwrap().starts_with("malformed JSON body: "), "{body}");
    // A body that does not decode with its Content-Encoding.
    let r = app
        .admin
        .client
        .post(app.admin.url("/messages"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body("this is not gzip")
        .send()
        .await
        .unwrap();
    let body = assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("could not read the body: ") && !message.contains("Some("), "{message}");
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 0, "no refused request wrote a message");
}
