//! What one client may take of the server: image memory, open streams, the time to send a
//! stream's request head.

use std::time::Duration;

use image::{DynamicImage, ImageFormat, RgbaImage};
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// How long a test waits for what it expects before it fails (never a measured time).
const WAIT: Duration = Duration::from_secs(30);

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 128, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgba8(image).write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn upload(user: &TestUser, room: i64, bytes: Vec<u8>, name: &str) -> Response {
    let form =
        Form::new().text("room_id", room.to_string()).part("files", Part::bytes(bytes).file_name(name.to_owned()));
    user.client.post(user.url("/messages")).multipart(form).send().await.unwrap()
}

fn retry_after(response: &Response) -> u64 {
    let value = response.headers().get("retry-after").expect("a Retry-After header");
    value.to_str().unwrap().parse().expect("Retry-After in seconds")
}

#[tokio::test]
async fn an_image_waits_for_the_memory_budget_then_gets_503_and_leaves_nothing() {
    // 9 MiB: a 200x200 image's share (its pixels and the encoders' slack) and no more.
    let app = spawn_app_with(|s| s.image_memory_mib = 9).await;
    let room = app.admin.create_room("group", "Pictures", &[]).await;
    let uploads = app.dir.path().join("uploads");
    // Other images hold the whole budget for longer than an upload waits.
    let held = app.state.images.reserve(9).await.unwrap();
    let r = upload(&app.admin, room, png(200, 200), "queued.png").await;
    assert!(retry_after(&r) > 0);
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(files_under(&uploads).is_empty(), "{:?}", files_under(&uploads));
    assert!(app.admin.get_json(&format!("/rooms/{room}/messages")).await["messages"].as_array().unwrap().is_empty());

    // Once the budget is free the same upload goes through, and gives its share back.
    drop(held);
    let r = upload(&app.admin, room, png(200, 200), "later.png").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(app.state.images.available_mib(), 9);
}

#[tokio::test]
async fn an_image_that_needs_more_than_the_whole_budget_is_413_and_leaves_nothing() {
    let app = spawn_app_with(|s| s.image_memory_mib = 9).await;
    let room = app.admin.create_room("group", "Pictures", &[]).await;
    let uploads = app.dir.path().join("uploads");
    // 1000x1000 RGBA: about 4 MiB of pixels, and the slack on top.
    let r = upload(&app.admin, room, png(1000, 1000), "large.png").await;
    let body = assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("MiB"), "{body}");
    assert!(files_under(&uploads).is_empty(), "{:?}", files_under(&uploads));
    assert_eq!(app.state.images.available_mib(), 9);
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

fn stream_request(user: &TestUser) -> String {
    format!("GET /chat/api/stream HTTP/1.1\r\nHost: localhost\r\nCookie: causerie_session={}\r\n\r\n", user.session)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Opens a stream on a fresh connection (the lean path) and waits for its opening.
async fn open_stream(app: &TestApp, user: &TestUser) -> TcpStream {
    let mut io = connect(app).await;
    io.write_all(stream_request(user).as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut io, &mut seen, |r| contains(r, "retry: ")).await;
    assert!(seen.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&seen));
    io
}

/// A whole error response read off `io`: its status line and its body.
async fn refusal(io: &mut TcpStream) -> (String, String) {
    let mut seen = Vec::new();
    read_until(io, &mut seen, |r| contains(r, "\r\n\r\n") && r.ends_with(b"}")).await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_owned())
}

/// A stream asked for on a connection that carried another request first: actix-web's path.
async fn reused_connection(app: &TestApp) -> TcpStream {
    let mut io = connect(app).await;
    io.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut io, &mut seen, |r| contains(r, "\r\n\r\n") && r.ends_with(b"}")).await;
    assert!(seen.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&seen));
    io
}

async fn until_open_streams(app: &TestApp, count: i64) {
    let settled = async {
        while app.state.hub.subscriber_count() != count {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, settled).await.expect("the open streams are counted");
}

#[tokio::test]
async fn one_user_may_open_so_many_streams_and_a_closed_one_frees_its_slot() {
    let app = spawn_app_with(|s| s.streams_per_user = 2).await;
    let bob = app.user("bob").await;
    let first = open_stream(&app, &app.admin).await;
    let _second = open_stream(&app, &app.admin).await;

    // The third, on either path, is 429 in the contract's shape.
    let mut fresh = connect(&app).await;
    fresh.write_all(stream_request(&app.admin).as_bytes()).await.unwrap();
    let mut reused = reused_connection(&app).await;
    reused.write_all(stream_request(&app.admin).as_bytes()).await.unwrap();
    for io in [&mut fresh, &mut reused] {
        let (head, body) = refusal(io).await;
        assert!(head.starts_with("http/1.1 429 "), "{head}");
        assert!(head.contains("\r\nretry-after: "), "{head}");
        assert!(body.contains("\"code\":\"rate_limited\""), "{body}");
    }
    // Through the API client too, and it changes nothing for other users.
    let r = app.admin.get("/stream").await;
    assert!(retry_after(&r) > 0);
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let _bobs = open_stream(&app, &bob).await;
    assert_eq!(app.state.hub.subscriber_count(), 3);

    drop(first);
    until_open_streams(&app, 2).await;
    let _again = open_stream(&app, &app.admin).await;
}

#[tokio::test]
async fn the_server_opens_so_many_streams_in_all_then_answers_503() {
    let app = spawn_app_with(|s| s.max_streams = 2).await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let admins = open_stream(&app, &app.admin).await;
    let _bobs = open_stream(&app, &bob).await;

    let mut fresh = connect(&app).await;
    fresh.write_all(stream_request(&carol).as_bytes()).await.unwrap();
    let mut reused = reused_connection(&app).await;
    reused.write_all(stream_request(&carol).as_bytes()).await.unwrap();
    for io in [&mut fresh, &mut reused] {
        let (head, body) = refusal(io).await;
        assert!(head.starts_with("http/1.1 503 "), "{head}");
        assert!(head.contains("\r\nretry-after: "), "{head}");
        assert!(body.contains("\"code\":\"unavailable\""), "{body}");
    }
    // Other requests are still served.
    assert_eq!(carol.get("/me").await.status(), StatusCode::OK);

    drop(admins);
    until_open_streams(&app, 1).await;
    let _carols = open_stream(&app, &carol).await;
}

#[tokio::test]
async fn a_resume_over_more_than_a_catch_up_batch_of_bytes_misses_nothing() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Long", &[]).await;
    let mut io = connect(&app).await;
    let request = |last: &str| {
        format!(
            "GET /chat/api/stream?room_id={room}{last} HTTP/1.1\r\nHost: localhost\r\nCookie: causerie_session={}\r\n\r\n",
            app.admin.session
        )
    };
    io.write_all(request("").as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut io, &mut seen, |r| contains(r, "retry: ")).await;
    let first = app.admin.send(room, "the first").await;
    read_until(&mut io, &mut seen, |r| contains(r, "the first")).await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    let resume_from: i64 = text.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().parse().unwrap();
    drop(io);
    assert!(first["id"].as_i64().is_some());

    // About 1.5 MiB of events: more than one catch-up batch holds.
    let filler = "x".repeat(9_000);
    let count = 170;
    for n in 0..count {
        app.admin.send(room, &format!("{n:03} {filler}")).await;
    }
    let mut io = connect(&app).await;
    io.write_all(request(&format!("&last_event_id={resume_from}")).as_bytes()).await.unwrap();
    let last = format!("{:03} ", count - 1);
    let mut seen = Vec::new();
    // The end is where the last event arrives: no need to search all that came before.
    read_until(&mut io, &mut seen, |r| contains(&r[r.len().saturating_sub(32 * 1024)..], &last)).await;
    let text = String::from_utf8_lossy(&seen);
    let numbers: Vec<usize> = text
        .match_indices("\"content\":\"")
        .map(|(at, pattern)| text[at + pattern.len()..at + pattern.len() + 3].parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..count).collect::<Vec<_>>(), "every event once, in order");
}

#[tokio::test]
async fn a_stream_head_sent_slowly_in_pieces_opens_the_stream() {
    let app = spawn_app().await;
    let request = stream_request(&app.admin);
    let mut io = connect(&app).await;
    // Ten pieces, well within the time a client has for its request head.
    for piece in request.as_bytes().chunks(request.len().div_ceil(10)) {
        io.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut seen = Vec::new();
    read_until(&mut io, &mut seen, |r| contains(r, "retry: ")).await;
    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200 ok\r\n"), "{text}");
    assert!(text.contains("connection: close\r\n"), "served by the lean stream path: {text}");
}

#[tokio::test]
async fn a_stream_head_that_never_completes_is_answered_408_and_closed() {
    let app = spawn_app().await;
    for partial in ["GET /chat/api/stream HTTP/1.1\r\nHost: localhost\r\n", "GET /chat/api/st"] {
        let mut io = connect(&app).await;
        io.write_all(partial.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        let until_closed = async {
            let mut buf = [0u8; 1024];
            loop {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(WAIT, until_closed).await.expect("the server closes the connection");
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("HTTP/1.1 408 "), "{partial:?} -> {text:?}");
    }
    // The server still serves everyone else.
    assert_eq!(app.admin.get("/me").await.status(), StatusCode::OK);
}
