//! Attachments: upload with a message, list a room's files, download.

use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;

use actix_files::NamedFile;
use actix_multipart::{Field, Multipart};
use actix_web::error::PayloadError;
use actix_web::http::header::{
    self, Charset, ContentDisposition, ContentEncoding, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{created, ok, Query};
use crate::auth::CurrentUser;
use crate::chat::attachments::{self, FileDraft, Variant};
use crate::chat::Chat;
use crate::domain::{AttachmentId, MessageContent, MessageId, RoomId};
use crate::error::{ApiError, ApiResult};
use crate::uploads::{self, Staged, Upload, Written};

/// Largest text field of the form: room_id, content (10,000 characters), reply_to_id.
const MAX_TEXT_FIELD: usize = 64 * 1024;

#[derive(Default)]
struct Form {
    room_id: Option<String>,
    content: Option<String>,
    reply_to_id: Option<String>,
    files: Vec<Staged>,
}

/// `POST /messages` as `multipart/form-data`: the message and its files, all or nothing.
pub async fn send_with_files(
    chat: web::Data<Chat>,
    user: CurrentUser,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let user = user.into_actor();
    attachments::attempt(&chat, &user).await?;
    let settings = chat.settings.clone();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > settings.max_upload_bytes) {
        return Err(too_large_upload(settings.max_upload_bytes));
    }

    let tmp = uploads::tmp_dir(&settings.uploads_dir);
    tokio::fs::create_dir_all(&tmp).await.map_err(ApiError::internal)?;
    let mut written = Written::default();
    let form = read_form(&req, payload, &chat, &tmp, &mut written).await?;

    let room_id =
        RoomId(parse_id("room_id", form.room_id.as_deref())?.ok_or_else(|| ApiError::invalid("room_id is required"))?);
    let reply_to_id = parse_id("reply_to_id", form.reply_to_id.as_deref())?.map(MessageId);
    let text = form.content.unwrap_or_default();
    let content =
        if form.files.is_empty() { MessageContent::parse(&text) } else { MessageContent::parse_optional(&text) }?;

    // Refuse strangers before spending any work on their images.
    attachments::may_send(&chat, &user, room_id, reply_to_id).await?;

    let upload = attachments::prepare_images(&chat, Upload { files: form.files, written }).await?;
    let message = attachments::send(&chat, user, FileDraft { room_id, content, reply_to_id, upload }).await?;
    Ok(created(&message))
}

fn too_large_upload(limit: u64) -> ApiError {
    ApiError::TooLarge(format!("the upload is larger than {limit} bytes"))
}

fn parse_id(field: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    match value.map(str::trim) {
        None => Ok(None),
        Some("") if field != "room_id" => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| ApiError::invalid(format!("{field}: must be an integer"))),
    }
}

/// Reads the form, streaming each file to the temporary folder and checking it as it
/// comes, so that an oversized or forbidden file is refused before the rest is read.
async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    chat: &Chat,
    tmp: &Path,
    written: &mut Written,
) -> ApiResult<Form> {
    let settings = &chat.settings;
    let max_total = settings.max_upload_bytes;
    let overflow = Rc::new(Cell::new(false));
    let mut seen: u64 = 0;
    let flag = overflow.clone();
    let counted = payload.map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > max_total {
            flag.set(true);
            return Err(PayloadError::Overflow);
        }
        Ok(chunk)
    });
    let mut multipart = Multipart::new(req.headers(), counted);
    let read_error = |err: actix_multipart::MultipartError| {
        if overflow.get() {
            too_large_upload(max_total)
        } else {
            ApiError::invalid(format!("malformed multipart body: {err}"))
        }
    };

    let mut form = Form::default();
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(read_error)?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "files" | "files[]" | "file" => {
                if form.files.len() >= settings.max_files_per_message {
                    return Err(ApiError::TooLarge(format!(
                        "at most {} files may be attached to a message",
                        settings.max_files_per_message
                    )));
                }
                let staged = stage_file(&mut field, settings.max_file_bytes, tmp, written, &read_error).await?;
                form.files.push(staged);
            }
            "room_id" | "content" | "reply_to_id" => {
                let bytes = read_text(&mut field, &read_error).await?;
                let text =
                    String::from_utf8(bytes).map_err(|_| ApiError::invalid(format!("{name}: must be UTF-8 text")))?;
                let slot = match name.as_str() {
                    "room_id" => &mut form.room_id,
                    "content" => &mut form.content,
                    _ => &mut form.reply_to_id,
                };
                *slot = Some(text);
            }
            // Unknown fields are skipped; they still count towards the request limit.
            _ => {
                while let Some(chunk) = field.next().await {
                    chunk.map_err(read_error)?;
                }
            }
        }
    }
    Ok(form)
}

async fn read_text(
    field: &mut Field,
    read_error: &impl Fn(actix_multipart::MultipartError) -> ApiError,
) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(read_error)?;
        if bytes.len() + chunk.len() > MAX_TEXT_FIELD {
            let name = field.name().unwrap_or("field");
            return Err(ApiError::invalid(format!("{name}: is too long")));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn stage_file(
    field: &mut Field,
    max_file_bytes: u64,
    tmp: &Path,
    written: &mut Written,
    read_error: &impl Fn(actix_multipart::MultipartError) -> ApiError,
) -> ApiResult<Staged> {
    let raw_name = field.content_disposition().and_then(|cd| cd.get_filename()).unwrap_or_default();
    let file_name = uploads::sanitize_file_name(raw_name);
    let extension = uploads::extension_of(&file_name);
    uploads::check_extension(extension.as_deref())?;
    let extension = extension.unwrap_or_default();

    let path = tmp.join(uploads::random_name("part"));
    written.file(path.clone());
    let mut file = tokio::fs::File::create(&path).await.map_err(ApiError::internal)?;
    let mut size: u64 = 0;
    let mut head = Vec::with_capacity(uploads::HEAD_BYTES);
    let mut checked = false;
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(read_error)?;
        size = size.saturating_add(chunk.len() as u64);
        if size > max_file_bytes {
            return Err(ApiError::TooLarge(format!("'{file_name}' is larger than {max_file_bytes} bytes")));
        }
        if head.len() < uploads::HEAD_BYTES {
            let take = chunk.len().min(uploads::HEAD_BYTES - head.len());
            head.extend_from_slice(&chunk[..take]);
        }
        // Refuse a forbidden type as soon as its start is known, not after the whole file.
        if !checked && head.len() == uploads::HEAD_BYTES {
            uploads::classify(&extension, &head)?;
            checked = true;
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
    }
    file.flush().await.map_err(ApiError::internal)?;
    drop(file);
    let (kind, mime) = uploads::classify(&extension, &head)?;
    Ok(Staged { path, file_name, extension, kind, mime, thumbnail: None })
}

#[derive(Deserialize)]
pub struct ListQuery {
    before: Option<AttachmentId>,
}

/// `GET /rooms/{id}/attachments`: the files shared in a room, newest first.
pub async fn list(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<RoomId>,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let before = query.into_inner().before;
    Ok(ok(&attachments::list(&chat, user.into_actor(), path.into_inner(), before).await?))
}

pub async fn download(
    chat: web::Data<Chat>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<AttachmentId>,
) -> ApiResult<HttpResponse> {
    serve_stored(chat, user, req, path.into_inner(), Variant::Original).await
}

pub async fn thumbnail(
    chat: web::Data<Chat>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<AttachmentId>,
) -> ApiResult<HttpResponse> {
    serve_stored(chat, user, req, path.into_inner(), Variant::Thumbnail).await
}

/// Serves the stored file (or its thumbnail) of an attachment the caller may read.
async fn serve_stored(
    chat: web::Data<Chat>,
    user: CurrentUser,
    req: HttpRequest,
    id: AttachmentId,
    variant: Variant,
) -> ApiResult<HttpResponse> {
    let (row, path) = attachments::locate(&chat, user.into_actor(), id, variant).await?;
    let file = web::block(move || open(&path)).await.map_err(ApiError::internal)??;
    Ok(match variant {
        Variant::Original => {
            let inline = uploads::is_inline_image(&row.file_type);
            let mime = row.file_type.parse().unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
            serve(file, mime, disposition(&row.file_name, inline), &req)
        }
        Variant::Thumbnail => {
            let stem = row.file_name.rsplit_once('.').map_or(row.file_name.as_str(), |(stem, _)| stem);
            serve(file, actix_web::mime::IMAGE_JPEG, disposition(&format!("{stem}.jpg"), true), &req)
        }
    })
}

/// Middleware for the file routes: a `Range` header that is not a valid byte-range set is
/// ignored, as RFC 9110 asks, and the whole file is sent (the file server would answer 416).
pub async fn ignore_malformed_ranges(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let malformed = req.headers().get(header::RANGE).is_some_and(|v| v.to_str().map_or(true, is_malformed_byte_range));
    if malformed {
        req.headers_mut().remove(header::RANGE);
    }
    next.call(req).await
}

/// Whether a `Range` value in bytes breaks RFC 9110's syntax (`bytes=0-99,200-,-50`). Other
/// units are the file server's to ignore.
fn is_malformed_byte_range(value: &str) -> bool {
    let Some((unit, set)) = value.split_once('=') else { return true };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return false;
    }
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    !set.split(',').all(|spec| match spec.split_once('-') {
        Some((first, "")) => number(first).is_some(),
        Some((first, last)) if first.trim().is_empty() => number(last).is_some(),
        Some((first, last)) => matches!((number(first), number(last)), (Some(a), Some(b)) if a <= b),
        None => false,
    })
}

fn open(path: &Path) -> ApiResult<NamedFile> {
    NamedFile::open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => ApiError::not_found("attachment"),
        _ => ApiError::internal(err),
    })
}

fn serve(file: NamedFile, mime: actix_web::mime::Mime, cd: ContentDisposition, req: &HttpRequest) -> HttpResponse {
    let mut response = file
        .set_content_type(mime)
        .set_content_disposition(cd)
        // Already compressed or small; compressing would also break byte ranges.
        .set_content_encoding(ContentEncoding::Identity)
        .use_etag(true)
        .use_last_modified(true)
        .into_response(req);
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    // Private to the reader, and revalidated so that a deleted message's files stop showing.
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"),
    );
    response
}

/// `filename` in plain ASCII for old clients, `filename*` with the exact UTF-8 name.
fn disposition(name: &str, inline: bool) -> ContentDisposition {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).filter(|c| *c != '"').collect();
    let mut parameters = vec![DispositionParam::Filename(ascii.clone())];
    if ascii != name {
        parameters.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".into()),
            language_tag: None,
            value: name.as_bytes().to_vec(),
        }));
    }
    let disposition = if inline { DispositionType::Inline } else { DispositionType::Attachment };
    ContentDisposition { disposition, parameters }
}

/// The allow-list and limits of uploads, so that a client refuses a file before sending it.
pub async fn rules(chat: web::Data<Chat>, user: CurrentUser) -> ApiResult<HttpResponse> {
    Ok(ok(&attachments::rules(&chat, &user.into_actor())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_byte_ranges_are_told_apart() {
        for good in ["bytes=0-3", "bytes=5-", "bytes=-50", "bytes= 0-1 , 4-9", "BYTES=1-1", "items=1-2"] {
            assert!(!is_malformed_byte_range(good), "{good}");
        }
        for bad in ["bytes=abc", "bytes=", "bytes=5-4", "bytes=-", "bytes=1-2,x", "0-3", "bytes=99999999999999999999-"]
        {
            assert!(is_malformed_byte_range(bad), "{bad}");
        }
    }
}
