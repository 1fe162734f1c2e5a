//! Attachments: upload with a message, list a room's files, download.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

pub async fn send_with_files(
    _state: web::Data<AppState>,
    _user: CurrentUser,
    _req: HttpRequest,
    _payload: web::Payload,
) -> ApiResult<HttpResponse> {
    Err(ApiError::UnsupportedMediaType("file uploads are not enabled on this server".into()))
}

pub async fn list(_user: CurrentUser) -> ApiResult<HttpResponse> {
    Err(ApiError::not_found("attachments"))
}

pub async fn download(_user: CurrentUser) -> ApiResult<HttpResponse> {
    Err(ApiError::not_found("attachment"))
}

pub async fn thumbnail(_user: CurrentUser) -> ApiResult<HttpResponse> {
    Err(ApiError::not_found("attachment"))
}
