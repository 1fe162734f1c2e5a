//! Searching the messages of my rooms.

use std::cmp::Reverse;

use super::access::room_and_role;
use super::{views, Actor, Chat};
use crate::domain::search::SearchQuery;
use crate::domain::views::{SearchResult, SearchResults};
use crate::domain::{Action, MessageId, RoomId, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::search::Scope;
use crate::store::{messages, search};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 50;

/// What to look for, and where.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: Option<String>,
    pub room_id: Option<RoomId>,
    pub from: Option<UserId>,
    pub before: Option<MessageId>,
    pub limit: Option<i64>,
}

/// Messages of my rooms that match the query, newest first, each with a highlighted
/// excerpt. A room named by `room_id` that I am not in answers 404, as its other endpoints
/// do; rooms I left are searched no more.
pub async fn search(chat: &Chat, user: Actor, request: SearchRequest) -> ApiResult<SearchResults> {
    let query = SearchQuery::parse(request.q.as_deref().unwrap_or_default())?;
    let limit = match request.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid(format!("limit: must be between 1 and {MAX_LIMIT}"))),
    };
    user.may(Action::Browse)?;
    chat.searches.spend(user.id)?;
    chat.read(move |conn| {
        if let Some(room_id) = request.room_id {
            let (_, role) = room_and_role(conn, room_id, user.id)?;
            user.may(Action::ReadRoom(role))?;
        }
        let scope = Scope {
            member: user.id,
            room_id: request.room_id,
            sender_id: request.from,
            before: request.before,
            limit: limit + 1,
        };
        let mut ids = search::matches(conn, &query, &scope)?;
        let has_more = ids.len() as i64 > limit;
        ids.truncate(limit as usize);
        let mut rows = messages::by_ids(conn, &ids)?;
        rows.sort_unstable_by_key(|row| Reverse(row.id));
        let results = views::messages(conn, &rows, None)?
            .into_iter()
            .map(|message| SearchResult { highlight: query.highlight(&message.content), message })
            .collect();
        Ok(SearchResults { results, has_more })
    })
    .await
}
