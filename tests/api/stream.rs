//! The Server-Sent-Events stream, read off the wire.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::sse::*;

#[tokio::test]
async fn the_stream_opens_with_its_headers_and_retry() {
    let app = spawn_app().await;
    let (headers, mut sse) = SseReader::open(&app.admin, "", None).await;
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    assert_eq!(headers.get("cache-control").unwrap(), "no-cache");
    assert_eq!(headers.get("x-accel-buffering").unwrap(), "no");
    assert!(headers.get("content-encoding").is_none_or(|v| v == "identity"), "never compressed");
    assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Retry(3000));
}

#[tokio::test]
async fn every_event_kind_reaches_the_room() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Live", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    let sent = app.admin.send(room, "hello").await;
    let id = int(&sent, "id");
    let admin = &app.admin;
    expect_status(admin.patch(&format!("/messages/{id}"), &json!({"content": "hello!"})).await, StatusCode::OK).await;
    expect_status(admin.post(&format!("/rooms/{room}/typing"), &json!({})).await, StatusCode::NO_CONTENT).await;
    // Alice reads it (the sender's own mark moved when it was sent: no `read` for that).
    let r = alice.post(&format!("/rooms/{room}/read"), &json!({"message_id": id})).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let r = admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": bob.id})).await;
    expect_status(r, StatusCode::CREATED).await;
    let r = admin.patch(&format!("/rooms/{room}/members/{}", bob.id), &json!({"role": "moderator"})).await;
    expect_status(r, StatusCode::OK).await;
    expect_status(admin.patch(&format!("/rooms/{room}"), &json!({"name": "Live!"})).await, StatusCode::OK).await;
    expect_status(admin.delete(&format!("/messages/{id}")).await, StatusCode::NO_CONTENT).await;
    let r = admin.delete(&format!("/rooms/{room}/members/{}", bob.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let events = sse.collect(1, "member_left").await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "new_message",
            "message_updated",
            "typing",
            "read",
            "member_joined",
            "new_message",
            "new_message",
            "member_updated",
            "new_message",
            "room_updated",
            "message_deleted",
            "member_left",
        ]
    );
    assert_eq!(events[0].data, sent);
    assert_eq!(events[1].data["content"], "hello!");
    assert_eq!(events[2].id, None, "typing is not stored");
    assert_eq!(events[2].data, json!({"room_id": room, "user_id": app.admin.id, "display_name": "Administrator"}));
    assert_eq!(events[3].data["message_id"], id);
    assert_eq!(events[3].data["user_id"], alice.id);
    assert_eq!(events[4].data["member"]["username"], "bob");
    assert_eq!(events[9].data["name"], "Live!");
    assert_eq!(events[9].data["last_message"]["content"], "Administrator renamed the room to Live!");
    assert!(events[9].data.get("my_role").is_none());
    assert_eq!(events[10].data, json!({"id": id, "room_id": room}));
    let ids: Vec<i64> = events.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids strictly increase: {ids:?}");
    assert!(sse.raw.contains(&format!("id: {}\nevent: new_message\ndata: {{", ids[0])));
}

#[tokio::test]
async fn resuming_replays_exactly_the_missed_events() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Resume", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    app.admin.send(room, "one").await;
    let first = sse.collect(1, "new_message").await;
    let last_id = first.last().unwrap().id.unwrap();
    drop(sse);
    for i in 0..30 {
        app.admin.send(room, &format!("missed {i}")).await;
    }
    let (_, mut sse) = SseReader::open(&alice, "", Some(last_id)).await;
    app.admin.send(room, "live").await;
    let events = sse.collect(31, "new_message").await;
    let texts: Vec<&str> = events.iter().map(|e| e.data["content"].as_str().expect("content")).collect();
    let mut expected: Vec<String> = (0..30).map(|i| format!("missed {i}")).collect();
    expected.push("live".into());
    assert_eq!(texts, expected);
    let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids[0] > last_id && ids.windows(2).all(|w| w[0] < w[1]));
    sse.expect_quiet(Duration::from_millis(300)).await;
    // The query parameter resumes too (a page reload).
    let (_, mut again) = SseReader::open(&alice, &format!("?last_event_id={}", ids[28]), None).await;
    let tail = again.collect(2, "new_message").await;
    assert_eq!(tail.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(), ids[29..]);
}

#[tokio::test]
async fn concurrent_senders_reach_a_subscriber_once_in_order() {
    let app = spawn_app().await;
    let mut senders = Vec::new();
    for i in 0..20 {
        senders.push(app.user(&format!("sender{i}")).await);
    }
    let refs: Vec<&TestUser> = senders.iter().collect();
    let room = app.admin.create_room("group", "Crowd", &refs).await;
    let (_, mut live) = SseReader::open(&app.admin, &format!("?room_id={room}"), None).await;
    let (_, mut interrupted) = SseReader::open(&app.admin, "", None).await;
    let mut tasks = Vec::new();
    for sender in senders.clone() {
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                sender.send(room, &format!("{} {i}", sender.username)).await;
            }
        }));
    }
    // A second stream drops out half way and resumes by id while the senders go on.
    let first_half = interrupted.collect(500, "new_message").await;
    let resume_from = first_half.iter().filter_map(|e| e.id).max().unwrap();
    drop(interrupted);
    let (_, mut resumed) = SseReader::open(&app.admin, "", Some(resume_from)).await;
    for t in tasks {
        t.await.unwrap();
    }
    let events = live.collect(1000, "new_message").await;
    let second_half = resumed.collect(1000 - count(&first_half), "new_message").await;
    for (name, events) in [("live", events), ("resumed", [first_half, second_half].concat())] {
        let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{name}: strictly ascending ids");
        let mut messages: Vec<i64> =
            events.iter().filter(|e| e.event == "new_message").map(|e| int(&e.data, "id")).collect();
        let total = messages.len();
        messages.sort_unstable();
        messages.dedup();
        assert_eq!((total, messages.len()), (1000, 1000), "{name}: every message exactly once");
    }
    live.expect_quiet(Duration::from_millis(300)).await;
    resumed.expect_quiet(Duration::from_millis(300)).await;
}

fn count(events: &[SseEvent]) -> usize {
    events.iter().filter(|e| e.event == "new_message").count()
}

/// The leading number of each `new_message` ("17 xxxx…" -> 17), checking ascending ids.
fn numbers(events: &[SseEvent]) -> Vec<usize> {
    let ids: Vec<i64> = events.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending ids: {ids:?}");
    events
        .iter()
        .filter(|e| e.event == "new_message")
        .map(|e| e.data["content"].as_str().expect("content").split(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// How the server may end a stream that `read_resuming` then resumes by id.
#[derive(Clone, Copy, PartialEq)]
enum Ends {
    /// With a complete response, as it ends one that falls behind.
    Cleanly,
    /// Also cut: a client that read nothing for longer than the server's write stall (20 s)
    /// is dropped mid-chunk, as gone.
    CleanlyOrCut,
}

/// Reads `total` new messages from a stream, resuming by id whenever the server ends it as
/// `ends` allows; fails when it stalls or breaks otherwise.
async fn read_resuming(user: TestUser, query: String, mut sse: SseReader, total: usize, ends: Ends) -> Vec<SseEvent> {
    let mut got: Vec<SseEvent> = Vec::new();
    while got.iter().filter(|e| e.event == "new_message").count() < total {
        match sse.next(Duration::from_secs(20)).await {
            Next::Event(e) => got.push(e),
            Next::Ended { cleanly } if cleanly || ends == Ends::CleanlyOrCut => {
                let last_id = got.iter().filter_map(|e| e.id).max();
                sse = SseReader::open(&user, &query, last_id).await.1;
            }
            other => panic!("the stream {query:?}: {other:?} after {} events", got.len()),
        }
    }
    got
}

#[tokio::test]
async fn a_slow_reader_neither_slows_the_others_nor_loses_events() {
    let app = spawn_app_with(|s| s.channel_capacity = 2).await;
    let room = app.admin.create_room("group", "Flood", &[]).await;
    let (_, slow) = SseReader::open(&app.admin, "", None).await;
    // Far more than the socket buffers hold while nobody reads the slow stream: it stalls on
    // its socket and its channel overflows, while the others read as the events come.
    let total = 1500;
    let mut readers = Vec::new();
    for query in [String::new(), String::new(), format!("?room_id={room}")] {
        let (_, sse) = SseReader::open(&app.admin, &query, None).await;
        readers.push(tokio::spawn(read_resuming(app.admin.clone(), query, sse, total, Ends::Cleanly)));
    }
    let padding = "x".repeat(9_000);
    for i in 0..total {
        app.admin.send(room, &format!("{i} {padding}")).await;
    }
    let everything: Vec<usize> = (0..total).collect();
    // Every send was answered and the other streams have every event, while the slow
    // stream has not been read at all.
    for reader in readers {
        assert_eq!(numbers(&reader.await.unwrap()), everything);
    }
    // The slow one is caught up from the log, or ended and resumed: it gets them all too.
    // Sending takes longer than the write stall on a busy machine (PostgreSQL, many tests at
    // once), and then the server has dropped the slow client as gone.
    let got = read_resuming(app.admin.clone(), String::new(), slow, total, Ends::CleanlyOrCut).await;
    assert_eq!(numbers(&got), everything);
    // Counted whether the slow stream caught up or was dropped while behind.
    let metrics = reqwest::get(format!("{}/metrics", app.address)).await.unwrap().text().await.unwrap();
    assert!(metric(&metrics, "causerie_sse_lagged_total") > 0, "the slow stream's channel did overflow");
}

#[tokio::test]
async fn membership_changes_take_effect_on_open_streams() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Door", &[]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    app.admin.send(room, "before alice").await;
    let r = app.admin.post(&format!("/rooms/{room}/members"), &json!({"user_id": alice.id})).await;
    expect_status(r, StatusCode::CREATED).await;
    app.admin.send(room, "welcome").await;
    let events = sse.collect(2, "new_message").await;
    assert_eq!(events[0].event, "member_joined");
    assert_eq!(events[1].data["content"], "Administrator added Alice");
    assert_eq!(events[2].data["content"], "welcome");
    let r = app.admin.delete(&format!("/rooms/{room}/members/{}", alice.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let left = sse.collect(1, "member_left").await;
    assert_eq!(left[0].data["member"]["user_id"], alice.id);
    app.admin.send(room, "after alice").await;
    sse.expect_quiet(Duration::from_millis(500)).await;
    // A direct room made by somebody else shows up at once.
    let bob = app.user("bob").await;
    let r = bob.post("/rooms", &json!({"room_type": "direct", "member_ids": [alice.id]})).await;
    expect_status(r, StatusCode::CREATED).await;
    let dm = sse.collect(1, "member_joined").await;
    assert_eq!(dm.len(), 1);
    assert_eq!(dm[0].data["member"]["user_id"], alice.id);
}

/// A user with a stream open has their rooms known to the server: streams they open next
/// carry exactly the rooms they are a member of by then, whatever changed meanwhile.
#[tokio::test]
async fn streams_opened_beside_an_open_one_follow_membership_changes() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let kept = app.admin.create_room("group", "Kept", &[&alice]).await;
    let left = app.admin.create_room("group", "Left", &[&alice]).await;
    let joined = app.admin.create_room("group", "Joined", &[]).await;
    let (_, mut first) = SseReader::open(&alice, "", None).await;
    assert_eq!(first.next_block(WAIT).await.unwrap(), Block::Retry(3000));
    let r = app.admin.delete(&format!("/rooms/{left}/members/{}", alice.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let r = app.admin.post(&format!("/rooms/{joined}/members"), &json!({"user_id": alice.id})).await;
    expect_status(r, StatusCode::CREATED).await;
    first.collect(1, "member_joined").await;

    let (_, mut all) = SseReader::open(&alice, "", None).await;
    // A room left is not opened.
    expect_status(alice.get(&format!("/stream?room_id={left}")).await, StatusCode::NOT_FOUND).await;
    let (_, mut one) = SseReader::open(&alice, &format!("?room_id={joined}"), None).await;
    for room in [left, kept, joined] {
        app.admin.send(room, &format!("to {room}")).await;
    }
    let events = all.collect(2, "new_message").await;
    let rooms: Vec<i64> = events.iter().map(|e| int(&e.data, "room_id")).collect();
    assert_eq!(rooms, [kept, joined], "{events:?}");
    let events = one.collect(1, "new_message").await;
    assert_eq!(int(&events[0].data, "room_id"), joined);
    all.expect_quiet(Duration::from_millis(300)).await;

    // Removed while both are open: they stop carrying the room, and the next one never has it.
    let r = app.admin.delete(&format!("/rooms/{joined}/members/{}", alice.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    one.collect(1, "member_left").await;
    one.expect_end().await;
    expect_status(alice.get(&format!("/stream?room_id={joined}")).await, StatusCode::NOT_FOUND).await;
    let (_, mut last) = SseReader::open(&alice, "", None).await;
    app.admin.send(joined, "gone").await;
    app.admin.send(kept, "still").await;
    let events = last.collect(1, "new_message").await;
    assert_eq!(events.iter().map(|e| int(&e.data, "room_id")).collect::<Vec<_>>(), [kept]);
}

#[tokio::test]
async fn a_room_stream_ends_when_its_member_is_removed_or_disabled() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Door", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, &format!("?room_id={room}"), None).await;
    let r = app.admin.delete(&format!("/rooms/{room}/members/{}", alice.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    let left = sse.collect(1, "member_left").await;
    assert_eq!(left.len(), 1);
    sse.expect_end().await;
    let bob = app.user("bob").await;
    let (_, mut all) = SseReader::open(&bob, "", None).await;
    assert_eq!(all.next_block(WAIT).await.unwrap(), Block::Retry(3000));
    let r = app.admin.patch(&format!("/admin/users/{}", bob.id), &json!({"disabled": true})).await;
    expect_status(r, StatusCode::OK).await;
    all.expect_end().await;
}

#[tokio::test]
async fn expired_or_foreign_ids_get_reset() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Old", &[]).await;
    app.admin.send(room, "ancient").await;
    let (_, mut sse) = SseReader::open(&app.admin, "", Some(1_000_000)).await;
    let reset = sse.event(WAIT).await;
    assert_eq!(reset.event, "reset");
    let latest = reset.id.unwrap();
    app.admin.send(room, "fresh").await;
    let next = sse.collect(1, "new_message").await;
    assert!(next[0].id.unwrap() > latest);
    // Retention removed the early events: resuming from before them resets.
    let db = app.state.db.clone();
    let pruned = db
        .run(|conn| {
            causerie::store::events::prune(conn, causerie::store::now_micros() + 1)
                .map_err(causerie::error::ApiError::from)
        })
        .await
        .unwrap();
    assert!(pruned > 0);
    let (_, mut old) = SseReader::open(&app.admin, "", Some(1)).await;
    assert_eq!(old.event(WAIT).await.event, "reset");
}

#[tokio::test]
async fn pings_keep_idle_streams_alive() {
    let app = spawn_app_with(|s| s.sse_ping_seconds = 2).await;
    let (_, mut sse) = SseReader::open(&app.admin, "", None).await;
    assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Retry(3000));
    // Never silent for much longer than the interval: not after opening, not between pings
    // (the slack is for a busy machine; a whole second interval would exceed it).
    let most = Duration::from_millis(3_000);
    let opened = std::time::Instant::now();
    assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Comment("ping".into()));
    assert!(opened.elapsed() < most, "first ping after {:?}", opened.elapsed());
    let pinged = std::time::Instant::now();
    let ping = sse.next_block(WAIT).await.unwrap();
    assert_eq!(ping, Block::Comment("ping".into()), "an idle stream pings on every interval");
    assert!(pinged.elapsed() < most, "second ping after {:?}", pinged.elapsed());
}

#[tokio::test]
async fn disconnected_clients_leave_no_subscriber_behind() {
    let app = spawn_app().await;
    let room = app.admin.create_room("group", "Gone", &[]).await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(SseReader::open(&app.admin, "", None).await.1);
    }
    streams.push(SseReader::open(&app.admin, &format!("?room_id={room}"), None).await.1);
    assert_eq!(app.state.hub.subscriber_count(), 6);
    drop(streams);
    // The server notices a closed socket when it next writes: give it something to write.
    for i in 0..100 {
        app.admin.send(room, "poke").await;
        if app.state.hub.subscriber_count() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20 + i)).await;
    }
    assert_eq!(app.state.hub.subscriber_count(), 0);
    assert_eq!(app.state.hub.room_channels(), 0);
}

/// The built binary on a database of its own, with the admin's password set.
fn spawn_binary(dir: &tempfile::TempDir) -> (ServerProcess, Option<PgDatabase>) {
    let (database_url, database) = test_database(dir.path());
    (ServerProcess::start(dir.path(), &database_url, Some(ADMIN_PASSWORD), &[]), database)
}

#[tokio::test]
async fn sigterm_ends_streams_and_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _database) = spawn_binary(&dir);
    server.drain_log();
    let admin = login(&server.address, "admin", ADMIN_PASSWORD).await;
    let (_, mut sse) = SseReader::open(&admin, "", None).await;
    assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Retry(3000));
    server.terminate();
    sse.expect_end().await;
    server.stops_cleanly().await;
}

#[tokio::test]
async fn sigterm_stops_the_server_when_its_log_reader_has_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _database) = spawn_binary(&dir);
    // The log collector goes away: every later log line meets a closed pipe.
    drop(server.log.take());
    let r = client().get(format!("{}/chat/api/nowhere", server.address)).send().await.unwrap();
    assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    server.terminate();
    server.stops_cleanly().await;
}

#[tokio::test]
async fn idle_streams_cost_no_database_calls() {
    let app = spawn_app_with(|s| s.sse_ping_seconds = 1).await;
    let mut rooms = Vec::new();
    for i in 0..5 {
        rooms.push(app.admin.create_room("group", &format!("Quiet {i}"), &[]).await);
    }
    let mut streams = Vec::new();
    for i in 0..20 {
        let query = if i % 2 == 0 { String::new() } else { format!("?room_id={}", rooms[i % 5]) };
        streams.push(SseReader::open(&app.admin, &query, None).await.1);
    }
    for sse in streams.iter_mut() {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Retry(3000));
    }
    // Opening is over once every stream has pinged (its owner's presence announced); from
    // then on they are idle.
    for sse in streams.iter_mut() {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Comment("ping".into()));
    }
    let before = app.state.db.calls();
    // Two ping intervals: every stream is alive and writing, none asks the database.
    for sse in streams.iter_mut() {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Comment("ping".into()));
    }
    for sse in streams.iter_mut() {
        assert_eq!(sse.next_block(WAIT).await.unwrap(), Block::Comment("ping".into()));
    }
    assert_eq!(app.state.db.calls(), before);
}

#[tokio::test]
async fn resuming_never_crosses_into_rooms_never_joined_or_left() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mine = app.admin.create_room("group", "Mine", &[&alice]).await;
    let never = app.admin.create_room("group", "Never", &[]).await;
    let left = app.admin.create_room("group", "Left", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    app.admin.send(mine, "before").await;
    let resume_from = sse.until_message("before").await.last().unwrap().id.expect("a stored event");
    drop(sse);
    let r = app.admin.delete(&format!("/rooms/{left}/members/{}", alice.id)).await;
    expect_status(r, StatusCode::NO_CONTENT).await;
    for (room, text) in [(never, "never while away"), (left, "left while away"), (mine, "mine while away")] {
        app.admin.send(room, text).await;
    }
    let (_, mut sse) = SseReader::open(&alice, "", Some(resume_from)).await;
    let replayed = sse.until_message("mine while away").await;
    // Her own removal is told to her; nothing else of the room she left, nothing at all of
    // the room she never joined.
    let kinds: Vec<(&str, i64)> = replayed.iter().map(|e| (e.event.as_str(), int(&e.data, "room_id"))).collect();
    assert_eq!(kinds, [("member_left", left), ("new_message", mine)], "{replayed:?}");
    assert_eq!(replayed[0].data["member"]["user_id"], alice.id);
    // Live, the same.
    for (room, text) in [(never, "never live"), (left, "left live"), (mine, "mine live")] {
        app.admin.send(room, text).await;
    }
    let live = sse.until_message("mine live").await;
    assert_eq!(live.len(), 1, "{live:?}");
    // Nor may she resume those rooms one by one.
    for room in [never, left] {
        let r = alice.get(&format!("/stream?room_id={room}&last_event_id={resume_from}")).await;
        assert_error(r, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn typing_is_never_replayed() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let room = app.admin.create_room("group", "Typing", &[&alice]).await;
    let (_, mut sse) = SseReader::open(&alice, "", None).await;
    app.admin.send(room, "one").await;
    let after_one = sse.until_message("one").await.last().unwrap().id.expect("a stored event");
    expect_status(app.admin.post(&format!("/rooms/{room}/typing"), &json!({})).await, StatusCode::NO_CONTENT).await;
    let typing = sse.event(WAIT).await;
    assert_eq!((typing.event.as_str(), typing.id), ("typing", None), "live, typing arrives");
    drop(sse);
    app.admin.send(room, "two").await;
    // Resumed from just before it, or from the very start: no typing.
    for from in [after_one, 0] {
        let (_, mut sse) = SseReader::open(&alice, "", Some(from)).await;
        let replayed = sse.until_message("two").await;
        assert!(replayed.iter().all(|e| e.event != "typing" && e.id.is_some()), "{replayed:?}");
        sse.expect_quiet(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn only_a_read_mark_that_moves_forward_is_announced() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let room = app.admin.create_room("group", "Reads", &[&alice, &bob]).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(int(&app.admin.send(room, &format!("m{i}")).await, "id"));
    }
    let (_, mut sse) = SseReader::open(&bob, "", None).await;
    for id in [ids[1], ids[0], ids[1]] {
        let r = alice.post(&format!("/rooms/{room}/read"), &json!({"message_id": id})).await;
        expect_status(r, StatusCode::NO_CONTENT).await;
    }
    app.admin.send(room, "marker").await;
    let events = sse.until_message("marker").await;
    let reads: Vec<&SseEvent> = events.iter().filter(|e| e.event == "read").collect();
    assert_eq!(reads.len(), 1, "the older mark and the same mark again are not announced: {events:?}");
    assert_eq!(reads[0].data["message_id"], ids[1]);
    assert_eq!(reads[0].data["user_id"], alice.id);
}
