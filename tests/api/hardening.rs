//! What strangers can do to the server: grow its memory, lock others out, sign a visitor in
//! from another site, tell accounts apart, read its metrics.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

fn login_url(app: &TestApp) -> String {
    format!("{}/chat/api/auth/login", app.address)
}

/// A login attempt from `forwarded_for` (as a proxy would say it), without a cookie jar.
async fn login_from(app: &TestApp, forwarded_for: Option<&str>, username: &str, password: &str) -> reqwest::Response {
    let mut request = client().post(login_url(app)).json(&json!({"username": username, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn an_over_long_username_is_a_failed_login_that_leaves_no_key() {
    // One failure locks a key: were the long name counted, the second try would be 429.
    let app = spawn_app_with(|s| s.login_attempts_per_minute = 1).await;
    let keys = app.state.limits.login_keys();
    let long = "a".repeat(250_000);
    for _ in 0..2 {
        let r = login_from(&app, None, &long, "whatever-password").await;
        let body = assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        assert_eq!(body["error"]["message"], "wrong username or password");
    }
    // The address's own count, and nothing keyed by the name.
    assert!(app.state.limits.login_keys() <= keys + 1, "{}", app.state.limits.login_keys());
    let r = login_from(&app, None, &"b".repeat(33), "whatever-password").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    login(&app.address, "admin", ADMIN_PASSWORD).await;
}

#[tokio::test]
async fn invented_methods_and_paths_add_no_metric_series() {
    let app = spawn_app().await;
    let c = client();
    for method in ["ZZPROBE1", "ZZPROBE2"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        c.request(method, format!("{}/healthz", app.address)).send().await.unwrap();
    }
    c.get(format!("{}/no/such/path/12345", app.address)).send().await.unwrap();
    c.get(format!("{}/chat/api/no-such-thing-6789", app.address)).send().await.unwrap();
    // Loopback: served by default.
    let r = c.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains("ZZPROBE"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
    assert!(!text.contains("12345") && !text.contains("6789"), "{text}");
    assert!(text.contains(r#"route="unmatched""#), "{text}");
    assert!(text.contains(r#"route="/healthz""#), "{text}");
}

#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_from_elsewhere() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = "127.0.0.1".into();
        s.login_attempts_per_minute = 3;
    })
    .await;
    app.user("bob").await;
    for _ in 0..3 {
        let r = login_from(&app, Some("198.51.100.1"), "bob", "not-his-password").await;
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    // The stranger is locked out, even with the right password...
    let r = login_from(&app, Some("198.51.100.1"), "bob", PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // ...while bob, from his own address, signs in.
    let r = login_from(&app, Some("203.0.113.5"), "bob", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    // A client's own X-Forwarded-For, left of what the proxy appended, is not believed.
    let r = login_from(&app, Some("203.0.113.5, 198.51.100.1"), "bob", PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_not_believed() {
    let app = spawn_app_with(|s| s.login_attempts_per_minute = 2).await;
    for address in ["198.51.100.1", "198.51.100.2"] {
        let r = login_from(&app, Some(address), "admin", "wrong-password").await;
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    // Both counted for the peer, 127.0.0.1, whatever the header said.
    let r = login_from(&app, Some("198.51.100.3"), "admin", ADMIN_PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn an_address_that_guesses_across_usernames_is_throttled() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = "127.0.0.0/8".into();
        s.login_attempts_per_address_per_minute = 5;
    })
    .await;
    for n in 0..5 {
        let r = login_from(&app, Some("198.51.100.9"), &format!("guess{n}"), "password-guess").await;
        assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    let r = login_from(&app, Some("198.51.100.9"), "guess-again", "password-guess").await;
    let retry = r.headers().get("retry-after").cloned();
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(retry.is_some());
    let r = login_from(&app, Some("198.51.100.9"), "admin", ADMIN_PASSWORD).await;
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another address is not affected.
    let r = login_from(&app, Some("203.0.113.7"), "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn disabled_unknown_and_wrong_answer_alike() {
    let app = spawn_app().await;
    let carol = app.user("carol").await;
    let r = app.admin.patch(&format!("/admin/users/{}", carol.id), &json!({"disabled": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut messages = Vec::new();
    for (name, password) in [("carol", PASSWORD), ("nobody", PASSWORD), ("admin", "wrong-password")] {
        let r = login_from(&app, None, name, password).await;
        messages.push(assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await);
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
}

#[tokio::test]
async fn json_bodies_must_say_they_are_json() {
    let app = spawn_app().await;
    let credentials = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let c = client();
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("text/json"), None] {
        let mut request = c.post(login_url(&app)).body(credentials.clone());
        if let Some(t) = content_type {
            request = request.header("content-type", t);
        }
        let r = request.send().await.unwrap();
        assert!(r.headers().get("set-cookie").is_none(), "{content_type:?}");
        assert_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    }
    for content_type in ["application/json; charset=utf-8", "Application/JSON", "application/vnd.causerie+json"] {
        let r = c.post(login_url(&app)).header("content-type", content_type).body(credentials.clone()).send().await;
        assert_eq!(r.unwrap().status(), StatusCode::OK, "{content_type}");
    }
    // Every JSON endpoint, messages included.
    let room = app.admin.create_room("group", "types", &[]).await;
    let r = app
        .admin
        .client
        .post(app.admin.url("/messages"))
        .header("content-type", "text/plain")
        .body(json!({"room_id": room, "content": "hi"}).to_string())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let r = app.admin.client.post(app.admin.url("/rooms")).body(json!({"name": "x"}).to_string()).send().await;
    assert_error(r.unwrap(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    let page = app.admin.get_json(&format!("/rooms/{room}/messages")).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 0);
    // A body that may be left out needs no type when it is.
    let r = app.admin.client.post(app.admin.url("/me/tokens")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn signing_in_from_another_site_is_refused() {
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let credentials = json!({"username": "admin", "password": ADMIN_PASSWORD});
    let c = client();
    for (name, value) in [
        ("origin", "http://evil.example".to_owned()),
        ("sec-fetch-site", "cross-site".to_owned()),
        ("referer", "http://evil.example/login".to_owned()),
    ] {
        let r = c.post(login_url(&app)).header(name, &value).json(&credentials).send().await.unwrap();
        assert!(r.headers().get("set-cookie").is_none(), "{name}");
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // A page of this server, and a client that is not a browser, sign in.
    let r = c.post(login_url(&app)).header("origin", format!("http://{host}")).json(&credentials).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    let r = c.post(login_url(&app)).header("sec-fetch-site", "same-origin").json(&credentials).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
}

fn assert_strict_policy(response: &reqwest::Response) {
    let policy = response
        .headers()
        .get("content-security-policy")
        .expect("a Content-Security-Policy")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'self'"), "{policy}");
    assert!(policy.contains("script-src 'self'") && policy.contains("style-src 'self'"), "{policy}");
    assert!(policy.contains("object-src 'none'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
}

#[tokio::test]
async fn the_web_client_is_sent_with_a_strict_content_security_policy() {
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let built_in = spawn_app().await;
    let from_folder = spawn_app_with(|s| s.web_dir = Some(web.clone())).await;
    for app in [&built_in, &from_folder] {
        for path in ["/", "/js/app.js", "/style.css"] {
            let r = client().get(format!("{}{path}", app.address)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_strict_policy(&r);
        }
        // The page needs nothing the policy forbids: no inline script, style or handler.
        let page = client().get(format!("{}/", app.address)).send().await.unwrap().text().await.unwrap();
        let lower = page.to_ascii_lowercase();
        for tag in lower.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(open.contains(" src="), "an inline script: <script{open}>");
            assert!(tag[tag.find('>').unwrap() + 1..].trim_start().starts_with("</script>"), "an inline script");
        }
        assert!(!lower.contains("<style") && !lower.contains(" style="), "inline style");
        assert!(!lower.contains("javascript:"), "a javascript: URL");
        let handler = event_handler_attribute(&lower);
        assert!(handler.is_none(), "an event handler attribute: {handler:?}");
    }
}

/// The first `on…=` attribute inside a tag, if any.
fn event_handler_attribute(html: &str) -> Option<String> {
    html.split('<').skip(1).filter_map(|tag| tag.split('>').next()).find_map(|tag| {
        tag.split_whitespace()
            .find(|attr| {
                let name = attr.split('=').next().unwrap_or("");
                attr.contains('=')
                    && name.len() > 2
                    && name.starts_with("on")
                    && name.bytes().all(|b| b.is_ascii_lowercase())
            })
            .map(str::to_owned)
    })
}

const WAIT: Duration = Duration::from_secs(10);

/// Reads one response head and its body as far as `Content-Length` says.
async fn read_response(io: &mut TcpStream) -> String {
    let reading = async {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|l| l.trim().parse::<usize>().ok());
                if length.is_some_and(|l| seen.len() >= end + 4 + l) {
                    return String::from_utf8_lossy(&seen).into_owned();
                }
            }
            let n = io.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the connection: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(WAIT, reading).await.expect("a response in time")
}

#[tokio::test]
async fn two_last_event_ids_are_refused_on_both_stream_paths() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "ids", &[]).await;
    let request = format!(
        "GET /chat/api/stream?room_id={room} HTTP/1.1\r\nHost: localhost\r\nCookie: causerie_session={}\r\n\
         Last-Event-ID: 1\r\nLast-Event-ID: 999999\r\n\r\n",
        app.admin.session
    );
    let address = app.address.trim_start_matches("http://").to_owned();
    // The first request of a fresh connection: the lean path's.
    let mut fresh = TcpStream::connect(&address).await.unwrap();
    fresh.write_all(request.as_bytes()).await.unwrap();
    // After another request on a kept-alive connection: actix-web's.
    let mut reused = TcpStream::connect(&address).await.unwrap();
    reused.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    assert!(read_response(&mut reused).await.starts_with("HTTP/1.1 200"));
    reused.write_all(request.as_bytes()).await.unwrap();
    for io in [&mut fresh, &mut reused] {
        let response = read_response(io).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
        assert!(response.contains("\"invalid_input\"") && response.contains("Last-Event-ID"), "{response}");
    }
}
