//! A stream is served two ways: on a connection of its own by the lean stream path, and on
//! a connection that carried other requests first by actix-web. Raw sockets make the
//! difference certain; both must carry the same bytes.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::sse::*;

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap()
}

fn stream_request(query: &str, session: Option<&str>) -> String {
    let cookie = session.map(|s| format!("Cookie: causerie_session={s}\r\n")).unwrap_or_default();
    format!("GET /chat/api/stream{query} HTTP/1.1\r\nHost: localhost\r\n{cookie}\r\n")
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Splits a response into its head and its body, decoded from chunks. Everything after the
/// head must be whole chunks (the last may be unfinished): anything else there, such as a
/// second response, fails the test.
fn head_and_body(response: &[u8]) -> (String, String) {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head") + 4;
    let head = String::from_utf8(response[..end].to_vec()).unwrap().to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut rest = &response[end..];
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(&size_line, 16)
            .unwrap_or_else(|_| panic!("not a chunk: {:?}", String::from_utf8_lossy(rest)));
        assert_ne!(size, 0, "the stream ended");
        if rest.len() < line_end + 2 + size + 2 {
            break;
        }
        assert_eq!(&rest[line_end + 2 + size..line_end + 2 + size + 2], b"\r\n", "a chunk ends with CRLF");
        body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 2 + size + 2..];
    }
    (head, String::from_utf8(body).unwrap())
}

/// The events of a stream's body, which must be `retry:` then events.
fn events_of(body: &str) -> Vec<SseEvent> {
    let mut blocks = parse_stream(body).into_iter();
    assert_eq!(blocks.next(), Some(Block::Retry(3000)), "{body:?}");
    blocks
        .map(|b| match b {
            Block::Event(e) => e,
            other => panic!("{other:?} in {body:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_fresh_and_a_reused_connection_carry_the_same_stream() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "paths", &[]).await;
    let request = stream_request(&format!("?room_id={room}"), Some(&app.admin.session));

    let mut fresh = connect(&app).await;
    fresh.write_all(request.as_bytes()).await.unwrap();
    let mut reused = connect(&app).await;
    reused.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut health = Vec::new();
    read_until(&mut reused, &mut health, |r| contains(r, "\r\n\r\n") && r.ends_with(b"}")).await;
    assert!(health.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&health));
    reused.write_all(request.as_bytes()).await.unwrap();

    let (mut from_fresh, mut from_reused) = (Vec::new(), Vec::new());
    read_until(&mut fresh, &mut from_fresh, |r| contains(r, "retry: ")).await;
    read_until(&mut reused, &mut from_reused, |r| contains(r, "retry: ")).await;
    let sent = app.admin.send(room, "one message, two paths").await;
    let event_end = format!("\"id\":{},", sent["id"]);
    for (io, seen) in [(&mut fresh, &mut from_fresh), (&mut reused, &mut from_reused)] {
        read_until(io, seen, |r| contains(r, &event_end) && contains(r, "}\n\n")).await;
    }

    let (fresh_head, fresh_body) = head_and_body(&from_fresh);
    let (reused_head, reused_body) = head_and_body(&from_reused);
    for head in [&fresh_head, &reused_head] {
        assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
        assert!(head.contains("content-type: text/event-stream\r\n"), "{head}");
        assert!(head.contains("cache-control: no-cache\r\n"), "{head}");
        assert!(head.contains("x-accel-buffering: no\r\n"), "{head}");
    }
    // The lean path ends the connection with the stream; actix-web keeps it alive.
    assert!(fresh_head.contains("connection: close\r\n"), "{fresh_head}");
    assert!(!reused_head.contains("connection: close\r\n"), "{reused_head}");
    assert_eq!(fresh_body, reused_body);
    let events = events_of(&fresh_body);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, "new_message");
    assert_eq!(events[0].data, sent);
}

#[tokio::test]
async fn an_http_1_0_client_gets_the_events_unchunked_until_the_connection_ends() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "old", &[]).await;
    let mut io = connect(&app).await;
    let request = format!(
        "GET /chat/api/stream?room_id={room} HTTP/1.0\r\nHost: localhost\r\nCookie: causerie_session={}\r\n\r\n",
        app.admin.session
    );
    io.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut io, &mut seen, |r| contains(r, "retry: ")).await;
    let sent = app.admin.send(room, "plain bytes").await;
    let event_end = format!("\"id\":{},", sent["id"]);
    read_until(&mut io, &mut seen, |r| contains(r, &event_end) && contains(r, "}\n\n")).await;
    let end = seen.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head") + 4;
    let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
    let body = String::from_utf8_lossy(&seen[end..]).into_owned();
    assert!(head.starts_with("http/1.0 200 ok\r\n"), "{head}");
    assert!(!head.contains("transfer-encoding"), "HTTP/1.0 has no chunked encoding: {head}");
    assert!(head.contains("content-type: text/event-stream\r\n"), "{head}");
    let events = events_of(&body);
    assert_eq!(events.len(), 1, "the events as they are, no chunk sizes: {body:?}");
    assert_eq!(events[0].data, sent);
}

#[tokio::test]
async fn a_head_that_arrives_in_pieces_is_served_and_later_bytes_are_ignored() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "pieces", &[]).await;
    let request = stream_request(&format!("?room_id={room}"), Some(&app.admin.session));
    let mut io = connect(&app).await;
    let (a, rest) = request.split_at(10);
    let (b, c) = rest.split_at(rest.len() / 2);
    for piece in [a, b, c] {
        io.write_all(piece.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut seen = Vec::new();
    read_until(&mut io, &mut seen, |r| contains(r, "retry: ")).await;
    assert!(contains(&seen, "connection: close"), "served by the stream path");
    // A second request on a stream's connection is not answered; the stream goes on.
    io.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let sent = app.admin.send(room, "after the noise").await;
    let event_end = format!("\"id\":{},", sent["id"]);
    read_until(&mut io, &mut seen, |r| contains(r, &event_end) && contains(r, "}\n\n")).await;
    // No second response: one status line, and after the head nothing but the stream's chunks.
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(text.matches("HTTP/1.").count(), 1, "{text}");
    let (_, body) = head_and_body(&seen);
    assert_eq!(events_of(&body).len(), 1, "{body:?}");
}

#[tokio::test]
async fn refusals_on_a_fresh_connection_are_the_api_errors_and_leave_nothing_open() {
    let app = spawn_app().await;
    let stranger = app.user("stranger").await;
    let room = app.admin.create_room("group", "closed", &[]).await;
    let cases = [
        (stream_request("", None), "401", "unauthenticated"),
        (stream_request("", Some("not-a-session")), "401", "unauthenticated"),
        (stream_request("?room_id=abc", Some(&stranger.session)), "400", "invalid_input"),
        (stream_request(&format!("?room_id={room}"), Some(&stranger.session)), "404", "not_found"),
        (stream_request("?last_event_id=-4", Some(&stranger.session)), "400", "invalid_input"),
        (
            "GET /chat/api/stream HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic eDp5\r\n\r\n".to_owned(),
            "401",
            "unauthenticated",
        ),
        (
            format!(
                "GET /chat/api/stream HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \r\n\
                 Cookie: causerie_session={}\r\n\r\n",
                stranger.session
            ),
            "401",
            "unauthenticated",
        ),
    ];
    for (request, status, code) in cases {
        let mut io = connect(&app).await;
        io.write_all(request.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        read_until(&mut io, &mut seen, |r| contains(r, "\r\n\r\n") && r.ends_with(b"}")).await;
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{request:?} -> {text}");
        assert!(text.contains(&format!("\"code\":\"{code}\"")), "{request:?} -> {text}");
    }
    assert_eq!(app.state.hub.subscriber_count(), 0);
}

#[tokio::test]
async fn a_client_that_hangs_up_is_forgotten() {
    let app = spawn_app().await;
    let mut io = connect(&app).await;
    io.write_all(stream_request("", Some(&app.admin.session)).as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut io, &mut seen, |r| contains(r, "retry: ")).await;
    assert_eq!(app.state.hub.subscriber_count(), 1);
    drop(io);
    let gone = async {
        while app.state.hub.subscriber_count() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, gone).await.expect("the subscriber is dropped when its client goes");
}
