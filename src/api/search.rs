//! Message search.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{ok, Query};
use crate::auth::CurrentUser;
use crate::chat::search::{self, SearchRequest};
use crate::chat::Chat;
use crate::domain::{MessageId, RoomId, UserId};
use crate::error::ApiResult;

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    room_id: Option<RoomId>,
    from: Option<UserId>,
    before: Option<MessageId>,
    limit: Option<i64>,
}

pub async fn messages(chat: web::Data<Chat>, user: CurrentUser, query: Query<SearchQuery>) -> ApiResult<HttpResponse> {
    let SearchQuery { q, room_id, from, before, limit } = query.into_inner();
    let found = search::search(&chat, user.into_actor(), SearchRequest { q, room_id, from, before, limit }).await?;
    Ok(ok(&found))
}
