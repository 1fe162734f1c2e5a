//! `GET /chat/api/stream`: Server-Sent Events of every room I am a member of, or of one
//! room (`?room_id=`), resuming after `Last-Event-ID` / `?last_event_id=`.

use std::sync::Arc;

use actix_web::http::header::{self, ContentEncoding};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::BytesMut;
use serde::Deserialize;

use super::rooms::room_and_role;
use super::Query;
use crate::auth::CurrentUser;
use crate::broker::{sse, CatchUp, CatchUpBatch, Scope, Subscriber};
use crate::domain::Action;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::{events, rooms, Db};

/// Events read back per catch-up query.
const CATCH_UP_BATCH: i64 = 500;

#[derive(Deserialize)]
pub struct StreamQuery {
    room_id: Option<i64>,
    last_event_id: Option<String>,
}

fn parse_event_id(text: &str) -> ApiResult<i64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| ApiError::invalid("last_event_id must be a non-negative integer"))
}

pub async fn open(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    query: Query<StreamQuery>,
) -> ApiResult<HttpResponse> {
    // The header is what EventSource sends on reconnect: newer than the page's URL.
    let header_id = req.headers().get("last-event-id").map(|v| v.to_str().unwrap_or("x").to_owned());
    let subscriber = prepare(&state, user, query.into_inner(), header_id).await?;
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

/// Checks a stream request and subscribes it: the `Last-Event-ID` header (`last_event_id`,
/// which wins over the query's), the room, the caller's right to read it. Nothing is left
/// behind when it fails.
pub async fn prepare(
    state: &AppState,
    user: CurrentUser,
    query: StreamQuery,
    last_event_id: Option<String>,
) -> ApiResult<Subscriber> {
    user.may(Action::Browse)?;
    let StreamQuery { room_id, last_event_id: query_id } = query;
    let resume = match last_event_id.or(query_id) {
        Some(text) if !text.trim().is_empty() => Some(parse_event_id(&text)?),
        _ => None,
    };
    let scope = room_id.map_or(Scope::AllRooms, Scope::Room);
    let me = user.id;
    // Register first: membership changes from now on reach this stream.
    let (registration, control) = state.hub.register(me, scope);
    let (room_ids, (floor, latest)) = state
        .db
        .run(move |conn| {
            let room_ids = match room_id {
                Some(room_id) => {
                    let (_, role) = room_and_role(conn, room_id, me)?;
                    user.may(Action::ReadRoom(role))?;
                    vec![room_id]
                }
                None => rooms::ids_of_member(conn, me)?,
            };
            Ok::<_, ApiError>((room_ids, events::bounds(conn)?))
        })
        .await?;
    let receivers = state.hub.subscribe(&room_ids);

    let mut opening = BytesMut::from(&sse::retry(state.settings.sse_retry_ms)[..]);
    let resume_after = resume.map(|id| {
        if id < floor || id > latest {
            // Older than what is kept (or not from this server): the client reloads.
            opening.extend_from_slice(&sse::frame(Some(latest), "reset", "{}"));
            latest
        } else {
            id
        }
    });
    Ok(Subscriber::new(
        state.hub.clone(),
        registration,
        control,
        receivers,
        catch_up(state.db.clone(), me, room_id),
        opening.freeze(),
        resume_after,
    ))
}

/// Reads what the user may see after an id, from the event log.
fn catch_up(db: Db, user_id: i64, room_id: Option<i64>) -> CatchUp {
    Arc::new(move |after| {
        let db = db.clone();
        Box::pin(async move {
            db.run(move |conn| {
                if let Some(room_id) = room_id {
                    if rooms::membership(conn, room_id, user_id)?.is_none() {
                        return Ok(CatchUpBatch { frames: Vec::new(), last_id: None, more: false, revoked: true });
                    }
                }
                let rows = events::visible_after(conn, user_id, room_id, after, CATCH_UP_BATCH)?;
                Ok::<_, ApiError>(CatchUpBatch {
                    more: rows.len() as i64 == CATCH_UP_BATCH,
                    last_id: rows.last().map(|r| r.id),
                    frames: rows.iter().map(|r| sse::frame(Some(r.id), &r.kind, &r.payload)).collect(),
                    revoked: false,
                })
            })
            .await
            .map_err(|error| tracing::warn!(?error, "stream catch-up failed"))
        })
    })
}
