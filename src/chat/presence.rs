//! Presence notices: when users come online or go offline, the streams of those who share a
//! room with them hear it, each stream once however many rooms they share.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::cluster::NodeNotice;
use super::Chat;
use crate::broker::sse;
use crate::broker::PresenceRooms;
use crate::domain::views::PresenceChanged;
use crate::domain::{EventKind, RoomId, UserId};
use crate::error::ApiError;
use crate::store::rooms;

/// Changes are gathered this long before they are announced: in a connect storm a stream is
/// told once per batch rather than once per person who came online.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// While many people come online or go offline (a connect storm, after a restart or a
/// network hiccup), the window stretches with the rate of changes, up to `STORM_WINDOW` at
/// `STORM_RATE` changes a second or more: each stream then wakes and writes about once a
/// second in the storm rather than ten times, and people still see who came online within a
/// second.
const STORM_RATE: f64 = 250.0;
const STORM_WINDOW: Duration = Duration::from_secs(1);

/// The window after a batch of `changes` gathered over `window`.
fn next_window(changes: usize, window: Duration) -> Duration {
    let rate = changes as f64 / window.as_secs_f64().max(f64::EPSILON);
    STORM_WINDOW.mul_f64((rate / STORM_RATE).min(1.0)).max(BATCH_WINDOW)
}

/// How often a node reminds the others who is online on it, and how long they believe it
/// without a reminder (a node that stopped without a word stops counting then).
const REMINDER_EVERY: Duration = Duration::from_secs(10);
const BELIEVED_FOR: Duration = Duration::from_secs(35);
/// Users per notice: a notice stays far below PostgreSQL's 8,000-byte payload limit.
const USERS_PER_NOTICE: usize = 250;

/// With several nodes: tells the others who came online or went offline here, reminds them
/// every `REMINDER_EVERY` who is online here, and forgets what a silent node said.
pub fn spawn_cluster_presence(chat: Chat) {
    chat.hub.presence.join_cluster();
    let teller = chat.clone();
    tokio::spawn(async move {
        loop {
            // The latest state of each user wins: offline then online again is online.
            let latest: HashMap<i64, bool> = teller.hub.presence.told().await.into_iter().collect();
            for online in [true, false] {
                tell(&teller, online, latest.iter().filter(|(_, o)| **o == online).map(|(u, _)| *u).collect());
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REMINDER_EVERY);
        loop {
            tick.tick().await;
            tell(&chat, true, chat.hub.presence.local_users());
            if let Some(before) = Instant::now().checked_sub(BELIEVED_FOR) {
                chat.hub.presence.forget_silent(before);
            }
        }
    });
}

fn tell(chat: &Chat, online: bool, users: Vec<i64>) {
    for chunk in users.chunks(USERS_PER_NOTICE) {
        chat.tell_all_nodes(NodeNotice::Presence { online, users: chunk.to_vec() });
    }
}

/// Announces presence changes for as long as the server runs.
pub fn spawn_announcer(chat: Chat) {
    tokio::spawn(async move {
        let mut window = BATCH_WINDOW;
        loop {
            let mut changes = chat.hub.presence.changes().await;
            tokio::time::sleep(window).await;
            changes.extend(chat.hub.presence.take_ready());
            window = next_window(changes.len(), window);
            announce(&chat, changes).await;
        }
    });
}

/// Tells the streams of those who share a room with each changed user, once per stream
/// however many rooms they share. Each user told gets the batch's events meant for them in
/// one frame, one control message per stream: in a connect storm a stream wakes once per
/// batch rather than once per person who came online.
pub async fn announce(chat: &Chat, changes: Vec<(i64, bool)>) {
    let changed = latest(changes);
    if changed.is_empty() {
        return;
    }
    let ids: Vec<i64> = changed.iter().map(|&(id, _)| id).collect();
    let told = match audience(chat, &ids).await {
        Ok(told) => told,
        Err(error) => {
            tracing::warn!(?error, "reading the audience of presence changes");
            return;
        }
    };
    if told.is_empty() {
        return;
    }
    let kind = EventKind::Presence.as_str();
    let frames: Vec<Bytes> = changed
        .iter()
        .map(|&(user_id, online)| {
            let data = PresenceChanged { user_id: UserId(user_id), online };
            sse::frame(None, kind, &serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()))
        })
        .collect();
    let deliveries: Vec<(i64, Bytes)> = told
        .into_iter()
        .map(|(user_id, heard)| {
            let frame = match heard[..] {
                [only] => frames[only].clone(),
                _ => {
                    let mut joined = BytesMut::with_capacity(heard.iter().map(|&c| frames[c].len()).sum());
                    for &c in &heard {
                        joined.extend_from_slice(&frames[c]);
                    }
                    joined.freeze()
                }
            };
            (user_id, frame)
        })
        .collect();
    chat.hub.publish_to_each(deliveries);
}

/// Who hears which changes: each user told, ordered by user, with the indexes in `ids` of
/// the changes they hear, ascending, each once. They are the users with a stream open on
/// this node (each node tells its own) who share a room with the changed user.
///
/// The changes are grouped by room, and each listener is matched with the rooms it listens
/// in that have changes: in a storm, a few pairs per room rather than one per listener and
/// change. The hub knows the rooms of everyone with a stream open here once their first
/// stream has read them; one query reads the rest: those of users with no stream here (gone
/// offline, or online on another node) and of users whose first stream is still reading them.
async fn audience(chat: &Chat, ids: &[i64]) -> Result<Vec<(i64, Vec<usize>)>, ApiError> {
    let PresenceRooms { rooms: mut changes, unknown, unsettled } = chat.hub.presence_rooms(ids);
    let mut read: Vec<(UserId, RoomId)> = Vec::new();
    if !unknown.is_empty() || !unsettled.is_empty() {
        let mut users: Vec<UserId> =
            unknown.iter().map(|&c| UserId(ids[c])).chain(unsettled.iter().map(|&u| UserId(u))).collect();
        users.sort_unstable();
        users.dedup();
        read = chat.read(move |conn| Ok(rooms::rooms_of_members(conn, &users)?)).await?;
    }
    let rooms_read_of = |user: i64| {
        let start = read.partition_point(|(u, _)| u.get() < user);
        read[start..].iter().take_while(move |(u, _)| u.get() == user).map(|(_, room)| room.get())
    };
    changes.extend(unknown.iter().flat_map(|&c| rooms_read_of(ids[c]).map(move |room| (room, c))));
    // Grouped by room: `rooms[r]`'s changes are `changes[starts[r]..starts[r + 1]]`.
    changes.sort_unstable();
    changes.dedup();
    let mut rooms: Vec<i64> = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    for (i, &(room_id, _)) in changes.iter().enumerate() {
        if rooms.last() != Some(&room_id) {
            rooms.push(room_id);
            starts.push(i);
        }
    }
    starts.push(changes.len());

    let mut heard_in = chat.hub.listeners_of(&rooms);
    for &listener in &unsettled {
        heard_in
            .extend(rooms_read_of(listener).filter_map(|room| rooms.binary_search(&room).ok()).map(|r| (listener, r)));
    }
    heard_in.sort_unstable();
    heard_in.dedup();

    let mut told = Vec::new();
    for mine in heard_in.chunk_by(|a, b| a.0 == b.0) {
        let listener = mine[0].0;
        let mut heard: Vec<usize> = mine
            .iter()
            .flat_map(|&(_, r)| changes[starts[r]..starts[r + 1]].iter().map(|&(_, c)| c))
            .filter(|&c| ids[c] != listener)
            .collect();
        if mine.len() > 1 {
            heard.sort_unstable();
            heard.dedup();
        }
        if !heard.is_empty() {
            told.push((listener, heard));
        }
    }
    Ok(told)
}

/// One change per user, sorted by user: the latest state of each wins.
fn latest(changes: Vec<(i64, bool)>) -> Vec<(i64, bool)> {
    let mut latest: Vec<(i64, bool)> = changes.into_iter().rev().collect();
    // Stable: each user's latest change stays first among theirs, and dedup keeps the first.
    latest.sort_by_key(|&(user_id, _)| user_id);
    latest.dedup_by_key(|&mut (user_id, _)| user_id);
    latest
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use diesel::Connection;

    use super::*;
    use crate::broker::Scope;
    use crate::config::Settings;
    use crate::domain::{Permission, Role, RoomType};
    use crate::store::models::{NewRoom, NewUser};
    use crate::store::{now_micros, users, DatabaseUrl, Db};

    /// Three users: `a` and `b` share a room, `c` is alone in another.
    fn seeded(dir: &std::path::Path) -> (Db, [i64; 3], [i64; 2]) {
        let url = DatabaseUrl::parse(&format!("sqlite://{}/p.db", dir.display())).unwrap();
        let db = Db::connect(&url, 2).unwrap();
        let mut conn = db.get().unwrap();
        let now = now_micros();
        let seeded = conn.transaction::<_, diesel::result::Error, _>(|conn| {
            let mut people = [0; 3];
            for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
                let user = NewUser {
                    username: name,
                    display_name: name,
                    password_hash: "x",
                    is_admin: false,
                    disabled: false,
                    created_at: now,
                };
                people[i] = users::insert(conn, &user, &[Permission::Read])?.id.get();
            }
            let mut places = [0; 2];
            for (i, members) in [&people[..2], &people[2..]].into_iter().enumerate() {
                let room = NewRoom {
                    name: "g",
                    room_type: RoomType::Group,
                    created_by_id: UserId(people[0]),
                    direct_key: None,
                    created_at: now,
                    updated_at: now,
                    last_activity_at: now,
                };
                let room_id = rooms::insert(conn, &room)?.id;
                for &member in members {
                    rooms::add_member(conn, room_id, UserId(member), Role::Member, now)?;
                }
                places[i] = room_id.get();
            }
            Ok((people, places))
        });
        let (people, places) = seeded.unwrap();
        drop(conn);
        (db, people, places)
    }

    /// `audience` as sorted `(user told, change)` pairs.
    async fn pairs(chat: &Chat, ids: &[i64]) -> Vec<(i64, usize)> {
        let heard = audience(chat, ids).await.unwrap();
        assert!(heard.windows(2).all(|w| w[0].0 < w[1].0), "each listener once, in order");
        heard.into_iter().flat_map(|(user, changes)| changes.into_iter().map(move |c| (user, c))).collect()
    }

    #[test]
    fn the_window_stretches_with_the_rate_of_changes_up_to_a_second() {
        let ms = |changes: usize, window: Duration| (next_window(changes, window).as_secs_f64() * 1000.0).round();
        assert_eq!(ms(0, BATCH_WINDOW), 100.0);
        assert_eq!(ms(2, BATCH_WINDOW), 100.0, "20 a second: as usual");
        assert_eq!(ms(10, BATCH_WINDOW), 400.0, "100 a second");
        assert_eq!(ms(50, BATCH_WINDOW), 1000.0, "500 a second");
        assert_eq!(ms(100, Duration::from_millis(400)), 1000.0, "250 a second");
        assert_eq!(ms(5_000, BATCH_WINDOW), 1000.0, "at most a second");
        assert_eq!(ms(5, STORM_WINDOW), 100.0, "back to usual once it calms down");
    }

    #[tokio::test]
    async fn the_audience_is_read_from_the_database_where_the_hub_does_not_know_the_rooms() {
        let dir = tempfile::tempdir().unwrap();
        let (db, [a, b, c], [shared, alone]) = seeded(dir.path());
        let chat = Chat::new(Arc::new(Settings::default()), db);
        // `b` listens, their rooms not read yet; `c` listens, rooms known; `a` has no stream.
        let _b = chat.hub.register(b, Scope::AllRooms, 0).unwrap();
        let _c = chat.hub.register(c, Scope::AllRooms, 0).unwrap();
        chat.hub.rooms_read(c, &[alone]);
        assert_eq!(pairs(&chat, &[a]).await, [(b, 0)]);
        assert_eq!(pairs(&chat, &[c]).await, []);

        // `a` known now, `b` still reading: `b` hears `a` through `a`'s known rooms.
        let _a = chat.hub.register(a, Scope::AllRooms, 0).unwrap();
        chat.hub.rooms_read(a, &[shared]);
        assert_eq!(pairs(&chat, &[a, c]).await, [(b, 0)]);
        assert_eq!(pairs(&chat, &[b]).await, [(a, 0)]);

        // Everyone known: from memory alone, the same answers.
        chat.hub.rooms_read(b, &[shared]);
        assert!(chat.hub.presence_rooms(&[a, b, c]).unknown.is_empty());
        assert_eq!(pairs(&chat, &[a, b, c]).await, [(a, 1), (b, 0)]);
    }
}
