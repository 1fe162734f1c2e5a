use std::path::{Path, PathBuf};
use std::time::Duration;

use causerie::config::Settings;
use causerie::startup::Application;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "user-password-1";

pub struct TestApp {
    pub address: String,
    pub admin: TestUser,
    pub state: actix_web::web::Data<causerie::chat::Chat>,
    pub dir: tempfile::TempDir,
    /// The database the server uses, for the command line pointed at the same data.
    pub database_url: String,
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
pub struct PgDatabase {
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

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A database of its own for one test: SQLite in `dir`, or a PostgreSQL database when
/// CAUSERIE_TEST_POSTGRES_URL is set (dropped with the returned guard).
pub fn test_database(dir: &Path) -> (String, Option<PgDatabase>) {
    match postgres_database() {
        Some((url, db)) => (url, Some(db)),
        None => (format!("sqlite://{}", dir.join("test.db").display()), None),
    }
}

/// A test node's settings: any free port, the admin's password, limits that tests do not
/// trip by accident, and uploads under `dir`.
fn test_settings(database_url: &str, dir: &Path) -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        database_url: database_url.to_owned(),
        uploads_dir: dir.join("uploads"),
        admin_password: Some(ADMIN_PASSWORD.into()),
        login_attempts_per_minute: 1000,
        rate_limit_per_minute: 0,
        db_pool_size: 4,
        workers: 2,
        // More than the default on two cores: streams move between threads.
        stream_threads: 2,
        ..Settings::default()
    }
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, database) = test_database(dir.path());
    let mut settings = test_settings(&database_url, dir.path());
    adjust(&mut settings);
    let app = Application::build(settings).await.expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    tokio::spawn(app.into_server());
    let admin = login(&address, "admin", ADMIN_PASSWORD).await;
    TestApp { address, admin, state, dir, database_url, _database: database }
}

/// Another node serving the same database and uploads as `app` (several nodes on
/// PostgreSQL); its admin logged in on it. The database goes with `app`.
pub async fn spawn_node_beside(app: &TestApp, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&app.database_url, app.dir.path());
    adjust(&mut settings);
    let node = Application::build(settings).await.expect("the second node starts");
    let address = format!("http://127.0.0.1:{}", node.port());
    let state = node.state();
    tokio::spawn(node.into_server());
    let admin = login(&address, "admin", ADMIN_PASSWORD).await;
    TestApp { address, admin, state, dir, database_url: app.database_url.clone(), _database: None }
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
    let session = response.cookies().find(|c| c.name() == "causerie_session").map(|c| c.value().to_owned());
    let body = expect_status(response, StatusCode::OK).await;
    TestUser {
        id: int(&body["user"], "id"),
        session: session.expect("a session cookie"),
        username: username.into(),
        client,
        address: address.into(),
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
        expect_status(self.admin.post("/admin/users", &body).await, StatusCode::CREATED).await;
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
        expect_status(self.get(path).await, StatusCode::OK).await
    }

    /// Creates a group (or channel) with these members; returns its id.
    pub async fn create_room(&self, room_type: &str, name: &str, members: &[&TestUser]) -> i64 {
        let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
        let r = self.post("/rooms", &json!({"room_type": room_type, "name": name, "member_ids": ids})).await;
        int(&expect_status(r, StatusCode::CREATED).await, "id")
    }

    /// A group with this user as its only member and admin (created by the app's admin,
    /// who then leaves it).
    pub async fn create_room_as_admin(&self, app: &TestApp) -> i64 {
        let room = app.admin.create_room("group", "Scratch", &[self]).await;
        let r = app.admin.patch(&format!("/rooms/{room}/members/{}", self.id), &json!({"role": "admin"})).await;
        expect_status(r, StatusCode::OK).await;
        let r = app.admin.delete(&format!("/rooms/{room}/members/{}", app.admin.id)).await;
        expect_status(r, StatusCode::NO_CONTENT).await;
        room
    }

    pub async fn send(&self, room_id: i64, content: &str) -> Value {
        let r = self.post("/messages", &json!({"room_id": room_id, "content": content})).await;
        expect_status(r, StatusCode::CREATED).await
    }

    /// A GET that sends this user's session cookie by hand from a client without a cookie
    /// jar: what a client that kept an old cookie sends.
    pub async fn get_with_session_cookie(&self, path: &str) -> Response {
        client()
            .get(self.url(path))
            .header("cookie", format!("causerie_session={}", self.session))
            .send()
            .await
            .unwrap()
    }

    /// A new API token of this user.
    pub async fn create_token(&self) -> String {
        let body = expect_status(self.post("/me/tokens", &json!({})).await, StatusCode::CREATED).await;
        body["token"].as_str().expect("`token` in the answer").to_owned()
    }

    /// This user as a bot sees it: requests that carry `Authorization: Bearer <token>` and
    /// no cookie.
    pub fn with_token(&self, token: &str) -> TestUser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        let client = Client::builder().default_headers(headers).timeout(Duration::from_secs(30)).build().unwrap();
        TestUser { client, session: String::new(), ..self.clone() }
    }
}

/// Asserts a response's status, showing its URL and body when it is another; returns the
/// body as JSON (`Null` when empty, a string when not JSON).
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let url = response.url().clone();
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{url}: body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts a response's status before its body is read (a stream's); reads and shows the
/// body when the status is another.
pub async fn expect_head(response: Response, status: StatusCode) -> Response {
    if response.status() != status {
        expect_status(response, status).await;
        unreachable!();
    }
    response
}

/// Asserts that a 429 tells when to try again: `Retry-After` in whole seconds, within `range`.
pub fn assert_retry_after(response: &Response, range: std::ops::RangeInclusive<u64>) {
    let value = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let seconds: Option<u64> = value.as_deref().and_then(|v| v.parse().ok());
    assert!(seconds.is_some_and(|s| range.contains(&s)), "Retry-After {value:?}, expected seconds in {range:?}");
}

/// An integer field of a JSON object, naming the field when it is missing.
pub fn int(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("`{field}` is not an integer in {value}"))
}

/// A `u64` metric of `/metrics`, by its full name with labels.
pub fn metric(text: &str, name: &str) -> u64 {
    let prefix = format!("{name} ");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no metric {name}: {text}"));
    line[prefix.len()..].parse().unwrap_or_else(|_| panic!("{line}"))
}

/// Asserts the contract's error shape and code.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    let url = response.url().clone();
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{url}: body: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(body["error"]["code"], code, "body: {text}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "body: {text}");
    body
}

/// The built binary, serving on a free port of 127.0.0.1 (or `bind`'s address), with JSON
/// logs on a pipe.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub address: String,
    /// What the server logged before it listened, one JSON object a line.
    pub startup_log: Vec<Value>,
    /// The rest of its log, unread.
    pub log: Option<LogLines>,
}

pub type LogLines = std::io::Lines<std::io::BufReader<std::process::ChildStderr>>;

impl ServerProcess {
    /// Starts `causerie serve` on `database_url` with its uploads in `dir`, with
    /// `CAUSERIE_ADMIN_PASSWORD` set to `admin_password` (none: the server makes one up) and
    /// these other variables.
    pub fn start(dir: &Path, database_url: &str, admin_password: Option<&str>, envs: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_causerie"));
        command
            .args(["serve", "--database", database_url, "--uploads"])
            .arg(dir.join("uploads"))
            .env_remove("CAUSERIE_ADMIN_PASSWORD")
            .env("CAUSERIE_BIND", "127.0.0.1:0")
            .env("CAUSERIE_LOG_FORMAT", "json")
            .env("CAUSERIE_LOG_LEVEL", "info")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if let Some(password) = admin_password {
            command.env("CAUSERIE_ADMIN_PASSWORD", password);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut startup_log = Vec::new();
        let port = loop {
            let line = lines.next().expect("the server logs its port").unwrap();
            let entry: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            if entry["message"] == "listening" {
                break entry["port"].as_u64().expect("`port` in the listening line");
            }
            startup_log.push(entry);
        };
        ServerProcess { child, address: format!("http://127.0.0.1:{port}"), startup_log, log: Some(lines) }
    }

    /// Keeps reading the log in the background, so that the server never blocks on it.
    pub fn drain_log(&mut self) {
        if let Some(lines) = self.log.take() {
            std::thread::spawn(move || lines.for_each(drop));
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let kill = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(kill.success());
    }

    /// Waits up to 20 s for the process to exit with success; kills it otherwise.
    pub async fn stops_cleanly(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the server did not stop");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the command line against `database_url` with `stdin` as its input.
pub fn cli(database_url: &str, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_causerie"))
        .args(args)
        .args(["--database", database_url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Reads until `done` holds for what was read; fails the test if the connection ends first
/// or nothing comes for `WAIT`.
pub async fn read_until(io: &mut TcpStream, seen: &mut Vec<u8>, done: impl Fn(&[u8]) -> bool) {
    let reading = async {
        let mut buf = [0u8; 16 * 1024];
        while !done(seen) {
            let n = io.read(&mut buf).await.unwrap();
            assert!(n > 0, "the server closed the connection: {}", String::from_utf8_lossy(seen));
            seen.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(crate::sse::WAIT, reading)
        .await
        .unwrap_or_else(|_| panic!("waited for: {}", String::from_utf8_lossy(seen)));
}
