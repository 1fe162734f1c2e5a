//! `--demo`: a few users, rooms and messages so that a newcomer can look around at once.
//! Seeded through the same use cases as the API, as alice, bob and carol.

use crate::auth::accounts::{self, NewAccount};
use crate::chat::messages::Draft;
use crate::chat::rooms::NewRoomRequest;
use crate::chat::{messages, rooms, Actor, Chat};
use crate::domain::{Permission, RoomType};
use crate::error::ApiError;
use crate::store::users;

pub const DEMO_PASSWORD: &str = "demo-password";

pub async fn seed(chat: &Chat) -> anyhow::Result<()> {
    let fail = |e: ApiError| anyhow::anyhow!("seeding demo data: {e:?}");
    let seeded = chat.read(|conn| Ok(users::by_username(conn, "alice")?.is_some())).await.map_err(fail)?;
    if seeded {
        return Ok(());
    }
    let mut people = Vec::new();
    for (name, display) in [("alice", "Alice Martin"), ("bob", "Bob Chen"), ("carol", "Carol Diaz")] {
        let account = tokio::task::spawn_blocking(move || {
            NewAccount::parse(name, DEMO_PASSWORD, Some(display), false, Permission::ALL.to_vec())
        })
        .await?
        .map_err(fail)?;
        let row = chat.commit(move |tx| accounts::create(tx, &account)).await.map_err(fail)?;
        people.push(Actor {
            id: row.id,
            display_name: row.display_name,
            is_admin: false,
            permissions: Permission::ALL.to_vec(),
        });
    }
    let rooms_to_make = [
        ("General", RoomType::Channel, [("Welcome to causerie!", 0), ("Hi everyone 👋", 1)]),
        ("Project X", RoomType::Group, [("Kick-off is on Monday.", 1), ("I'll bring the slides.", 2)]),
    ];
    for (name, room_type, lines) in rooms_to_make {
        let request = NewRoomRequest {
            room_type,
            name: Some(name.to_owned()),
            member_ids: people.iter().skip(1).map(|p| p.id).collect(),
        };
        let (room, _) = rooms::create(chat, people[0].clone(), request).await.map_err(fail)?;
        for (text, who) in lines {
            let draft = Draft { room_id: room.id, content: text.to_owned(), reply_to_id: None };
            messages::send(chat, people[who].clone(), draft).await.map_err(fail)?;
        }
    }
    tracing::info!(users = "alice, bob, carol", password = DEMO_PASSWORD, "seeded demo data");
    Ok(())
}
