//! Attachments, their database side: the message that carries files, all or nothing; a
//! room's files; who may download one. Reading and checking the files themselves is
//! `crate::uploads`'.

use std::path::{Path, PathBuf};

use super::access::{check_send, room_and_role};
use super::messages::post;
use super::{views, Actor, Chat, Tx};
use crate::domain::permissions::Denied;
use crate::domain::views::{Attachment, Message, UploadRules};
use crate::domain::{Action, AttachmentId, MessageContent, MessageId, MessageType, RoomId};
use crate::error::{ApiError, ApiResult};
use crate::store::attachments::StoredFile;
use crate::store::models::{AttachmentRow, MessageRow, NewAttachment, NewMessage};
use crate::store::{attachments, now_micros, rooms, DbConn};
use crate::uploads::{self, Upload};

/// Files per page of a room's list.
const LIST_LIMIT: i64 = 50;

/// Counts an attempt to send files against the sender's message limit, before its body is
/// read.
pub async fn attempt(chat: &Chat, user: &Actor) -> ApiResult<()> {
    chat.message_allowed(user.id).await
}

/// Checks that the caller may post in the room before any work is spent on their files.
pub async fn may_send(chat: &Chat, user: &Actor, room_id: RoomId, reply_to_id: Option<MessageId>) -> ApiResult<()> {
    let asker = user.clone();
    chat.read(move |conn| check_send(conn, &asker, room_id, reply_to_id).map(|_| ())).await
}

/// Checks, re-encodes and thumbnails the upload's images, one at a time, each within its
/// share of the image memory budget (reserved from its header before it is decoded). A
/// failure drops the upload, and so its files.
pub async fn prepare_images(chat: &Chat, mut upload: Upload) -> ApiResult<Upload> {
    let max_pixels = chat.settings.max_image_pixels;
    for index in 0..upload.files.len() {
        let file = &upload.files[index];
        if !file.kind.is_image() {
            continue;
        }
        let (path, kind) = (file.path.clone(), file.kind);
        let cost = blocking(move || uploads::image_cost_mib(&path, kind, max_pixels)).await?;
        let reserved = chat.images.reserve(cost).await?;
        upload = blocking(move || {
            // Held until the work is done, even when the client has gone meanwhile.
            let _reserved = reserved;
            let mut upload = upload;
            let Upload { files, written } = &mut upload;
            let file = files.get_mut(index).ok_or_else(|| ApiError::internal(anyhow::anyhow!("no file {index}")))?;
            let prepared = uploads::prepare_image(&file.path, file.kind, max_pixels, written)?;
            if let Some(replacement) = prepared.replacement {
                let _ = std::fs::remove_file(&file.path);
                file.path = replacement;
            }
            file.thumbnail = Some(prepared.thumbnail);
            Ok(upload)
        })
        .await?;
    }
    Ok(upload)
}

/// Runs file and image work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

/// A message with files to send. `content` may be empty when there are files.
pub struct FileDraft {
    pub room_id: RoomId,
    pub content: MessageContent,
    pub reply_to_id: Option<MessageId>,
    pub upload: Upload,
}

/// Sends the message and moves its files into place in one transaction. The files are
/// kept only once the transaction has committed: a failure anywhere, even in the commit
/// itself, drops the upload and so removes them.
pub async fn send(chat: &Chat, user: Actor, draft: FileDraft) -> ApiResult<Message> {
    let FileDraft { room_id, content, reply_to_id, upload } = draft;
    let uploads_dir = chat.settings.uploads_dir.clone();
    let (message, _) = chat
        .commit_then(
            move |tx: &mut Tx<'_>| {
                let mut upload = upload;
                let reply_to = check_send(tx, &user, room_id, reply_to_id)?;
                let message_type = if upload.files.is_empty() { MessageType::Text } else { MessageType::File };
                let new = NewMessage {
                    room_id,
                    sender_id: user.id,
                    content: content.as_str(),
                    message_type,
                    reply_to_id,
                    created_at: now_micros(),
                };
                let message = post(tx, &new, Some(&user.display_name), reply_to.as_ref(), |conn, row| {
                    store_files(conn, row, &uploads_dir, &mut upload)
                })?;
                Ok((message, upload))
            },
            |(_, upload): &mut (Message, Upload)| upload.written.keep(),
        )
        .await?;
    Ok(message)
}

/// Moves the files into the message's folder and records them; runs inside the
/// transaction that inserted the message.
fn store_files(conn: &mut DbConn, message: &MessageRow, uploads_dir: &Path, upload: &mut Upload) -> ApiResult<()> {
    if upload.files.is_empty() {
        return Ok(());
    }
    let dir = uploads::message_dir(uploads_dir, message.room_id, message.id);
    upload.written.dir(dir.clone());
    std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
    let now = now_micros();
    for file in &upload.files {
        let stored_name = uploads::random_name(&file.extension);
        let target = dir.join(&stored_name);
        std::fs::rename(&file.path, &target).map_err(ApiError::internal)?;
        let file_size = std::fs::metadata(&target).map_err(ApiError::internal)?.len();
        let thumbnail_name = match &file.thumbnail {
            Some(thumbnail) => {
                let name = format!("{stored_name}.jpg");
                let thumbnails = dir.join("thumbnails");
                std::fs::create_dir_all(&thumbnails).map_err(ApiError::internal)?;
                std::fs::rename(thumbnail, thumbnails.join(&name)).map_err(ApiError::internal)?;
                Some(name)
            }
            None => None,
        };
        attachments::insert(
            conn,
            &NewAttachment {
                message_id: message.id,
                room_id: message.room_id,
                file_name: &file.file_name,
                stored_name: &stored_name,
                file_size: i64::try_from(file_size).unwrap_or(i64::MAX),
                file_type: file.mime,
                file_extension: &file.extension,
                thumbnail_name: thumbnail_name.as_deref(),
                created_at: now,
            },
        )?;
    }
    Ok(())
}

/// The files shared in a room, newest first, fifty at a time.
pub async fn list(
    chat: &Chat,
    user: Actor,
    room_id: RoomId,
    before: Option<AttachmentId>,
) -> ApiResult<Vec<Attachment>> {
    chat.read(move |conn| {
        let (_, role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::ReadRoom(role))?;
        let rows = attachments::for_room(conn, room_id, before, LIST_LIMIT)?;
        Ok(rows.iter().map(views::attachment).collect())
    })
    .await
}

/// Which file of an attachment to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

/// The attachment and where its file (or thumbnail) is stored, when the caller may read its
/// room; 404 for everyone else.
pub async fn locate(
    chat: &Chat,
    user: Actor,
    id: AttachmentId,
    variant: Variant,
) -> ApiResult<(AttachmentRow, PathBuf)> {
    let uploads_dir = chat.settings.uploads_dir.clone();
    chat.read(move |conn| {
        let row = attachments::live_by_id(conn, id)?.ok_or_else(|| ApiError::not_found("attachment"))?;
        let role = rooms::role_of(conn, row.room_id, user.id)?;
        user.may(Action::ReadRoom(role)).map_err(|denied| match denied {
            Denied::Forbidden(_) => ApiError::from(denied),
            Denied::NotFound => ApiError::not_found("attachment"),
        })?;
        let path = match variant {
            Variant::Original => uploads::file_path(&uploads_dir, row.room_id, row.message_id, &row.stored_name),
            Variant::Thumbnail => {
                let name = row.thumbnail_name.as_deref().ok_or_else(|| ApiError::not_found("thumbnail"))?;
                uploads::thumbnail_path(&uploads_dir, row.room_id, row.message_id, name)
            }
        };
        Ok((row, path))
    })
    .await
}

/// Every stored file with its message's state, for the orphan sweep.
pub async fn stored_files(chat: &Chat) -> ApiResult<Vec<StoredFile>> {
    chat.read(|conn| Ok(attachments::all_stored(conn)?)).await
}

/// What an upload may be: the allow-list and the size limits. Any signed-in user may ask.
pub fn rules(chat: &Chat, user: &Actor) -> ApiResult<UploadRules> {
    user.may(Action::Browse)?;
    Ok(UploadRules {
        extensions: crate::uploads::EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
        allowed: crate::uploads::ALLOWED.to_owned(),
        max_file_bytes: chat.settings.max_file_bytes,
        max_files_per_message: chat.settings.max_files_per_message,
    })
}
