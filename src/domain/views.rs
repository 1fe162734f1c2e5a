//! The JSON shapes of the contract (API.md), shared by responses and stream events.

use serde::Serialize;
use utoipa::ToSchema;

use super::markup::Notify;
use super::{AttachmentId, MessageId, MessageType, Permission, Role, RoomId, RoomType, UserId};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    /// Only on `/me` and the admin endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub permissions: Option<Vec<Permission>>,
    /// Only on the admin endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Only in `GET /users`: whether the user has a stream open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub last_read_at: Option<String>,
    pub is_muted: bool,
    /// Whether the member has a stream open (or closed one within the grace period).
    pub online: bool,
    /// `all`, `mentions` or `none`: which new messages the member hears of. Defaults to
    /// `all` in direct rooms and groups, `mentions` in channels; a muted room reads `none`.
    #[schema(value_type = String)]
    pub notify: Notify,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Room {
    pub id: RoomId,
    /// For a direct room, the other member's display name.
    pub name: String,
    #[schema(value_type = String)]
    pub room_type: RoomType,
    pub created_by_id: UserId,
    pub created_at: String,
    pub updated_at: String,
    /// The caller's fields; absent in `room_updated` events, which every member receives.
    /// In `GET /channels` (rooms the caller has not joined) `my_role` is null, `is_muted`
    /// false and `unread_count` 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub my_role: Option<Option<Role>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_muted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    /// Unread messages that mention the caller by name or mention the room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mention_count: Option<i64>,
    pub last_message: Option<Message>,
    pub member_count: i64,
    /// Only on `GET /rooms/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<Member>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplyTo {
    pub id: MessageId,
    pub sender_name: String,
    pub excerpt: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attachment {
    pub id: AttachmentId,
    pub message_id: MessageId,
    pub file_name: String,
    pub file_size: i64,
    pub file_type: String,
    pub file_extension: String,
    pub url: String,
    pub thumbnail_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub sender_id: UserId,
    pub sender_name: String,
    pub content: String,
    #[schema(value_type = String)]
    pub message_type: MessageType,
    pub reply_to_id: Option<MessageId>,
    pub reply_to: Option<ReplyTo>,
    pub is_edited: bool,
    pub is_deleted: bool,
    pub created_at: String,
    pub edited_at: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Each emoji once, in order of first use.
    pub reactions: Vec<Reaction>,
    pub pinned_at: Option<String>,
    pub pinned_by_id: Option<UserId>,
    /// The content rendered from the Markdown subset and sanitized; for a system notice
    /// its escaped text; `""` for a deleted message.
    pub content_html: String,
    /// The members mentioned by `@username`.
    pub mentions: Vec<UserId>,
    /// Whether `@room` was used (by someone allowed to).
    pub mentions_room: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Who reacted, in the order they did.
    pub user_ids: Vec<UserId>,
}

/// `reaction_added` / `reaction_removed`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReactionChanged {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub emoji: String,
    pub user_id: UserId,
}

/// `presence`: a user came online or went offline.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PresenceChanged {
    pub user_id: UserId,
    pub online: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    pub user_id: UserId,
    pub display_name: String,
    pub read_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageDeleted {
    pub id: MessageId,
    pub room_id: RoomId,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadMarked {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub message_id: MessageId,
    pub read_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberChanged {
    pub room_id: RoomId,
    pub member: Member,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Typing {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// A message found by search, with an excerpt of it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResult {
    pub message: Message,
    /// At most 300 characters of the message, HTML-escaped, each match in `<mark>`…`</mark>`
    /// (the only markup); `…` where the text was cut.
    pub highlight: String,
}

/// A page of search results, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchResult>,
    /// Older results lie beyond: ask again with `before` = the last result's id.
    pub has_more: bool,
}

/// What an upload may be, for clients to check files before sending them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadRules {
    /// Accepted file name extensions, lower case, without the dot.
    pub extensions: Vec<String>,
    /// The accepted kinds in words, as every refusal (415) ends.
    pub allowed: String,
    pub max_file_bytes: u64,
    pub max_files_per_message: usize,
}
