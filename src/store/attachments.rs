//! Attachment rows. Files live under the uploads folder; see `crate::uploads`.

use diesel::prelude::*;

use super::models::{AttachmentRow, NewAttachment};
use super::schema::{chat_attachments, chat_messages};
use super::{DbConn, QueryResult};
use crate::domain::{AttachmentId, MessageId, RoomId};

pub fn insert(conn: &mut DbConn, new: &NewAttachment<'_>) -> QueryResult<AttachmentRow> {
    diesel::insert_into(chat_attachments::table).values(new).returning(chat_attachments::all_columns).get_result(conn)
}

/// An attachment of a message that is not deleted.
pub fn live_by_id(conn: &mut DbConn, id: AttachmentId) -> QueryResult<Option<AttachmentRow>> {
    chat_attachments::table
        .inner_join(chat_messages::table)
        .filter(chat_attachments::id.eq(id))
        .filter(chat_messages::is_deleted.eq(false))
        .select(AttachmentRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn for_messages(conn: &mut DbConn, message_ids: &[MessageId]) -> QueryResult<Vec<AttachmentRow>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    chat_attachments::table
        .filter(chat_attachments::message_id.eq_any(message_ids))
        .order(chat_attachments::id.asc())
        .select(AttachmentRow::as_select())
        .load(conn)
}

/// The files of a room's messages that are not deleted, newest first.
pub fn for_room(
    conn: &mut DbConn,
    room_id: RoomId,
    before: Option<AttachmentId>,
    limit: i64,
) -> QueryResult<Vec<AttachmentRow>> {
    let mut query = chat_attachments::table
        .inner_join(chat_messages::table)
        .filter(chat_attachments::room_id.eq(room_id))
        .filter(chat_messages::is_deleted.eq(false))
        .order(chat_attachments::id.desc())
        .limit(limit)
        .select(AttachmentRow::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(chat_attachments::id.lt(before));
    }
    query.load(conn)
}

/// `(room_id, message_id, stored name, thumbnail name, message deleted)`.
pub type StoredFile = (RoomId, MessageId, String, Option<String>, bool);

/// Every stored file, for the orphan sweep.
pub fn all_stored(conn: &mut DbConn) -> QueryResult<Vec<StoredFile>> {
    chat_attachments::table
        .inner_join(chat_messages::table)
        .select((
            chat_attachments::room_id,
            chat_attachments::message_id,
            chat_attachments::stored_name,
            chat_attachments::thumbnail_name,
            chat_messages::is_deleted,
        ))
        .load(conn)
}
