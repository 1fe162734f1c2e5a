use std::time::Duration;

use causerie::config::Settings;
use causerie::startup::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "user-password-1";

pub struct TestApp {
    pub address: String,
    pub admin: TestUser,
    pub state: actix_web::web::Data<causerie::chat::Chat>,
    pub dir: tempfile::TempDir,
    _database: Option<PgDatabase>,
}

#[derive(Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub client: Client,
    pub address: String,
    /// The session cookie's value, for requests made outside `client`.
    pub session: String,
}

/// A PostgreSQL database of its own for one test, dropped afterwards.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            use diesel::{Connection, PgConnection, RunQueryDsl};
            if let Ok(mut conn) = PgConnection::establish(&url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
            }
        })
        .join();
    }
}

fn postgres_database() -> Option<(String, PgDatabase)> {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let base = std::env::var("CAUSERIE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    let name = format!("causerie_test_{}", uuid_like());
    causerie::store::prepare_postgres();
    let mut conn = PgConnection::establish(&base).expect("CAUSERIE_TEST_POSTGRES_URL does not answer");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("a database URL ends in /DBNAME");
    Some((format!("{prefix}/{name}"), PgDatabase { admin_url: base.clone(), name }))
}

pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

pub fn using_postgres() -> bool {
    std::env::var("CAUSERIE_TEST_POSTGRES_URL").is_ok_and(|u| !u.is_empty())
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, database) = match postgres_database() {
        Some((url, db)) => (url, Some(db)),
        None => (format!("sqlite://{}", dir.path().join("test.db").display()), None),
    };
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url,
        uploads_dir: dir.path().join("uploads"),
        admin_password: Some(ADMIN_PASSWORD.into()),
        login_attempts_per_minute: 1000,
        rate_limit_per_minute: 0,
        db_pool_size: 4,
        workers: 2,
        // More than the default on two cores: streams move between threads.
        stream_threads: 2,
        ..Settings::default()
    };
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    tokio::spawn(app.into_server());
    let admin = login(&address, "admin", ADMIN_PASSWORD).await;
    TestApp { address, admin, state, dir, _database: database }
}

pub fn client() -> Client {
    Client::builder().cookie_store(true).timeout(Duration::from_secs(30)).build().unwrap()
}

pub async fn login(address: &str, username: &str, password: &str) -> TestUser {
    let client = client();
    let response = client
        .post(format!("{address}/chat/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "login of {username}");
    let session =
        response.cookies().find(|c| c.name() == "causerie_session").expect("a session cookie").value().to_owned();
    let body: Value = response.json().await.unwrap();
    TestUser {
        id: body["user"]["id"].as_i64().unwrap(),
        username: username.into(),
        client,
        address: address.into(),
        session,
    }
}

impl TestApp {
    /// A new user with the default permissions (or these), logged in.
    pub async fn user(&self, username: &str) -> TestUser {
        self.user_with(username, None).await
    }

    pub async fn user_with(&self, username: &str, permissions: Option<&[&str]>) -> TestUser {
        let mut body = json!({"username": username, "password": PASSWORD, "display_name": capitalize(username)});
        if let Some(p) = permissions {
            body["permissions"] = json!(p);
        }
        let r = self.admin.post("/admin/users", &body).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create {username}");
        login(&self.address, username, PASSWORD).await
    }
}

fn capitalize(name: &str) -> String {
    let mut c = name.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

impl TestUser {
    pub fn url(&self, path: &str) -> String {
        format!("{}/chat/api{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    /// POSTs `body` as it is, labelled JSON: for bodies `post` cannot make.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client.post(self.url(path)).header("content-type", "application/json").body(body).send().await.unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.client.patch(self.url(path)).json(body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.unwrap()
    }

    /// Creates a group (or channel) with these members; returns its id.
    pub async fn create_room(&self, room_type: &str, name: &str, members: &[&TestUser]) -> i64 {
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let r = self.post("/rooms", &json!({"room_type": room_type, "name": name, "member_ids": ids})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create room {name}");
        r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    pub async fn send(&self, room_id: i64, content: &str) -> Value {
        let r = self.post("/messages", &json!({"room_id": room_id, "content": content})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "send to {room_id}");
        r.json().await.unwrap()
    }
}

/// Asserts the contract's error shape and code.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(body["error"]["code"], code, "body: {text}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {text}");
    body
}
