use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn login_me_and_logout() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let me = alice.get_json("/me").await;
    assert_eq!(me["username"], "alice");
    assert_eq!(me["display_name"], "Alice");
    assert_eq!(me["is_admin"], false);
    let perms: Vec<&str> = me["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(perms, ["chat.create", "chat.delete", "chat.read", "chat.update"]);
    let r = alice.post("/auth/logout", &json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_error(alice.get("/me").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn wrong_credentials_say_the_same_whether_or_not_the_user_exists() {
    let app = spawn_app().await;
    app.user("bob").await;
    let c = client();
    let url = format!("{}/chat/api/auth/login", app.address);
    let wrong = c.post(&url).json(&json!({"username": "bob", "password": "nope-nope"})).send().await.unwrap();
    let a = assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let nobody = c.post(&url).json(&json!({"username": "nobody", "password": "nope-nope"})).send().await.unwrap();
    let b = assert_error(nobody, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(a, b);
    let r = c.get(format!("{}/chat/api/me", app.address)).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_lax() {
    let app = spawn_app().await;
    let r = client()
        .post(format!("{}/chat/api/auth/login", app.address))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let app = spawn_app_with(|s| s.login_attempts_per_minute = 3).await;
    let c = client();
    let url = format!("{}/chat/api/auth/login", app.address);
    for _ in 0..3 {
        let r = c.post(&url).json(&json!({"username": "admin", "password": "wrong-password"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Three failures allowed: the fourth attempt is refused, right password or not.
    let r = c.post(&url).json(&json!({"username": "admin", "password": ADMIN_PASSWORD})).send().await.unwrap();
    assert!(r.headers().get("retry-after").is_some());
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn bearer_tokens_work_until_revoked() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let r = alice.post("/me/tokens", &json!({"name": "bot"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = r.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let bot = reqwest::Client::new();
    let me: Value = bot.get(alice.url("/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["username"], "alice");
    let listed = alice.get_json("/me/tokens").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none(), "the secret is never shown again");
    let r = alice.delete(&format!("/me/tokens/{}", body["id"])).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = bot.get(alice.url("/me")).bearer_auth(&token).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = bot.get(alice.url("/me")).header("authorization", "Basic abc").send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn cookie_writes_from_other_sites_are_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = alice.create_room_as_admin(&app).await;
    let body = json!({"room_id": room, "content": "hi"});
    let send = |headers: Vec<(&'static str, String)>| {
        let mut rq = alice.client.post(alice.url("/messages")).json(&body);
        for (k, v) in headers {
            rq = rq.header(k, v);
        }
        rq.send()
    };
    let host = app.address.trim_start_matches("http://").to_owned();
    let r = send(vec![("origin", "http://evil.example".into())]).await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = send(vec![("sec-fetch-site", "cross-site".into())]).await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let r = send(vec![("referer", "http://evil.example/x".into())]).await.unwrap();
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(send(vec![("origin", format!("http://{host}"))]).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(send(vec![("sec-fetch-site", "same-origin".into())]).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(send(vec![]).await.unwrap().status(), StatusCode::CREATED);
    // Bearer requests are not browsers' ambient credentials: no check.
    let token: Value = alice.post("/me/tokens", &json!({})).await.json().await.unwrap();
    let r = reqwest::Client::new()
        .post(alice.url("/messages"))
        .bearer_auth(token["token"].as_str().unwrap())
        .header("origin", "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

impl TestUser {
    /// A group with this user as its only member (created by the admin, who then leaves
    /// it to the user as admin).
    pub async fn create_room_as_admin(&self, app: &TestApp) -> i64 {
        let room = app.admin.create_room("group", "Scratch", &[self]).await;
        let r = app.admin.patch(&format!("/rooms/{room}/members/{}", self.id), &json!({"role": "admin"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        room
    }
}

#[tokio::test]
async fn admins_manage_users() {
    let app = spawn_app().await;
    let r = app
        .admin
        .post(
            "/admin/users",
            &json!({"username": "dave", "password": PASSWORD, "display_name": "Dave", "permissions": ["chat.read"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let dave: Value = r.json().await.unwrap();
    assert_eq!(dave["permissions"], json!(["chat.read"]));
    let again =
        app.admin.post("/admin/users", &json!({"username": "dave", "password": PASSWORD, "display_name": "D"})).await;
    assert_error(again, StatusCode::CONFLICT, "conflict").await;
    for bad in [
        json!({"username": "Dave!", "password": PASSWORD, "display_name": "x"}),
        json!({"username": "eve", "password": "short", "display_name": "x"}),
        json!({"username": "eve", "password": PASSWORD, "display_name": "x", "permissions": ["chat.fly"]}),
        json!({"username": "", "password": PASSWORD}),
        json!({"password": PASSWORD}),
    ] {
        assert_error(app.admin.post("/admin/users", &bad).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let alice = app.user("alice").await;
    let r = alice.post("/admin/users", &json!({"username": "x", "password": PASSWORD})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    let id = dave["id"].as_i64().unwrap();
    let r = app
        .admin
        .patch(
            &format!("/admin/users/{id}"),
            &json!({"display_name": "David", "permissions": ["chat.read", "chat.create"]}),
        )
        .await;
    let changed: Value = r.json().await.unwrap();
    assert_eq!(changed["display_name"], "David");
    assert_eq!(changed["permissions"], json!(["chat.create", "chat.read"]));
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"colour": "red"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let r = app.admin.patch("/admin/users/999999", &json!({"display_name": "x"})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_tokens() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let token: Value = alice.post("/me/tokens", &json!({})).await.json().await.unwrap();
    let r = app.admin.patch(&format!("/admin/users/{}", alice.id), &json!({"disabled": true})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_error(alice.get("/me").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = reqwest::Client::new()
        .get(alice.url("/me"))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = client()
        .post(alice.url("/auth/login"))
        .json(&json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn the_cli_adds_users_and_creates_tokens() {
    if using_postgres() {
        eprintln!("skipped on PostgreSQL: the CLI test shares the SQLite file");
        return;
    }
    let app = spawn_app().await;
    let db = format!("sqlite://{}", app.dir.path().join("test.db").display());
    let bin = env!("CARGO_BIN_EXE_causerie");
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(bin)
            .args(args)
            .args(["--database", &db])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &["user", "add", "carol", "--display-name", "Carol", "--permissions", "chat.read", "--password-stdin"],
        "carol-password\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["user", "grant", "carol", "chat.create", "chat.manage_rooms"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["user", "revoke", "carol", "chat.read"], "");
    assert!(out.status.success());
    let out = run(&["token", "create", "carol"], "");
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim();
    assert!(token.starts_with("cau_") && !token.contains(char::is_whitespace));
    let me: Value = reqwest::Client::new()
        .get(format!("{}/chat/api/me", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "carol");
    assert_eq!(me["permissions"], json!(["chat.create", "chat.manage_rooms"]));
    let out = run(&["user", "add", "carol", "--password-stdin"], "carol-password\n");
    assert!(!out.status.success());
    let out = run(&["token", "create", "nobody"], "");
    assert!(!out.status.success());
    let out = std::process::Command::new(bin).args(["--database", "mysql://x", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = String::from_utf8_lossy(&out.stderr);
    assert!(line.contains("database_url") && line.lines().count() == 1, "{line}");
}

#[tokio::test]
async fn admin_listings_show_what_users_hold_and_who_is_disabled() {
    let app = spawn_app().await;
    let r = app
        .admin
        .post(
            "/admin/users",
            &json!({"username": "dup", "password": PASSWORD, "display_name": "Dup",
                    "permissions": ["chat.read", "chat.read", "chat.create"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "a permission named twice is granted once");
    let dup: Value = r.json().await.unwrap();
    assert_eq!(dup["permissions"], json!(["chat.create", "chat.read"]));
    let id = dup["id"].as_i64().unwrap();
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"permissions": ["chat.read", "chat.read"]})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["permissions"], json!(["chat.read"]));

    let all = json!(["chat.read", "chat.create", "chat.update", "chat.delete", "chat.manage_rooms"]);
    let sorted = |v: &Value| {
        let mut list: Vec<String> = v.as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
        list.sort();
        list
    };
    let r = app
        .admin
        .post(
            "/admin/users",
            &json!({"username": "erin", "password": PASSWORD, "display_name": "Erin", "is_admin": true}),
        )
        .await;
    let erin: Value = r.json().await.unwrap();
    assert_eq!(sorted(&erin["permissions"]), sorted(&all), "an admin holds all, as /me says");
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"is_admin": true})).await;
    assert_eq!(sorted(&r.json::<Value>().await.unwrap()["permissions"]), sorted(&all));
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"is_admin": false, "disabled": true})).await;
    let demoted: Value = r.json().await.unwrap();
    assert_eq!(demoted["permissions"], json!(["chat.read"]), "demoted, the stored set shows again");

    let listed = app.admin.get_json("/admin/users").await;
    let row = listed.as_array().unwrap().iter().find(|u| u["id"] == id).expect("a disabled user is listed");
    assert_eq!(row["disabled"], true);
    let erin_row = listed.as_array().unwrap().iter().find(|u| u["username"] == "erin").unwrap();
    assert_eq!(sorted(&erin_row["permissions"]), sorted(&all));
    let found = app.admin.get_json("/users?q=dup").await;
    assert_eq!(found, json!([]), "the member picker leaves disabled users out");
}

#[tokio::test]
async fn token_bodies_are_checked_when_given() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let r = alice.client.post(alice.url("/me/tokens")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "no body: a token named api");
    let r = alice.post("/me/tokens", &json!({"name": "  bot  "})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let names: Vec<Value> =
        alice.get_json("/me/tokens").await.as_array().unwrap().iter().map(|t| t["name"].clone()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&json!("api")) && names.contains(&json!("bot")), "{names:?}");
    for bad in ["{bad", "{\"name\": 5}", "{\"nme\": \"x\"}", "{\"name\": \"   \"}", "{\"name\": \"a\"} {}", "[\"x\"]"] {
        let r = alice.post_raw("/me/tokens", bad).await;
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let long = json!({"name": "n".repeat(81)});
    assert_error(alice.post("/me/tokens", &long).await, StatusCode::BAD_REQUEST, "invalid_input").await;
    assert_eq!(alice.get_json("/me/tokens").await.as_array().unwrap().len(), 2, "no refused body made a token");
}

#[tokio::test]
async fn a_proxy_login_header_leaves_the_session_cookie_in_charge() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    // A reverse proxy's own Basic login: the browser sends it with every request.
    let r = alice.client.get(alice.url("/me")).header("authorization", "Basic eDp5").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["username"], "alice");
    let r = alice.client.get(alice.url("/me")).header("authorization", "Bearer").send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = alice.client.get(alice.url("/me")).header("authorization", "Bearer cau_nope").send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}
