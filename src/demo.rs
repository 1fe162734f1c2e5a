//! `--demo`: a few users, rooms and messages so that a newcomer can look around at once.

use crate::api::rooms::enroll;
use crate::auth::accounts::{self, NewAccount};
use crate::broker::Outbox;
use crate::domain::{Permission, Role, RoomType};
use crate::store::models::{NewMessage, NewRoom};
use crate::store::{events, messages, now_micros, rooms, users, Db};

pub const DEMO_PASSWORD: &str = "demo-password";

pub fn seed(db: &Db) -> anyhow::Result<()> {
    let mut conn = db.get()?;
    if users::by_username(&mut conn, "alice")?.is_some() {
        return Ok(());
    }
    let fail = |e: crate::error::ApiError| anyhow::anyhow!("seeding demo data: {e:?}");
    let mut ids = Vec::new();
    for (name, display) in [("alice", "Alice Martin"), ("bob", "Bob Chen"), ("carol", "Carol Diaz")] {
        let perms = Permission::ALL.to_vec();
        let account = NewAccount::parse(name, DEMO_PASSWORD, Some(display), false, perms).map_err(fail)?;
        ids.push(accounts::create(&mut conn, &account).map_err(fail)?.id);
    }
    let mut outbox = Outbox::default();
    let now = now_micros();
    let rooms_to_make = [
        ("General", RoomType::Channel, vec![("Welcome to causerie!", 0), ("Hi everyone 👋", 1)]),
        ("Project X", RoomType::Group, vec![("Kick-off is on Monday.", 1), ("I'll bring the slides.", 2)]),
    ];
    for (name, room_type, lines) in rooms_to_make {
        let room = rooms::insert(
            &mut conn,
            &NewRoom {
                name,
                room_type: room_type.as_str(),
                created_by_id: ids[0],
                direct_key: None,
                created_at: now,
                updated_at: now,
                last_activity_at: now,
            },
        )?;
        for (i, id) in ids.iter().enumerate() {
            let role = if i == 0 { Role::Admin } else { Role::Member };
            enroll(&mut conn, &mut outbox, room.id, *id, role).map_err(fail)?;
        }
        for (text, who) in lines {
            let row = messages::insert(
                &mut conn,
                &NewMessage {
                    room_id: room.id,
                    sender_id: ids[who],
                    content: text,
                    message_type: "text",
                    reply_to_id: None,
                    created_at: now_micros(),
                },
            )?;
            let view = messages::view(&mut conn, &row)?;
            events::record(&mut conn, &mut outbox, room.id, "new_message", &view, None)?;
        }
    }
    tracing::info!(users = "alice, bob, carol", password = DEMO_PASSWORD, "seeded demo data");
    Ok(())
}
