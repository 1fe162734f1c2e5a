//! Presence notices: when users come online or go offline, the streams of those who share a
//! room with them hear it, each stream once however many rooms they share.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::cluster::NodeNotice;
use super::Chat;
use crate::broker::sse;
use crate::domain::views::PresenceChanged;
use crate::domain::{EventKind, UserId};
use crate::store::rooms;

/// Changes are gathered this long before their audience is read: a connect storm costs one
/// audience query per batch rather than one per stream.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

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
        loop {
            let mut changes = chat.hub.presence.changes().await;
            tokio::time::sleep(BATCH_WINDOW).await;
            changes.extend(chat.hub.presence.take_ready());
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
    let users: Vec<UserId> = changed.iter().map(|&(id, _)| UserId(id)).collect();
    let pairs = match chat.read(move |conn| Ok(rooms::members_of_rooms_of(conn, &users)?)).await {
        Ok(pairs) => pairs,
        Err(error) => {
            tracing::warn!(?error, "reading the audience of presence changes");
            return;
        }
    };
    // Only streams open on this node are told here; each node tells its own.
    let mut listening: Vec<i64> = pairs.iter().map(|(_, user)| user.get()).collect();
    listening.sort_unstable();
    listening.dedup();
    chat.hub.retain_listening(&mut listening);
    if listening.is_empty() {
        return;
    }
    // (user told, index of the change in `changed`), each pair once at the end.
    let mut told: Vec<(i64, usize)> = Vec::new();
    let mut here: Vec<usize> = Vec::new();
    for room in pairs.chunk_by(|a, b| a.0 == b.0) {
        here.clear();
        here.extend(room.iter().filter_map(|(_, user)| changed.binary_search_by_key(&user.get(), |c| c.0).ok()));
        for (_, member) in room {
            let member = member.get();
            if listening.binary_search(&member).is_err() {
                continue;
            }
            told.extend(here.iter().filter(|&&c| changed[c].0 != member).map(|&c| (member, c)));
        }
    }
    told.sort_unstable();
    told.dedup();
    let kind = EventKind::Presence.as_str();
    let frames: Vec<Bytes> = changed
        .iter()
        .map(|&(user_id, online)| {
            let data = PresenceChanged { user_id: UserId(user_id), online };
            sse::frame(None, kind, &serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()))
        })
        .collect();
    let mut deliveries: Vec<(i64, Bytes)> = Vec::new();
    for mine in told.chunk_by(|a, b| a.0 == b.0) {
        let frame = match mine {
            [(_, only)] => frames[*only].clone(),
            _ => {
                let mut joined = BytesMut::with_capacity(mine.iter().map(|&(_, c)| frames[c].len()).sum());
                for &(_, c) in mine {
                    joined.extend_from_slice(&frames[c]);
                }
                joined.freeze()
            }
        };
        deliveries.push((mine[0].0, frame));
    }
    chat.hub.publish_to_each(deliveries);
}

/// One change per user, sorted by user: the latest state of each wins.
fn latest(changes: Vec<(i64, bool)>) -> Vec<(i64, bool)> {
    let mut latest: Vec<(i64, bool)> = changes.into_iter().rev().collect();
    // Stable: each user's latest change stays first among theirs, and dedup keeps the first.
    latest.sort_by_key(|&(user_id, _)| user_id);
    latest.dedup_by_key(|&mut (user_id, _)| user_id);
    latest
}
