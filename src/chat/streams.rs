//! Opening an event stream: which rooms it carries, where it resumes, and the catch-up
//! read from the event log that fills a gap (a resume, or a stream that fell behind).

use std::sync::Arc;

use bytes::BytesMut;
use serde::Deserialize;

use super::{Actor, Chat};
use crate::broker::{sse, CatchUp, CatchUpBatch, CatchUpFrom, Full, Scope, Subscriber};
use crate::domain::{parse_query, Action, EventKind, Role, RoomId, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::{events, rooms, Db};

/// Events read back per catch-up query.
const CATCH_UP_BATCH: i64 = 500;
/// A catch-up batch stops taking events once its frames pass this many bytes: a stream
/// whose client reads nothing holds at most one batch.
const CATCH_UP_BYTES: usize = 1024 * 1024;
/// What a client refused for too many streams is told to wait: about the time a closed
/// stream takes to be noticed.
const STREAMS_RETRY_AFTER_SECS: u64 = 5;

/// What a stream request asks for: one room or all of mine, and where to resume. The
/// `Last-Event-ID` header, when there is one, is newer than the query's id (the URL a page
/// opened the stream with) and wins.
#[derive(Debug, Default, Deserialize)]
pub struct StreamRequest {
    pub room_id: Option<RoomId>,
    pub last_event_id: Option<String>,
}

impl StreamRequest {
    /// Reads the request from its query string and `Last-Event-ID` header.
    pub fn parse(query: &str, header_id: Option<String>) -> ApiResult<Self> {
        let mut request: StreamRequest = parse_query(query)?;
        if header_id.is_some() {
            request.last_event_id = header_id;
        }
        Ok(request)
    }
}

fn parse_event_id(text: &str) -> ApiResult<i64> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| ApiError::invalid("last_event_id must be a non-negative integer"))
}

/// Checks a stream request and subscribes it: the event id to resume after, the room, the
/// caller's right to read it. Nothing is left behind when it fails.
/// `credential` is the tag of the sign-in that opens it (`crate::auth::Credential::tag`): its
/// end ends the stream.
pub async fn open(chat: &Chat, user: Actor, credential: u64, request: StreamRequest) -> ApiResult<Subscriber> {
    user.may(Action::Browse)?;
    let StreamRequest { room_id, last_event_id } = request;
    let resume = match last_event_id {
        Some(text) if !text.trim().is_empty() => Some(parse_event_id(&text)?),
        _ => None,
    };
    let scope = room_id.map_or(Scope::AllRooms, |room| Scope::Room(room.get()));
    let me = user.id;
    // Register first: membership changes from now on reach this stream.
    let (registration, control) = chat.hub.register(me.get(), scope, credential).map_err(refused)?;
    // The hub knows the rooms of a user who has a stream open, taken after the registration
    // as a read would be (a room from there needs no `ReadRoom` check beyond `Browse`'s
    // permission, which is the same). The database tells the rest (a membership implies the
    // room), and, whenever the stream resumes, where it stands in the log.
    let known = chat.hub.subscribe_known(me.get(), scope);
    let (receivers, bounds) = match known {
        Some(receivers) if resume.is_none() => (receivers, None),
        known => {
            let read_rooms = known.is_none();
            let (room_ids, bounds) = chat
                .read(move |conn| {
                    let room_ids = match read_rooms {
                        true => rooms::ids_of_member(conn, me)?.into_iter().map(RoomId::get).collect(),
                        false => Vec::new(),
                    };
                    let bounds = if resume.is_some() { Some(events::bounds(conn)?) } else { None };
                    Ok::<_, ApiError>((room_ids, bounds))
                })
                .await?;
            let receivers = match known {
                Some(receivers) => receivers,
                None => {
                    chat.hub.rooms_read(me.get(), &room_ids);
                    match room_id {
                        None => chat.hub.subscribe(&room_ids),
                        Some(room_id) => {
                            let member = room_ids.contains(&room_id.get());
                            user.may(Action::ReadRoom(member.then_some(Role::Member)))?;
                            chat.hub.subscribe(&[room_id.get()])
                        }
                    }
                }
            };
            (receivers, bounds)
        }
    };

    let mut opening = BytesMut::from(&sse::retry(chat.settings.sse_retry_ms)[..]);
    let resume_after = resume.map(|id| {
        // Read whenever the stream resumes.
        let (floor, latest) = bounds.unwrap_or((0, id));
        if id < floor || id > latest {
            // Older than what is kept (or not from this server): the client reloads.
            opening.extend_from_slice(&sse::frame(Some(latest), EventKind::Reset.as_str(), "{}"));
            latest
        } else {
            id
        }
    });
    Ok(Subscriber::new(
        chat.hub.clone(),
        registration,
        control,
        receivers,
        chat.stream_catch_up.clone(),
        opening.freeze(),
        resume_after,
    ))
}

fn refused(full: Full) -> ApiError {
    match full {
        Full::User(limit) => ApiError::TooMany {
            message: format!("at most {limit} streams may be open at once per user; close one first"),
            retry_after_secs: STREAMS_RETRY_AFTER_SECS,
        },
        Full::Server(_) => ApiError::unavailable(
            "the server has as many streams open as it can serve; try again",
            STREAMS_RETRY_AFTER_SECS,
        ),
    }
}

/// Reads what a stream's user may see after an id, from the event log: one for all the
/// server's streams, which keep none of their own.
pub(crate) fn catch_up(db: Db) -> CatchUp {
    Arc::new(move |CatchUpFrom { user_id, room_id, after }| {
        let (user_id, room_id) = (UserId(user_id), room_id.map(RoomId));
        let db = db.clone();
        Box::pin(async move {
            db.run(move |conn| {
                if let Some(room_id) = room_id {
                    if rooms::membership(conn, room_id, user_id)?.is_none() {
                        return Ok(CatchUpBatch { frames: Vec::new(), last_id: None, more: false, revoked: true });
                    }
                }
                let rows = events::visible_after(conn, user_id, room_id, after, CATCH_UP_BATCH)?;
                let mut batch = CatchUpBatch {
                    frames: Vec::new(),
                    last_id: None,
                    more: rows.len() as i64 == CATCH_UP_BATCH,
                    revoked: false,
                };
                let mut bytes = 0;
                for row in &rows {
                    if bytes >= CATCH_UP_BYTES {
                        batch.more = true;
                        break;
                    }
                    let frame = sse::frame(Some(row.id), row.kind.as_str(), &row.payload);
                    bytes += frame.len();
                    batch.frames.push(frame);
                    batch.last_id = Some(row.id);
                }
                Ok::<_, ApiError>(batch)
            })
            .await
            .map_err(|error| tracing::warn!(?error, "stream catch-up failed"))
        })
    })
}
