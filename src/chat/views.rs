//! The contract's JSON shapes (`domain::views`), built from rows. The one place that turns
//! rows into what clients see: names, reply quotes, attachments and their links, unread
//! counts.

use std::collections::HashMap;

use crate::domain::markup::{self, Notify};
use crate::domain::views::{Attachment, Member, Message, Reaction, Receipt, ReplyTo, Room, User};
use crate::domain::API_PREFIX;
use crate::domain::{direct_peer, excerpt, format_time, MessageId, MessageType, Permission, RoomId, RoomType, UserId};
use crate::store::models::{AttachmentRow, MemberRow, MessageRow, RoomRow, UserRow};
use crate::store::rooms::MemberRecord;
use crate::store::{
    attachments, mentions, messages, pins, reactions, reads, rooms, users, DbConn, QueryError, QueryResult,
};

/// Messages with sender names, reply quotes and attachments. `known` is a sender whose
/// display name the caller has at hand (sending a message), which spares the name look-up
/// on the hot path.
pub fn messages(conn: &mut DbConn, rows: &[MessageRow], known: Option<(UserId, &str)>) -> QueryResult<Vec<Message>> {
    let reply_ids: Vec<MessageId> = rows.iter().filter_map(|m| m.reply_to_id).collect();
    let replies: HashMap<MessageId, MessageRow> =
        messages::by_ids(conn, &reply_ids)?.into_iter().map(|m| (m.id, m)).collect();
    let mut people: Vec<UserId> = rows.iter().map(|m| m.sender_id).collect();
    people.extend(replies.values().map(|m| m.sender_id));
    people.retain(|id| known.is_none_or(|(k, _)| k != *id));
    let mut names = if people.is_empty() { HashMap::new() } else { users::names(conn, &people)? };
    if let Some((id, name)) = known {
        names.insert(id, (String::new(), name.to_owned()));
    }
    let name_of = |id: UserId| names.get(&id).map(|(_, d)| d.clone()).unwrap_or_default();
    // Only file messages carry attachments.
    let live: Vec<MessageId> =
        rows.iter().filter(|m| !m.is_deleted && m.message_type == MessageType::File).map(|m| m.id).collect();
    let mut files: HashMap<MessageId, Vec<Attachment>> = HashMap::new();
    for row in attachments::for_messages(conn, &live)? {
        files.entry(row.message_id).or_default().push(attachment(&row));
    }
    let shown: Vec<MessageId> = rows.iter().filter(|m| !m.is_deleted).map(|m| m.id).collect();
    let mut reacted = reactions_of(conn, &shown)?;
    let mut pinned: HashMap<MessageId, (UserId, i64)> =
        pins::for_messages(conn, &shown)?.into_iter().map(|(id, by, at)| (id, (by, at))).collect();
    // Only messages with an `@` in them can mention anyone.
    let may_mention: Vec<MessageId> =
        rows.iter().filter(|m| !m.is_deleted && m.content.contains('@')).map(|m| m.id).collect();
    let mut mentioned = mentions::of_messages(conn, &may_mention)?;
    Ok(rows
        .iter()
        .map(|m| Message {
            id: m.id,
            room_id: m.room_id,
            sender_id: m.sender_id,
            sender_name: name_of(m.sender_id),
            content: m.content.clone(),
            message_type: m.message_type,
            reply_to_id: m.reply_to_id,
            reply_to: m.reply_to_id.and_then(|id| replies.get(&id)).map(|r| ReplyTo {
                id: r.id,
                sender_name: name_of(r.sender_id),
                excerpt: excerpt(&r.content),
            }),
            is_edited: m.is_edited,
            is_deleted: m.is_deleted,
            created_at: format_time(m.created_at),
            edited_at: m.edited_at.map(format_time),
            attachments: files.remove(&m.id).unwrap_or_default(),
            reactions: reacted.remove(&m.id).unwrap_or_default(),
            pinned_at: pinned.get(&m.id).map(|&(_, at)| format_time(at)),
            pinned_by_id: pinned.remove(&m.id).map(|(by, _)| by),
            content_html: shown_html(m),
            mentions: mentioned.remove(&m.id).unwrap_or_default(),
            mentions_room: m.mentions_room && !m.is_deleted,
        })
        .collect())
}

/// The view of a text message just written, from what its writer knows rather than read
/// back: a new message has no reactions, pin or files yet, and whom it mentions was just
/// recorded. Shows what `messages` would read.
pub fn fresh(row: &MessageRow, sender_name: &str, reply_to: Option<ReplyTo>, mentions: Vec<UserId>) -> Message {
    Message {
        id: row.id,
        room_id: row.room_id,
        sender_id: row.sender_id,
        sender_name: sender_name.to_owned(),
        content: row.content.clone(),
        message_type: row.message_type,
        reply_to_id: row.reply_to_id,
        reply_to,
        is_edited: row.is_edited,
        is_deleted: row.is_deleted,
        created_at: format_time(row.created_at),
        edited_at: row.edited_at.map(format_time),
        attachments: Vec::new(),
        reactions: Vec::new(),
        pinned_at: None,
        pinned_by_id: None,
        content_html: shown_html(row),
        mentions,
        mentions_room: row.mentions_room && !row.is_deleted,
    }
}

/// The quote of `target` in a reply; `known` is a user whose display name the caller has.
pub fn reply_quote(conn: &mut DbConn, target: &MessageRow, known: (UserId, &str)) -> QueryResult<ReplyTo> {
    let sender_name = if target.sender_id == known.0 {
        known.1.to_owned()
    } else {
        users::names(conn, &[target.sender_id])?.remove(&target.sender_id).map(|(_, d)| d).unwrap_or_default()
    };
    Ok(ReplyTo { id: target.id, sender_name, excerpt: excerpt(&target.content) })
}

/// The reactions of these messages, in one query: per message, each emoji once in order of
/// first use, with who reacted in the order they did.
fn reactions_of(conn: &mut DbConn, ids: &[MessageId]) -> QueryResult<HashMap<MessageId, Vec<Reaction>>> {
    let mut by_message: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
    for (message_id, emoji, user_id) in reactions::for_messages(conn, ids)? {
        let list = by_message.entry(message_id).or_default();
        match list.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => {
                reaction.count += 1;
                reaction.user_ids.push(user_id);
            }
            None => list.push(Reaction { emoji, count: 1, user_ids: vec![user_id] }),
        }
    }
    Ok(by_message)
}

/// The HTML a message shows: as stored when it was written, or rendered now for a message
/// written before formatting existed.
fn shown_html(m: &MessageRow) -> String {
    match &m.content_html {
        Some(html) if !m.is_deleted => html.clone(),
        _ => markup::message_html(&m.content, m.message_type, m.is_deleted),
    }
}

pub fn message(conn: &mut DbConn, row: &MessageRow) -> QueryResult<Message> {
    let mut views = messages(conn, std::slice::from_ref(row), None)?;
    views.pop().ok_or(QueryError::NotFound)
}

pub fn attachment(row: &AttachmentRow) -> Attachment {
    Attachment {
        id: row.id,
        message_id: row.message_id,
        file_name: row.file_name.clone(),
        file_size: row.file_size,
        file_type: row.file_type.clone(),
        file_extension: row.file_extension.clone(),
        url: format!("{API_PREFIX}/attachments/{}", row.id),
        thumbnail_url: row.thumbnail_name.as_ref().map(|_| format!("{API_PREFIX}/attachments/{}/thumbnail", row.id)),
    }
}

/// Rooms. With `me` the caller's fields (role, mute, unread count) are filled (null role,
/// not muted, nothing unread where `me` is not a member) and a direct room is named after
/// the other party; without, they are left out (a `room_updated` event goes to every
/// member alike).
pub fn rooms(conn: &mut DbConn, list: &[(RoomRow, Option<MemberRow>)], me: Option<UserId>) -> QueryResult<Vec<Room>> {
    let ids: Vec<RoomId> = list.iter().map(|(r, _)| r.id).collect();
    let counts = rooms::member_counts(conn, &ids)?;
    let last_rows: Vec<MessageRow> = messages::last_of_rooms(conn, &ids)?.into_values().collect();
    let mut last: HashMap<RoomId, Message> =
        messages(conn, &last_rows, None)?.into_iter().map(|m| (m.room_id, m)).collect();
    let unread = match me {
        Some(me) => messages::unread_counts(conn, me, &ids)?,
        None => HashMap::new(),
    };
    // A direct room is named after the other party of its pair, found from the room's key:
    // still there after they left the room.
    let mut others: HashMap<RoomId, String> = HashMap::new();
    if let Some(me) = me {
        let peers: Vec<(RoomId, UserId)> = list
            .iter()
            .filter(|(r, _)| r.room_type == RoomType::Direct)
            .filter_map(|(r, _)| Some((r.id, direct_peer(r.direct_key.as_deref()?, me)?)))
            .collect();
        if !peers.is_empty() {
            let ids: Vec<UserId> = peers.iter().map(|&(_, peer)| peer).collect();
            let names = users::names(conn, &ids)?;
            others.extend(peers.into_iter().filter_map(|(room, peer)| Some((room, names.get(&peer)?.1.clone()))));
        }
    }
    Ok(list
        .iter()
        .map(|(room, membership)| Room {
            id: room.id,
            name: others.remove(&room.id).unwrap_or_else(|| room.name.clone()),
            room_type: room.room_type,
            created_by_id: room.created_by_id,
            created_at: format_time(room.created_at),
            updated_at: format_time(room.updated_at),
            my_role: me.map(|_| membership.as_ref().map(|m| m.role)),
            is_muted: me.map(|_| membership.as_ref().is_some_and(|m| m.is_muted)),
            unread_count: me.map(|_| unread.get(&room.id).map_or(0, |c| c.0)),
            mention_count: me.map(|_| unread.get(&room.id).map_or(0, |c| c.1)),
            last_message: last.remove(&room.id),
            member_count: counts.get(&room.id).copied().unwrap_or(0),
            members: None,
        })
        .collect())
}

/// One room as its member sees it.
pub fn room_for(conn: &mut DbConn, room: RoomRow, membership: MemberRow) -> QueryResult<Room> {
    let me = membership.user_id;
    let mut list = rooms(conn, &[(room, Some(membership))], Some(me))?;
    list.pop().ok_or(QueryError::NotFound)
}

/// One room without the caller's fields (for `room_updated`).
pub fn shared_room(conn: &mut DbConn, room: RoomRow) -> QueryResult<Room> {
    let mut list = rooms(conn, &[(room, None)], None)?;
    list.pop().ok_or(QueryError::NotFound)
}

fn member_of((row, username, display_name): MemberRecord, room_type: RoomType) -> Member {
    Member {
        notify: Notify::effective(row.notify.as_deref(), room_type, row.is_muted),
        user_id: row.user_id,
        username,
        display_name,
        role: row.role,
        last_read_at: row.last_read_at.map(format_time),
        is_muted: row.is_muted,
        online: false,
    }
}

/// A room's members, longest-standing first.
pub fn members(conn: &mut DbConn, room_id: RoomId) -> QueryResult<Vec<Member>> {
    let room_type = room_type_of(conn, room_id)?;
    Ok(rooms::member_records(conn, room_id)?.into_iter().map(|record| member_of(record, room_type)).collect())
}

pub fn member(conn: &mut DbConn, room_id: RoomId, user_id: UserId) -> QueryResult<Member> {
    let room_type = room_type_of(conn, room_id)?;
    rooms::member_record(conn, room_id, user_id).map(|record| member_of(record, room_type))
}

fn room_type_of(conn: &mut DbConn, room_id: RoomId) -> QueryResult<RoomType> {
    rooms::by_id(conn, room_id)?.map(|room| room.room_type).ok_or(QueryError::NotFound)
}

/// Who has seen a message, in the order they saw it.
pub fn receipts(conn: &mut DbConn, message: &MessageRow) -> QueryResult<Vec<Receipt>> {
    let rows = reads::first_reads(conn, message.room_id, message.id, message.sender_id)?;
    let ids: Vec<UserId> = rows.iter().map(|(id, _)| *id).collect();
    let names = users::names(conn, &ids)?;
    let mut list: Vec<(i64, Receipt)> = rows
        .into_iter()
        .map(|(user_id, read_at)| {
            let display_name = names.get(&user_id).map(|(_, d)| d.clone()).unwrap_or_default();
            (read_at, Receipt { user_id, display_name, read_at: format_time(read_at) })
        })
        .collect();
    list.sort_by_key(|(t, r)| (*t, r.user_id));
    Ok(list.into_iter().map(|(_, r)| r).collect())
}

/// The permissions a `User` shows: an admin holds all of them, whatever is stored.
fn shown_permissions(is_admin: bool, held: Vec<Permission>) -> Vec<Permission> {
    if is_admin {
        Permission::ALL.to_vec()
    } else {
        held
    }
}

/// The public `User` shape (no permissions).
pub fn public_user(row: &UserRow) -> User {
    User {
        id: row.id,
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        is_admin: row.is_admin,
        permissions: None,
        disabled: None,
        online: None,
    }
}

/// The admin `User` shape: with the permissions it holds (all, for an admin) and whether
/// it is disabled.
pub fn admin_user(row: &UserRow, held: Vec<Permission>) -> User {
    User { permissions: Some(shown_permissions(row.is_admin, held)), disabled: Some(row.disabled), ..public_user(row) }
}

/// The caller's own `User`, with permissions (for `/me`).
pub fn me(id: UserId, username: &str, display_name: &str, is_admin: bool, permissions: &[Permission]) -> User {
    User {
        id,
        username: username.to_owned(),
        display_name: display_name.to_owned(),
        is_admin,
        permissions: Some(shown_permissions(is_admin, permissions.to_vec())),
        disabled: None,
        online: None,
    }
}
