//! Row structs (`Selectable`) apart from what is inserted (`Insertable`) and changed
//! (`AsChangeset`).

use diesel::prelude::*;

use super::schema::*;
use crate::domain::{AttachmentId, EventKind, MessageId, MessageType, Role, RoomId, RoomType, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub password_hash: Option<String>,
    pub is_admin: Option<bool>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = chat_rooms)]
pub struct RoomRow {
    pub id: RoomId,
    pub name: String,
    pub room_type: RoomType,
    pub created_by_id: UserId,
    pub direct_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the room was created: its activity until its first message (see
    /// `rooms::of_member`).
    pub last_activity_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = chat_rooms)]
pub struct NewRoom<'a> {
    pub name: &'a str,
    pub room_type: RoomType,
    pub created_by_id: UserId,
    pub direct_key: Option<&'a str>,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_activity_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_room_members)]
pub struct MemberRow {
    pub id: i64,
    pub room_id: RoomId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: i64,
    pub last_read_at: Option<i64>,
    pub last_read_message_id: MessageId,
    pub is_muted: bool,
    /// `all`, `mentions` or `none`; NULL: the room type's default.
    pub notify: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = chat_room_members)]
pub struct NewMember {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_messages)]
pub struct MessageRow {
    pub id: MessageId,
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub content: String,
    pub message_type: MessageType,
    pub reply_to_id: Option<MessageId>,
    pub is_edited: bool,
    pub is_deleted: bool,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    /// Rendered when written; NULL for messages written before formatting existed.
    pub content_html: Option<String>,
    pub mentions_room: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = chat_messages)]
pub struct NewMessage<'a> {
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub content: &'a str,
    pub message_type: MessageType,
    pub reply_to_id: Option<MessageId>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_attachments)]
pub struct AttachmentRow {
    pub id: AttachmentId,
    pub message_id: MessageId,
    pub room_id: RoomId,
    pub file_name: String,
    pub stored_name: String,
    pub file_size: i64,
    pub file_type: String,
    pub file_extension: String,
    pub thumbnail_name: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = chat_attachments)]
pub struct NewAttachment<'a> {
    pub message_id: MessageId,
    pub room_id: RoomId,
    pub file_name: &'a str,
    pub stored_name: &'a str,
    pub file_size: i64,
    pub file_type: &'a str,
    pub file_extension: &'a str,
    pub thumbnail_name: Option<&'a str>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = chat_events)]
pub struct EventRow {
    pub id: i64,
    pub room_id: RoomId,
    pub kind: EventKind,
    pub payload: String,
    pub target_user_id: Option<UserId>,
    pub created_at: i64,
    /// The message the event shows: its own, or a room's last message.
    pub message_id: Option<MessageId>,
}

/// An event to append to the log.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub room_id: RoomId,
    pub kind: EventKind,
    pub payload: &'a str,
    /// The user the event concerns beyond the room's members.
    pub target_user_id: Option<UserId>,
    /// The message the event shows.
    pub message_id: Option<MessageId>,
}
