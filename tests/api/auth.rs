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
    let removal = r.headers().get("set-cookie").expect("the cookie is removed").to_str().unwrap().to_owned();
    assert!(removal.starts_with("causerie_session=;"), "{removal}");
    expect_status(r, StatusCode::NO_CONTENT).await;
    // The browser forgets the cookie; the server must forget the session too, so the old
    // cookie, sent again by hand, no longer works.
    let r = alice.get_with_session_cookie("/me").await;
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let again = login(&app.address, "alice", PASSWORD).await;
    assert_ne!(again.session, alice.session, "a new login is a new session");
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

/// The `Set-Cookie` of the admin's login.
async fn session_cookie_of_admin_login(app: &TestApp) -> String {
    let r = client()
        .post(format!("{}/chat/api/auth/login", app.address))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    r.headers().get("set-cookie").expect("a session cookie").to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_lax() {
    let app = spawn_app().await;
    let cookie = session_cookie_of_admin_login(&app).await;
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_configured() {
    let app = spawn_app_with(|s| s.secure_cookies = true).await;
    let cookie = session_cookie_of_admin_login(&app).await;
    assert!(cookie.split("; ").any(|attribute| attribute == "Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let app = spawn_app_with(|s| s.login_attempts_per_minute = 3).await;
    let c = client();
    let url = format!("{}/chat/api/auth/login", app.address);
    for _ in 0..3 {
        let r = c.post(&url).json(&json!({"username": "admin", "password": "wrong-password"})).send().await.unwrap();
        expect_status(r, StatusCode::UNAUTHORIZED).await;
    }
    // Three failures allowed: the fourth attempt is refused, right password or not, until
    // a failure's worth of time has passed (a minute shared by three).
    let r = c.post(&url).json(&json!({"username": "admin", "password": ADMIN_PASSWORD})).send().await.unwrap();
    assert_retry_after(&r, 1..=20);
    assert_error(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Limited per username: another account from the same address is not.
    app.user("bob").await;
    let r = c.post(&url).json(&json!({"username": "bob", "password": "wrong-password"})).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    login(&app.address, "bob", PASSWORD).await;
}

#[tokio::test]
async fn bearer_tokens_work_until_revoked() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let body = expect_status(alice.post("/me/tokens", &json!({"name": "bot"})).await, StatusCode::CREATED).await;
    let token = body["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("cau_"), "{token}");
    let bot = alice.with_token(&token);
    assert_eq!(bot.get_json("/me").await["username"], "alice");
    let listed = alice.get_json("/me/tokens").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["name"], "bot");
    assert!(listed[0].get("token").is_none(), "the secret is never shown again");
    expect_status(alice.delete(&format!("/me/tokens/{}", body["id"])).await, StatusCode::NO_CONTENT).await;
    assert_error(bot.get("/me").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = reqwest::Client::new().get(alice.url("/me")).header("authorization", "Basic abc").send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// Sends `method path` with `body` as `user`'s browser would, with these headers.
async fn browser_write(
    user: &TestUser,
    method: reqwest::Method,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rq = user.client.request(method, user.url(path)).json(body);
    for (k, v) in headers {
        rq = rq.header(*k, *v);
    }
    rq.send().await.unwrap()
}

#[tokio::test]
async fn cookie_writes_from_other_sites_are_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = alice.create_room_as_admin(&app).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let own = format!("http://{host}");
    let body = json!({"room_id": room, "content": "hi"});
    let refused: [&[(&str, &str)]; 5] = [
        &[("origin", "http://evil.example")],
        &[("sec-fetch-site", "cross-site")],
        // Another site of the same registrable domain is still another origin.
        &[("sec-fetch-site", "same-site"), ("origin", &own)],
        &[("referer", "http://evil.example/x")],
        &[("origin", "null")],
    ];
    let allowed: [&[(&str, &str)]; 5] = [
        &[("origin", &own)],
        &[("referer", &format!("{own}/rooms/1"))],
        &[("sec-fetch-site", "same-origin")],
        &[("sec-fetch-site", "none")],
        &[],
    ];
    let post = reqwest::Method::POST;
    for headers in refused {
        let r = browser_write(&alice, post.clone(), "/messages", &body, headers).await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for headers in allowed {
        let r = browser_write(&alice, post.clone(), "/messages", &body, headers).await;
        expect_status(r, StatusCode::CREATED).await;
    }
    // PATCH and DELETE alike; the refused ones change nothing.
    let message = alice.send(room, "keep me").await;
    let path = format!("/messages/{}", message["id"]);
    let edit = json!({"content": "forged"});
    for headers in refused {
        let r = browser_write(&alice, reqwest::Method::PATCH, &path, &edit, headers).await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
        let r = browser_write(&alice, reqwest::Method::DELETE, &path, &json!({}), headers).await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let page = alice.get_json(&format!("/rooms/{room}/messages")).await;
    let kept = page["messages"].as_array().unwrap().iter().find(|m| m["id"] == message["id"]).unwrap().clone();
    assert_eq!((&kept["content"], &kept["is_deleted"]), (&json!("keep me"), &json!(false)));
    let r = browser_write(&alice, reqwest::Method::PATCH, &path, &edit, &[("origin", &own)]).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["content"], "forged");
    let r = browser_write(&alice, reqwest::Method::DELETE, &path, &json!({}), &[("origin", &own)]).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    // Bearer requests are not browsers' ambient credentials: no check.
    let bot = alice.with_token(&alice.create_token().await);
    let r = browser_write(&bot, post, "/messages", &body, &[("origin", "http://evil.example")]).await;
    expect_status(r, StatusCode::CREATED).await;
}

#[tokio::test]
async fn the_public_url_is_the_origin_writes_must_come_from() {
    let app = spawn_app_with(|s| s.public_url = Some("https://chat.example.com".into())).await;
    let alice = app.user("alice").await;
    let room = alice.create_room_as_admin(&app).await;
    let body = json!({"room_id": room, "content": "hi"});
    let own = app.address.clone();
    for origin in [own.as_str(), "http://chat.example.com", "https://chat.example.com:8443", "https://evil.example"] {
        let r = browser_write(&alice, reqwest::Method::POST, "/messages", &body, &[("origin", origin)]).await;
        assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for headers in [[("origin", "https://chat.example.com")], [("referer", "https://chat.example.com/rooms/3")]] {
        let r = browser_write(&alice, reqwest::Method::POST, "/messages", &body, &headers).await;
        expect_status(r, StatusCode::CREATED).await;
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
    let dave = expect_status(r, StatusCode::CREATED).await;
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
    let id = int(&dave, "id");
    let r = app
        .admin
        .patch(
            &format!("/admin/users/{id}"),
            &json!({"display_name": "David", "permissions": ["chat.read", "chat.create"]}),
        )
        .await;
    let changed = expect_status(r, StatusCode::OK).await;
    assert_eq!(changed["display_name"], "David");
    assert_eq!(changed["permissions"], json!(["chat.create", "chat.read"]));
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"colour": "red"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let r = app.admin.patch("/admin/users/999999", &json!({"display_name": "x"})).await;
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn admins_change_passwords() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let path = format!("/admin/users/{}", alice.id);
    let r = app.admin.patch(&path, &json!({"password": "short"})).await;
    assert_error(r, StatusCode::BAD_REQUEST, "invalid_input").await;
    let r = alice.patch(&path, &json!({"password": "alice-chose-this"})).await;
    assert_error(r, StatusCode::FORBIDDEN, "forbidden").await;
    login(&app.address, "alice", PASSWORD).await;
    let changed =
        expect_status(app.admin.patch(&path, &json!({"password": "a-new-password"})).await, StatusCode::OK).await;
    assert!(changed.get("password").is_none() && changed.get("password_hash").is_none(), "{changed}");
    let url = alice.url("/auth/login");
    let r = client().post(&url).json(&json!({"username": "alice", "password": PASSWORD})).send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    login(&app.address, "alice", "a-new-password").await;
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_tokens() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bot = alice.with_token(&alice.create_token().await);
    let r = app.admin.patch(&format!("/admin/users/{}", alice.id), &json!({"disabled": true})).await;
    expect_status(r, StatusCode::OK).await;
    assert_error(alice.get("/me").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_error(bot.get("/me").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
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
    let app = spawn_app().await;
    let run = |args: &[&str], stdin: &str| cli(&app.database_url, args, stdin);
    let out = run(
        &["user", "add", "carol", "--display-name", "Carol", "--permissions", "chat.read", "--password-stdin"],
        "carol-password\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["user", "grant", "carol", "chat.create", "chat.manage_rooms"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["user", "revoke", "carol", "chat.read"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["token", "create", "carol"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    let token = token.trim();
    assert!(token.starts_with("cau_") && !token.contains(char::is_whitespace));
    let carol = TestUser {
        id: 0,
        username: "carol".into(),
        client: client(),
        address: app.address.clone(),
        session: String::new(),
    }
    .with_token(token);
    let me = carol.get_json("/me").await;
    assert_eq!(me["username"], "carol");
    assert_eq!(me["display_name"], "Carol");
    assert_eq!(me["permissions"], json!(["chat.create", "chat.manage_rooms"]));
    login(&app.address, "carol", "carol-password").await;
    let out = run(&["user", "add", "carol", "--password-stdin"], "carol-password\n");
    assert!(!out.status.success());
    let out = run(&["token", "create", "nobody"], "");
    assert!(!out.status.success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_causerie"))
        .args(["--database", "mysql://x", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = String::from_utf8_lossy(&out.stderr);
    assert!(line.contains("database_url") && line.lines().count() == 1, "{line}");
}

#[tokio::test]
async fn the_first_admin_gets_a_random_password_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _database) = test_database(dir.path());
    let told = |server: &ServerProcess| -> Vec<String> {
        server.startup_log.iter().filter_map(|entry| entry["password"].as_str().map(str::to_owned)).collect()
    };
    let mut first = ServerProcess::start(dir.path(), &database_url, None, &[]);
    first.drain_log();
    let passwords = told(&first);
    assert_eq!(passwords.len(), 1, "{:?}", first.startup_log);
    let password = passwords[0].clone();
    assert!(password.chars().count() >= 16, "{password}");
    assert_ne!(password, ADMIN_PASSWORD);
    let admin = login(&first.address, "admin", &password).await;
    assert_eq!(admin.get_json("/me").await["is_admin"], true);
    first.terminate();
    first.stops_cleanly().await;
    // Started again on the same database: the account stays as it is and nothing is told.
    let mut again = ServerProcess::start(dir.path(), &database_url, None, &[]);
    again.drain_log();
    assert!(told(&again).is_empty(), "{:?}", again.startup_log);
    login(&again.address, "admin", &password).await;
    // Another database, another password.
    let other_dir = tempfile::tempdir().unwrap();
    let (other_url, _other) = test_database(other_dir.path());
    let other = ServerProcess::start(other_dir.path(), &other_url, None, &[]);
    assert_eq!(told(&other).len(), 1);
    assert_ne!(told(&other)[0], password);
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
    let dup = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(dup["permissions"], json!(["chat.create", "chat.read"]), "a permission named twice is granted once");
    let id = int(&dup, "id");
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"permissions": ["chat.read", "chat.read"]})).await;
    assert_eq!(expect_status(r, StatusCode::OK).await["permissions"], json!(["chat.read"]));

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
    let erin = expect_status(r, StatusCode::CREATED).await;
    assert_eq!(sorted(&erin["permissions"]), sorted(&all), "an admin holds all, as /me says");
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"is_admin": true})).await;
    assert_eq!(sorted(&expect_status(r, StatusCode::OK).await["permissions"]), sorted(&all));
    let r = app.admin.patch(&format!("/admin/users/{id}"), &json!({"is_admin": false, "disabled": true})).await;
    let demoted = expect_status(r, StatusCode::OK).await;
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
    expect_status(r, StatusCode::CREATED).await;
    expect_status(alice.post("/me/tokens", &json!({"name": "  bot  "})).await, StatusCode::CREATED).await;
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
    assert_eq!(expect_status(r, StatusCode::OK).await["username"], "alice");
    let r = alice.client.get(alice.url("/me")).header("authorization", "Bearer").send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let r = alice.client.get(alice.url("/me")).header("authorization", "Bearer cau_nope").send().await.unwrap();
    assert_error(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn users_are_found_by_name_for_the_member_picker() {
    let app = spawn_app().await;
    for (username, display_name) in
        [("alice", "Alice Martin"), ("bob", "Bob Durand"), ("carol", "Caroline Dumas"), ("dan", "Daniel")]
    {
        let body = json!({"username": username, "password": PASSWORD, "display_name": display_name});
        expect_status(app.admin.post("/admin/users", &body).await, StatusCode::CREATED).await;
    }
    let alice = login(&app.address, "alice", PASSWORD).await;
    let dan = app.admin.get_json("/admin/users").await;
    let dan = dan.as_array().unwrap().iter().find(|u| u["username"] == "dan").unwrap().clone();
    let r = app.admin.patch(&format!("/admin/users/{}", dan["id"]), &json!({"disabled": true})).await;
    expect_status(r, StatusCode::OK).await;
    let names = |found: Value| -> Vec<String> {
        found.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
    };
    // The username or the display name, in any case; disabled users never.
    assert_eq!(names(alice.get_json("/users?q=DU").await), ["bob", "carol"]);
    assert_eq!(names(alice.get_json("/users?q=car").await), ["carol"]);
    assert_eq!(names(alice.get_json("/users?q=martin").await), ["alice"]);
    assert_eq!(names(alice.get_json("/users?q=dan").await), Vec::<String>::new(), "dan is disabled");
    assert_eq!(names(alice.get_json("/users?q=nobody").await), Vec::<String>::new());
    let everyone = names(alice.get_json("/users?q=").await);
    assert_eq!(everyone.len(), 4, "{everyone:?}");
    assert!(everyone.contains(&"admin".to_owned()) && !everyone.contains(&"dan".to_owned()));
    assert_eq!(names(alice.get_json("/users?q=&limit=2").await).len(), 2);
    // What a member picker needs, without what only administrators see.
    let found = alice.get_json("/users?q=bob").await;
    let bob = found[0].as_object().unwrap();
    let mut keys: Vec<&str> = bob.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["display_name", "id", "is_admin", "online", "username"]);
    assert_eq!(bob["display_name"], "Bob Durand");
}
