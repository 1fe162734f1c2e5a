//! Presence notices: when users come online or go offline, the streams of those who share a
//! room with them hear it, each stream once however many rooms they share.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::cluster::NodeNotice;
use super::Chat;
use crate::broker::Event;
use crate::domain::views::PresenceChanged;
use crate::domain::{EventKind, RoomId, UserId};
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

/// Tells the streams of those who share a room with each changed user, once per stream.
pub async fn announce(chat: &Chat, changes: Vec<(i64, bool)>) {
    // The latest state of each user wins.
    let mut latest: HashMap<i64, bool> = HashMap::new();
    for (user, online) in changes {
        latest.insert(user, online);
    }
    let users: Vec<UserId> = latest.keys().map(|&id| UserId(id)).collect();
    let pairs = match chat.read(move |conn| Ok(rooms::members_of_rooms_of(conn, &users)?)).await {
        Ok(pairs) => pairs,
        Err(error) => {
            tracing::warn!(?error, "reading the audience of presence changes");
            return;
        }
    };
    let mut members: HashMap<RoomId, Vec<i64>> = HashMap::new();
    for (room, user) in pairs {
        members.entry(room).or_default().push(user.get());
    }
    let mut audience: HashMap<i64, HashSet<i64>> = HashMap::new();
    for list in members.values() {
        for changed in list.iter().filter(|u| latest.contains_key(u)) {
            audience.entry(*changed).or_default().extend(list.iter().filter(|u| *u != changed));
        }
    }
    for (user_id, online) in latest {
        let Some(to) = audience.get(&user_id) else { continue };
        let to: Vec<i64> = to.iter().copied().collect();
        let data = PresenceChanged { user_id: UserId(user_id), online };
        chat.hub.publish_to_users(&to, Event::ephemeral(0, EventKind::Presence.as_str(), &data));
    }
}
