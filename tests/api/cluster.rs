//! Several nodes on one PostgreSQL database: every event committed on any node reaches the
//! streams of every node in id order, once; revocations apply everywhere within a second;
//! limits are shared through Redis when it answers and local when it does not.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::sse::{Next, SseEvent, SseReader};

/// The PostgreSQL URL the test needs, or `None` after saying why it is skipped.
fn postgres_or_skip(test: &str) -> Option<String> {
    match std::env::var("CAUSERIE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => Some(url),
        None => {
            eprintln!("skipped {test}: several nodes need PostgreSQL; set CAUSERIE_TEST_POSTGRES_URL");
            None
        }
    }
}

/// The same user, speaking to another node.
fn on(user: &TestUser, node: &TestApp) -> TestUser {
    TestUser { address: node.address.clone(), ..user.clone() }
}

/// Ends the cluster bus connections of this test's database (the nodes reconnect).
fn terminate_listeners(database_url: &str) -> usize {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Ended {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        #[allow(dead_code)]
        ended: bool,
    }
    let name = database_url.rsplit('/').next().unwrap();
    let mut conn = PgConnection::establish(database_url).unwrap();
    let ended: Vec<Ended> = diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
         WHERE application_name = 'causerie-bus' AND datname = '{name}'"
    ))
    .load(&mut conn)
    .unwrap();
    ended.len()
}

/// Reads `n` new messages off a stream: asserts ids strictly ascending and each once.
async fn messages(reader: &mut SseReader, n: usize) -> Vec<SseEvent> {
    // A bound of its own: the stream's pings would keep `collect` waiting for ever.
    let all = tokio::time::timeout(Duration::from_secs(60), reader.collect(n, "new_message"))
        .await
        .unwrap_or_else(|_| panic!("{n} messages did not arrive within a minute"));
    let events: Vec<SseEvent> = all.into_iter().filter(|e| e.event == "new_message").collect();
    let ids: Vec<i64> = events.iter().map(|e| e.id.expect("a stored event has an id")).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids out of order or repeated: {ids:?}");
    events
}

fn contents(events: &[SseEvent]) -> HashSet<String> {
    events.iter().map(|e| e.data["content"].as_str().unwrap().to_owned()).collect()
}

/// Each sender posts `count` messages `"{name}-{round}-{i}"` one after another; returns what was
/// acknowledged.
async fn post_all(senders: &[TestUser], room: i64, round: &str, count: usize) -> HashSet<String> {
    let posts = senders.iter().map(|sender| async move {
        let mut sent = Vec::new();
        for i in 0..count {
            let text = format!("{}-{round}-{i}", sender.username);
            sender.send(room, &text).await;
            sent.push(text);
        }
        sent
    });
    futures_util::future::join_all(posts).await.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_every_node_in_id_order_and_resume_on_any_node() {
    if postgres_or_skip("events_reach_every_node_in_id_order_and_resume_on_any_node").is_none() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_node_beside(&a, |_| {}).await;
    let mut senders = Vec::new();
    for name in ["s1", "s2", "s3", "s4"] {
        senders.push(a.user(name).await);
    }
    let reader = a.user("reader").await;
    let members: Vec<&TestUser> = senders.iter().chain([&reader]).collect();
    let room = a.admin.create_room("group", "Nodes", &members).await;
    // Two senders on each node; one stream on each node.
    let senders: Vec<TestUser> =
        senders.iter().enumerate().map(|(i, s)| if i % 2 == 0 { s.clone() } else { on(s, &b) }).collect();
    let (_, mut on_a) = SseReader::open(&reader, "", None).await;
    let (_, mut on_b) = SseReader::open(&on(&reader, &b), "", None).await;

    // The first half, then the bus connections are ended, then the second half.
    let mut sent = post_all(&senders, room, "first", 25).await;
    assert!(terminate_listeners(&a.database_url) >= 2, "both nodes listen");
    sent.extend(post_all(&senders, room, "second", 25).await);
    assert_eq!(sent.len(), 200);

    let seen_a = messages(&mut on_a, 200).await;
    let seen_b = messages(&mut on_b, 200).await;
    assert_eq!(contents(&seen_a), sent);
    assert_eq!(contents(&seen_b), sent);
    let ids = |events: &[SseEvent]| events.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>();
    assert_eq!(ids(&seen_a), ids(&seen_b), "both nodes carry the same events with the same ids");
    on_a.expect_quiet(Duration::from_millis(500)).await;
    on_b.expect_quiet(Duration::from_millis(500)).await;

    // A client that saw the first hundred on node A resumes on node B.
    let resume_after = seen_a[99].id.unwrap();
    let (_, mut resumed) = SseReader::open(&on(&reader, &b), "", Some(resume_after)).await;
    let rest = messages(&mut resumed, 100).await;
    assert_eq!(ids(&rest), ids(&seen_a[100..]));
    resumed.expect_quiet(Duration::from_millis(500)).await;

    // The bus came back on both nodes and counted it.
    for node in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = reqwest::get(format!("{}/metrics", node.address)).await.unwrap().text().await.unwrap();
            let ready =
                expect_status(reqwest::get(format!("{}/readyz", node.address)).await.unwrap(), StatusCode::OK).await;
            if ready["bus"] == "listening" {
                assert!(metric(&text, "causerie_bus_reconnects_total") >= 1, "{text}");
                assert!(metric(&text, "causerie_bus_notifications_total") >= 1, "{text}");
                assert_eq!(metric(&text, "causerie_bus_lag_events"), 0, "{text}");
                assert_eq!(ready["database"], "ok");
                break;
            }
            assert!(Instant::now() < deadline, "the bus did not come back: {ready}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sends the request until it is refused as unauthenticated, for up to a second.
async fn refused_within_a_second(what: &str, request: impl Fn() -> reqwest::RequestBuilder) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while request().send().await.unwrap().status() != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "{what} did not happen within a second");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The user's session cookie sent by hand, to `path` on the user's node.
fn with_cookie(user: &TestUser, path: &str) -> reqwest::RequestBuilder {
    client().get(user.url(path)).header("cookie", format!("causerie_session={}", user.session))
}

/// The stream ends within a second (events before the end are allowed).
async fn ends_within_a_second(reader: &mut SseReader) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match reader.next(left.max(Duration::from_millis(1))).await {
            Next::Ended { .. } => return,
            Next::Event(_) => continue,
            Next::Silent => panic!("the stream is still open a second later"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logout_revocation_and_removal_on_one_node_apply_on_the_other_within_a_second() {
    if postgres_or_skip("logout_revocation_and_removal_on_one_node_apply_on_the_other_within_a_second").is_none() {
        return;
    }
    let a = spawn_app().await;
    // The auth cache is on (its default): the other node must forget, not wait it out.
    let b = spawn_node_beside(&a, |s| s.auth_cache_seconds = 60).await;
    let bob = a.user("bob").await;
    let carol = a.user("carol").await;
    let room = a.admin.create_room("group", "Revocation", &[&bob, &carol]).await;

    // Logout on A: bob's stream and cookie on B end.
    let bob_b = on(&bob, &b);
    expect_status(bob_b.get_with_session_cookie("/me").await, StatusCode::OK).await;
    let (_, mut stream_b) = SseReader::open(&bob_b, "", None).await;
    expect_status(bob.post("/auth/logout", &json!({})).await, StatusCode::NO_CONTENT).await;
    ends_within_a_second(&mut stream_b).await;
    refused_within_a_second("the session ending on B", || with_cookie(&bob_b, "/me")).await;

    // A revoked token, on the node that did not revoke it.
    let token = carol.create_token().await;
    let carol_b = on(&carol, &b).with_token(&token);
    expect_status(carol_b.get("/me").await, StatusCode::OK).await;
    let id = int(&carol.get_json("/me/tokens").await[0], "id");
    expect_status(carol.delete(&format!("/me/tokens/{id}")).await, StatusCode::NO_CONTENT).await;
    refused_within_a_second("the token ending on B", || carol_b.client.get(carol_b.url("/me"))).await;

    // Removed from the room on A: B's stream stops carrying it, B refuses the room.
    let carol_b = on(&carol, &b);
    let (_, mut carol_stream) = SseReader::open(&carol_b, "", None).await;
    expect_status(carol_b.get(&format!("/rooms/{room}/messages")).await, StatusCode::OK).await;
    let r = a.admin.delete(&format!("/rooms/{room}/members/{}", carol.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let left = carol_stream.event(Duration::from_secs(1)).await;
    assert_eq!((left.event.as_str(), left.data["member"]["user_id"].as_i64()), ("member_left", Some(carol.id)));
    a.admin.send(room, "after carol left").await;
    carol_stream.expect_quiet(Duration::from_millis(700)).await;
    let r = carol_b.get(&format!("/rooms/{room}/messages")).await;
    assert!(r.status() == StatusCode::NOT_FOUND || r.status() == StatusCode::FORBIDDEN, "{}", r.status());

    // Disabled on A: streams on B end, sign-ins on B stop.
    let (_, mut carol_stream) = SseReader::open(&carol_b, "", None).await;
    let r = a.admin.patch(&format!("/admin/users/{}", carol.id), &json!({"disabled": true})).await;
    expect_status(r, StatusCode::OK).await;
    ends_within_a_second(&mut carol_stream).await;
    refused_within_a_second("the account ending on B", || with_cookie(&carol_b, "/me")).await;

    // A right taken away on A: B refuses what it allowed (its cache forgets the account).
    let dave = a.user("dave").await;
    let room = a.admin.create_room("group", "Rights", &[&dave]).await;
    let dave_b = on(&dave, &b);
    dave_b.send(room, "allowed on B").await;
    let r = a.admin.patch(&format!("/admin/users/{}", dave.id), &json!({"permissions": ["chat.read"]})).await;
    expect_status(r, StatusCode::OK).await;
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let r = dave_b.post("/messages", &json!({"room_id": room, "content": "refused on B"})).await;
        if r.status() == StatusCode::FORBIDDEN {
            break;
        }
        assert_eq!(r.status(), StatusCode::CREATED);
        assert!(Instant::now() < deadline, "the right was still held on B a second later");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // A new password set on A ends dave's streams and session on B.
    let (_, mut dave_stream) = SseReader::open(&dave_b, "", None).await;
    let r = a.admin.patch(&format!("/admin/users/{}", dave.id), &json!({"password": "a-new-password-9"})).await;
    expect_status(r, StatusCode::OK).await;
    ends_within_a_second(&mut dave_stream).await;
    refused_within_a_second("the old session ending on B", || with_cookie(&dave_b, "/me")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typing_crosses_nodes() {
    if postgres_or_skip("typing_crosses_nodes").is_none() {
        return;
    }
    let a = spawn_app().await;
    let b = spawn_node_beside(&a, |_| {}).await;
    let bob = a.user("bob").await;
    let room = a.admin.create_room("group", "Typing", &[&bob]).await;
    let (_, mut stream_b) = SseReader::open(&on(&bob, &b), "", None).await;
    // The bus may still be connecting: ring until one arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        expect_status(a.admin.post(&format!("/rooms/{room}/typing"), &json!({})).await, StatusCode::NO_CONTENT).await;
        match stream_b.next(Duration::from_millis(500)).await {
            Next::Event(e) => {
                assert_eq!((e.event.as_str(), e.id), ("typing", None));
                assert_eq!(e.data["user_id"].as_i64(), Some(a.admin.id));
                break;
            }
            Next::Silent if Instant::now() < deadline => continue,
            other => panic!("no typing from the other node: {other:?}"),
        }
    }
}

/// The next `presence` event about `user` on `reader`, within `wait`.
async fn presence_of(reader: &mut SseReader, user: i64, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match reader.next(left.max(Duration::from_millis(1))).await {
            Next::Event(e) if e.event == "presence" && e.data["user_id"].as_i64() == Some(user) => {
                assert_eq!(e.id, None, "presence is never stored");
                return e.data["online"].as_bool().unwrap();
            }
            Next::Event(_) => continue,
            other => panic!("no presence of user {user} within {wait:?}: {other:?}"),
        }
    }
}

async fn online_on(user: &TestUser, room: i64, whom: i64) -> bool {
    let details = user.get_json(&format!("/rooms/{room}")).await;
    let members = details["members"].as_array().unwrap();
    let member = members.iter().find(|m| m["user_id"].as_i64() == Some(whom)).unwrap();
    member["online"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_crosses_nodes() {
    if postgres_or_skip("presence_crosses_nodes").is_none() {
        return;
    }
    let a = spawn_app_with(|s| s.presence_grace_ms = 300).await;
    let b = spawn_node_beside(&a, |s| s.presence_grace_ms = 300).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let room = a.admin.create_room("group", "Here", &[&alice, &bob]).await;
    let bob_b = on(&bob, &b);
    let mut bob_stream = SseReader::open(&bob_b, "", None).await.1;
    assert!(!online_on(&bob_b, room, alice.id).await);

    // Alice opens a stream on A: B's member list and Bob's stream on B see her online (at
    // once when the bus is up, else by A's next reminder).
    let alice_stream = SseReader::open(&alice, "", None).await.1;
    assert!(presence_of(&mut bob_stream, alice.id, Duration::from_secs(15)).await, "online on B");
    assert!(online_on(&bob_b, room, alice.id).await);

    // Her last stream closes: offline on B after the grace period, not before.
    drop(alice_stream);
    assert!(!presence_of(&mut bob_stream, alice.id, Duration::from_secs(10)).await, "offline on B");
    assert!(!online_on(&bob_b, room, alice.id).await);
}

/// A message as the stream shows it: its content.
fn content_of(event: &SseEvent) -> String {
    event.data["content"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_run_loses_no_acknowledged_message_on_the_survivor() {
    if postgres_or_skip("a_node_killed_mid_run_loses_no_acknowledged_message_on_the_survivor").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (url, _database) = test_database(dir.path());
    let envs = [("CAUSERIE_RATE_LIMIT_PER_MINUTE", "0"), ("CAUSERIE_LOGIN_ATTEMPTS_PER_MINUTE", "1000")];
    let mut doomed = ServerProcess::start(dir.path(), &url, Some(ADMIN_PASSWORD), &envs);
    doomed.drain_log();
    let mut survivor = ServerProcess::start(dir.path(), &url, Some(ADMIN_PASSWORD), &envs);
    survivor.drain_log();
    let admin = login(&survivor.address, "admin", ADMIN_PASSWORD).await;
    let mut senders = Vec::new();
    for name in ["k1", "k2", "k3", "k4"] {
        let body = json!({"username": name, "password": PASSWORD, "display_name": name});
        expect_status(admin.post("/admin/users", &body).await, StatusCode::CREATED).await;
        let address = if senders.len() % 2 == 0 { &doomed.address } else { &survivor.address };
        senders.push(login(address, name, PASSWORD).await);
    }
    let members: Vec<&TestUser> = senders.iter().collect();
    let room = admin.create_room("group", "Survivors", &members).await;
    let (_, mut stream) = SseReader::open(&admin, "", None).await;

    // Each sender posts until it has 40 acknowledged or its node is gone.
    let posts = senders.iter().map(|sender| async move {
        let mut acknowledged = Vec::new();
        for i in 0..40 {
            let text = format!("{}-{i}", sender.username);
            let body = json!({"room_id": room, "content": text});
            let response = sender.client.post(sender.url("/messages")).json(&body).send().await;
            match response {
                Ok(r) if r.status() == StatusCode::CREATED => acknowledged.push(text),
                _ => break,
            }
        }
        acknowledged
    });
    let killing = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        doomed.child.kill().unwrap();
    };
    let (acknowledged, ()) = tokio::join!(futures_util::future::join_all(posts), killing);
    let acknowledged: Vec<String> = acknowledged.into_iter().flatten().collect();
    let on_survivor = acknowledged.iter().filter(|t| t.starts_with("k2") || t.starts_with("k4")).count();
    assert_eq!(on_survivor, 80, "the survivor's senders are not affected");
    assert!(acknowledged.len() > 80, "some messages were acknowledged by the node before it died");

    // Every acknowledged message reaches the survivor's stream once, in id order. Messages
    // that committed as the node died but were never acknowledged may come too.
    let mut seen: Vec<SseEvent> = Vec::new();
    let wanted: HashSet<&String> = acknowledged.iter().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !wanted.iter().all(|t| seen.iter().any(|e| &&content_of(e) == t)) {
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged messages arrived within a minute",
            seen.len(),
            wanted.len()
        );
        match stream.next(Duration::from_secs(10)).await {
            Next::Event(e) if e.event == "new_message" => seen.push(e),
            Next::Event(_) => {}
            other => panic!("{other:?} with {} of {} seen", seen.len(), wanted.len()),
        }
    }
    let ids: Vec<i64> = seen.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order or twice: {ids:?}");
    let texts: Vec<String> = seen.iter().map(content_of).collect();
    assert_eq!(texts.iter().collect::<HashSet<_>>().len(), texts.len(), "a message came twice");
    stream.expect_quiet(Duration::from_millis(500)).await;
}

/// Messages sent until refused; returns how many were accepted.
async fn accepted_until_refused(user: &TestUser, room: i64, tries: usize) -> (usize, Option<Value>) {
    for i in 0..tries {
        let r = user.post("/messages", &json!({"room_id": room, "content": format!("m{i}")})).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            return (i, Some(r.json().await.unwrap()));
        }
        expect_status(r, StatusCode::CREATED).await;
    }
    (tries, None)
}

/// Starts the test away from the end of a minute: Redis counts in windows of a minute.
async fn away_from_a_minute_boundary() {
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_shares_message_limits_and_lockouts_between_nodes() {
    let Some(redis) = std::env::var("CAUSERIE_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped redis_shares_message_limits_and_lockouts_between_nodes: set CAUSERIE_TEST_REDIS_URL");
        return;
    };
    away_from_a_minute_boundary().await;
    // Each test database counts apart in Redis (ids start at 1 in each).
    let prefix = format!("causerie-test-{}", uuid_like());
    let shared = |s: &mut causerie::config::Settings| {
        s.redis_url = Some(redis.clone());
        s.redis_key_prefix = prefix.clone();
        s.rate_limit_per_minute = 6;
        s.login_attempts_per_minute = 3;
    };
    let a = spawn_app_with(shared).await;
    let b = spawn_node_beside(&a, shared).await;
    let ready = expect_status(reqwest::get(format!("{}/readyz", a.address)).await.unwrap(), StatusCode::OK).await;
    assert_eq!(ready["redis"], "ok", "{ready}");
    let bob = a.user("bob").await;
    let room = a.admin.create_room("group", "Limits", &[&bob]).await;
    let (on_a, _) = accepted_until_refused(&bob, room, 3).await;
    assert_eq!(on_a, 3);
    let (on_b, refusal) = accepted_until_refused(&on(&bob, &b), room, 10).await;
    assert_eq!(on_b, 3, "the two nodes share one budget of 6");
    assert_eq!(refusal.unwrap()["error"]["code"], "rate_limited");

    // Failed logins: two on A and one on B lock bob out on both.
    let fail = |address: String| async move {
        client()
            .post(format!("{address}/chat/api/auth/login"))
            .json(&json!({"username": "bob", "password": "wrong-password"}))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(fail(a.address.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fail(a.address.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fail(b.address.clone()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(fail(a.address.clone()).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(fail(b.address.clone()).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn without_redis_a_node_keeps_serving_on_its_own_limits_and_says_so() {
    // A port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_app_with(|s| {
        s.redis_url = Some(url);
        s.rate_limit_per_minute = 3;
    })
    .await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Alone", &[&bob]).await;
    let started = Instant::now();
    let (accepted, refusal) = accepted_until_refused(&bob, room, 10).await;
    assert_eq!(accepted, 3, "the node's own limit applies");
    assert_eq!(refusal.unwrap()["error"]["code"], "rate_limited");
    assert!(started.elapsed() < Duration::from_secs(5), "an unreachable Redis does not stall requests");
    let ready = expect_status(reqwest::get(format!("{}/readyz", app.address)).await.unwrap(), StatusCode::OK).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");
    assert!(ready["redis"].as_str().unwrap().starts_with("unreachable"), "{ready}");
}

#[tokio::test]
async fn readiness_names_the_database_and_the_bus() {
    let app = spawn_app().await;
    let ready = expect_status(reqwest::get(format!("{}/readyz", app.address)).await.unwrap(), StatusCode::OK).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");
    let bus = if app.database_url.starts_with("postgres") { ["listening", "reconnecting"] } else { ["single_node"; 2] };
    assert!(bus.contains(&ready["bus"].as_str().unwrap()), "{ready}");
    assert!(ready.get("redis").is_none(), "no Redis configured: {ready}");
}
