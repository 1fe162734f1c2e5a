use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/healthz", app.address)).send().await.unwrap();
    expect_status(r, StatusCode::OK).await;
    let r = c.get(format!("{}/readyz", app.address)).send().await.unwrap();
    expect_status(r, StatusCode::OK).await;
    expect_status(app.admin.get("/rooms").await, StatusCode::OK).await;
    let text = c.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains("causerie_http_requests_total{method=\"GET\",route=\"/chat/api/rooms\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("causerie_http_request_duration_seconds_bucket"));
    assert!(text.contains("causerie_db_pool_connections"));
    assert_eq!(metric(&text, "causerie_sse_subscribers"), 0);
}

/// An address of this machine that is not loopback: the one it would reach the world from.
fn outside_address() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // Connecting a UDP socket sends nothing; it picks the route and so the local address.
    socket.connect("203.0.113.1:9").expect("this test needs a network address that is not loopback");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    ip
}

#[tokio::test]
async fn metrics_can_be_kept_to_loopback() {
    let app = spawn_app_with(|s| {
        s.bind = "0.0.0.0:0".into();
        s.metrics_loopback_only = true;
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let outside = format!("http://{}:{port}", outside_address());
    let c = reqwest::Client::new();
    // The server answers from outside, but not with its metrics.
    expect_status(c.get(format!("{outside}/healthz")).send().await.unwrap(), StatusCode::OK).await;
    let r = c.get(format!("{outside}/metrics")).send().await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let text = expect_status(c.get(format!("{}/metrics", app.address)).send().await.unwrap(), StatusCode::OK).await;
    assert!(text.as_str().is_some_and(|t| t.contains("causerie_http_connections ")), "{text}");
    // With the setting turned off (it is on by default), metrics are served to any address.
    let open = spawn_app_with(|s| {
        s.bind = "0.0.0.0:0".into();
        s.metrics_loopback_only = false;
    })
    .await;
    let port = open.address.rsplit(':').next().unwrap().to_owned();
    let r = c.get(format!("http://{}:{port}/metrics", outside_address())).send().await.unwrap();
    expect_status(r, StatusCode::OK).await;
}

/// Runs one statement on the test's database, from outside the server.
fn execute(database_url: &str, sql: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            conn.batch_execute(&format!("PRAGMA busy_timeout = 10000; {sql}")).unwrap();
        }
        None => diesel::PgConnection::establish(database_url).unwrap().batch_execute(sql).unwrap(),
    }
}

#[tokio::test]
async fn readiness_fails_without_the_latest_migration_or_the_database() {
    let app = spawn_app().await;
    let ready = || async { reqwest::get(format!("{}/readyz", app.address)).await.unwrap() };
    expect_status(ready().await, StatusCode::OK).await;
    // The newest migration not applied (as with a database restored from an older backup).
    let table = "__diesel_schema_migrations";
    let latest = format!("(SELECT MAX(version) FROM {table} WHERE version NOT LIKE 'x%')");
    execute(&app.database_url, &format!("UPDATE {table} SET version = 'x' || version WHERE version = {latest}"));
    let r = ready().await;
    assert_eq!(expect_status(r, StatusCode::SERVICE_UNAVAILABLE).await["status"], "unavailable");
    assert_eq!(
        expect_status(reqwest::get(format!("{}/healthz", app.address)).await.unwrap(), StatusCode::OK).await["status"],
        "ok"
    );
    execute(&app.database_url, &format!("UPDATE {table} SET version = substr(version, 2) WHERE version LIKE 'x%'"));
    expect_status(ready().await, StatusCode::OK).await;
    // A PostgreSQL database that is gone. (An SQLite file cannot go while the server holds
    // it open.)
    if app.database_url.starts_with("postgres") {
        let name = app.database_url.rsplit('/').next().unwrap();
        let admin_url = std::env::var("CAUSERIE_TEST_POSTGRES_URL").unwrap();
        execute(&admin_url, &format!("DROP DATABASE {name} WITH (FORCE)"));
        let r = ready().await;
        assert_eq!(expect_status(r, StatusCode::SERVICE_UNAVAILABLE).await["status"], "unavailable");
        expect_status(reqwest::get(format!("{}/healthz", app.address)).await.unwrap(), StatusCode::OK).await;
    }
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app = spawn_app_with(|s| s.metrics_token = Some("s3cret".into())).await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/metrics", app.address)).send().await.unwrap();
    expect_status(r, StatusCode::UNAUTHORIZED).await;
    let r = c.get(format!("{}/metrics", app.address)).bearer_auth("s3cret").send().await.unwrap();
    expect_status(r, StatusCode::OK).await;
}

#[tokio::test]
async fn json_is_compressed_when_the_client_accepts_it() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Zip", &[]).await;
    for i in 0..20 {
        app.admin.send(room, &format!("a fairly repetitive message number {i}")).await;
    }
    let r = app
        .admin
        .client
        .get(app.admin.url(&format!("/rooms/{room}/messages")))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("content-encoding").unwrap(), "gzip");
}

#[tokio::test]
async fn a_small_answer_is_sent_uncompressed() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Plain", &[]).await;
    let r = app
        .admin
        .client
        .post(app.admin.url("/messages"))
        .header("accept-encoding", "gzip, br")
        .json(&serde_json::json!({"room_id": room, "content": "short"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none_or(|v| v == "identity"), "{:?}", r.headers());
    let message: Value = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(message["content"], "short");
}

#[tokio::test]
async fn the_openapi_description_covers_every_route() {
    let app = spawn_app().await;
    let doc: Value =
        reqwest::get(format!("{}/chat/api/openapi.json", app.address)).await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    // Every documented method is routed, and every other one is refused as such. Without
    // credentials: a 401 is routed too. (That every route is documented is a unit test of
    // the OpenAPI module, which reads the route table.)
    let client = reqwest::Client::new();
    for (path, item) in paths {
        // `/chat/api/rooms/{id}/members/{user_id}` -> `/chat/api/rooms/1/members/1`
        let concrete: Vec<&str> =
            path.split('/').map(|part| if part.starts_with('{') && part.ends_with('}') { "1" } else { part }).collect();
        let url = format!("{}{}", app.address, concrete.join("/"));
        for method in [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let documented = item.get(method.as_str().to_ascii_lowercase()).is_some();
            let r = client.request(method.clone(), &url).send().await.unwrap();
            let status = r.status();
            if !documented {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not documented");
                continue;
            }
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if status == StatusCode::NOT_FOUND {
                let body: Value = r.json().await.unwrap_or_default();
                assert_ne!(body["error"]["message"], "no such endpoint", "{method} {path}");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Message"].is_object());
    // Every request body is described by a schema that is there, with its required fields.
    let mut bodies = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let Some(body) = operation.get("requestBody") else { continue };
            let reference = body["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
            let name = reference.strip_prefix("#/components/schemas/").unwrap();
            assert!(schemas[name]["properties"].is_object(), "{method} {path}: {name} is not described");
            bodies += 1;
        }
    }
    assert_eq!(bodies, 11);
    assert_eq!(schemas["SendMessageRequest"]["required"], serde_json::json!(["room_id", "content"]));
    let send = &paths["/chat/api/messages"]["post"]["requestBody"]["content"];
    assert_eq!(send["multipart/form-data"]["schema"]["$ref"], "#/components/schemas/SendFilesRequest");
    assert!(schemas["SendFilesRequest"]["properties"]["files"].is_object());
    assert_eq!(schemas["CreateUserRequest"]["properties"]["username"]["pattern"], "^[a-z0-9._-]{1,32}$");
    // Responses that are not JSON say what they are.
    let media = |path: &str| {
        let content = paths[path]["get"]["responses"]["200"]["content"].as_object().unwrap();
        content.keys().next().unwrap().clone()
    };
    assert_eq!(media("/metrics"), "text/plain");
    assert_eq!(media("/chat/api/stream"), "text/event-stream");
    assert_eq!(media("/chat/api/attachments/{id}/thumbnail"), "image/*");
    assert_eq!(media("/chat/api/rooms"), "application/json");
    let query: Vec<&str> = paths["/chat/api/rooms/{id}/messages"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(query, ["before", "after", "limit"]);
}

#[tokio::test]
async fn demo_data_lets_a_newcomer_look_around() {
    let app = spawn_app_with(|s| s.demo = true).await;
    let alice = login(&app.address, "alice", causerie::demo::DEMO_PASSWORD).await;
    let rooms = alice.get_json("/rooms").await;
    let names: Vec<&str> = rooms.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"General") && names.contains(&"Project X"));
    let page = alice.get_json(&format!("/rooms/{}/messages", rooms[0]["id"])).await;
    assert!(!page["messages"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_web_client_is_built_in() {
    let app = spawn_app().await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/", app.address)).send().await.unwrap();
    let r = expect_head(r, StatusCode::OK).await;
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let etag = r.headers()["etag"].clone();
    assert!(r.text().await.unwrap().contains("<html"));
    let r = c.get(format!("{}/", app.address)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = c.get(format!("{}/js/app.js", app.address)).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().contains("javascript"));
    let r = c.get(format!("{}/no-such-file.js", app.address)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn probes_answer_head_and_refuse_other_methods() {
    let app = spawn_app().await;
    let c = reqwest::Client::new();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = c.head(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "HEAD {path}");
        for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
            let r = c.request(method.clone(), format!("{}{path}", app.address)).send().await.unwrap();
            assert_eq!(r.headers()["allow"], "GET, HEAD", "{method} {path}");
            assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        }
    }
}

#[tokio::test]
async fn a_wrong_method_is_told_which_ones_the_path_takes() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Methods", &[]).await;
    for (method, path, allow) in [
        (reqwest::Method::PUT, "/rooms".to_owned(), "GET, POST"),
        (reqwest::Method::TRACE, format!("/rooms/{room}"), "GET, PATCH"),
        (reqwest::Method::GET, format!("/rooms/{room}/members/1"), "PATCH, DELETE"),
        (reqwest::Method::DELETE, "/messages".to_owned(), "POST"),
    ] {
        let r = app.admin.client.request(method.clone(), app.admin.url(&path)).send().await.unwrap();
        assert_eq!(r.headers().get("allow").map(|v| v.to_str().unwrap()), Some(allow), "{method} {path}");
        assert_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn metrics_count_open_connections_streams_included() {
    let app = spawn_app().await;
    let c = reqwest::Client::new();
    let gauge = |text: String| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix("causerie_http_connections "))
            .expect("the connections gauge")
            .parse()
            .unwrap()
    };
    let read =
        || async { gauge(c.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap()) };
    let mut streams = Vec::new();
    for _ in 0..3 {
        // A client each: a connection of its own, served by the lean stream path.
        let r = reqwest::Client::new()
            .get(app.admin.url("/stream"))
            .header("cookie", format!("causerie_session={}", app.admin.session))
            .send()
            .await
            .unwrap();
        streams.push(expect_head(r, StatusCode::OK).await);
    }
    let with_streams = read().await;
    assert!(with_streams >= 4, "3 streams and this request: {with_streams}");
    drop(streams);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = read().await;
        if now <= with_streams - 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "closed streams still counted: {now} of {with_streams}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
