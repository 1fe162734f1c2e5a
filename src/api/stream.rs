//! `GET /chat/api/stream`: Server-Sent Events of every room I am a member of, or of one
//! room (`?room_id=`), resuming after `Last-Event-ID` / `?last_event_id=`.

use actix_web::http::header::{self, ContentEncoding};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::CurrentUser;
use crate::chat::streams::{self, StreamRequest};
use crate::chat::Chat;
use crate::error::{ApiError, ApiResult};

pub async fn open(chat: web::Data<Chat>, user: CurrentUser, req: HttpRequest) -> ApiResult<HttpResponse> {
    // The header is what EventSource sends on reconnect: newer than the page's URL. Two of
    // them are refused, on this path and the lean one alike, rather than one of them chosen.
    let mut header_ids = req.headers().get_all("last-event-id");
    let header_id = header_ids.next().map(|v| v.to_str().unwrap_or("x").to_owned());
    if header_ids.next().is_some() {
        return Err(ApiError::invalid("Last-Event-ID: sent more than once"));
    }
    let request = StreamRequest::parse(req.query_string(), header_id)?;
    let credential = user.credential.tag();
    let subscriber = streams::open(&chat, user.into_actor(), credential, request).await?;
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .insert_header(ContentEncoding::Identity);
    // HTTP/1.0 has no chunked encoding (actix-web would use it anyway): the events go out
    // as they are and the stream ends with the connection. nginx speaks HTTP/1.0 to its
    // upstreams unless told otherwise.
    let old_http = req.version() < actix_web::http::Version::HTTP_11;
    if old_http {
        response.force_close();
    }
    let mut response = response.streaming(subscriber.into_stream());
    if old_http {
        response.head_mut().no_chunking(true);
    }
    Ok(response)
}
