//! Presence notices: when users come online or go offline, the streams of those who share a
//! room with them hear it, each stream once however many rooms they share.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::Chat;
use crate::broker::Event;
use crate::domain::views::PresenceChanged;
use crate::domain::{EventKind, RoomId, UserId};
use crate::store::rooms;

/// Changes are gathered this long before their audience is read: a connect storm costs one
/// audience query per batch rather than one per stream.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

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
