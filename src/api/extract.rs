//! Extractors: the signed-in caller, and JSON bodies and query strings read into typed
//! values within the body limit, with refusals in the contract's shape.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::auth::{authenticate, credential, csrf, Credential, CurrentUser, SESSION_COOKIE};
use crate::chat::Chat;
use crate::domain::{parse_json, parse_query};
use crate::error::{ApiError, ApiResult};

/// A JSON body: labelled `application/json` (or `…+json`), bounded, one JSON object, and a
/// refusal names the field at fault (`room_id: invalid type: string "x", expected i64`).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body::<T>(req, payload, false);
        Box::pin(async move { body.await?.map(Json).ok_or_else(|| ApiError::invalid("a JSON body is required")) })
    }
}

/// Like [`Json`] for a body that may be left out: an empty body is `None`; a body that is
/// there must be valid.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = json_body::<T>(req, payload, true);
        Box::pin(async move { body.await.map(OptionalJson) })
    }
}

/// Reads the bounded body and parses it; an empty one is `None` when `may_be_empty`.
fn json_body<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
    may_be_empty: bool,
) -> impl Future<Output = ApiResult<Option<T>>> + 'static {
    let limit = req.app_data::<web::Data<Chat>>().map(|c| c.settings.max_json_bytes).unwrap_or(256 * 1024);
    let labelled = json_label(req);
    let body = web::Bytes::from_request(req, payload);
    async move {
        let labelled = labelled?;
        let bytes = body.await.map_err(|e| body_error(e, limit))?;
        require_label(labelled, &bytes)?;
        if may_be_empty && bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        Ok(Some(parse_json(&bytes)?))
    }
}

/// Whether the request says its body is JSON: `Ok(true)` for `application/json` or
/// `application/…+json`, `Ok(false)` without a `Content-Type`, 415 for any other type. A
/// cross-site form can post `text/plain` or a form encoding without asking first; it cannot
/// post JSON so labelled.
pub fn json_label(req: &HttpRequest) -> ApiResult<bool> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else { return Ok(false) };
    let essence = value.to_str().unwrap_or("").split(';').next().unwrap_or("").trim();
    let json = essence.eq_ignore_ascii_case("application/json")
        || essence.get(..12).is_some_and(|kind| kind.eq_ignore_ascii_case("application/"))
            && essence.get(12..).is_some_and(|sub| {
                sub.len() > 5 && sub.get(sub.len() - 5..).is_some_and(|end| end.eq_ignore_ascii_case("+json"))
            });
    if json {
        Ok(true)
    } else {
        Err(ApiError::UnsupportedMediaType("the body must be JSON, sent as Content-Type: application/json".into()))
    }
}

/// A body without a `Content-Type` is refused too (415); an empty one needs none.
pub fn require_label(labelled: bool, bytes: &[u8]) -> ApiResult<()> {
    if labelled || bytes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType("a body needs Content-Type: application/json".into()))
    }
}

/// Query parameters, parsed so that a refusal names the parameter at fault
/// (`limit: invalid digit found in string`).
pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(Query).map_err(ApiError::from))
    }
}

pub fn body_error(err: actix_web::Error, limit: usize) -> ApiError {
    let overflow = matches!(err.as_error::<PayloadError>(), Some(PayloadError::Overflow));
    let text = err.to_string();
    if overflow || text.contains("size limit") || text.contains("overflow") {
        return ApiError::TooLarge(format!("the body is larger than {limit} bytes"));
    }
    // Some payload errors print their inner error with `Debug`: say what went wrong instead.
    let why = match err.as_error::<PayloadError>() {
        Some(PayloadError::Incomplete(_) | PayloadError::Io(_)) => {
            "it ended early, or does not decode with its Content-Encoding".to_owned()
        }
        Some(PayloadError::EncodingCorrupted) => "it does not decode with its Content-Encoding".to_owned(),
        _ => text,
    };
    ApiError::invalid(format!("could not read the body: {why}"))
}

fn changes_state(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PATCH | Method::PUT | Method::DELETE)
}

/// The authenticated caller, for every handler that takes one; cookie-authenticated writes
/// must pass the cross-site check.
impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let chat = req.app_data::<web::Data<Chat>>().cloned();
        let authorization = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
        let cookie = req.cookie(SESSION_COOKIE);
        let credential = credential(authorization, cookie.as_ref().map(|c| c.value()));
        let csrf = match &credential {
            Ok(Some((Credential::Session(_), _))) if changes_state(req.method()) => {
                let public_url = chat.as_ref().and_then(|c| c.settings.public_url.clone());
                csrf::check(req, public_url.as_deref())
            }
            _ => Ok(()),
        };
        Box::pin(async move {
            let chat = chat.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no application state")))?;
            let Some((credential, hash)) = credential? else { return Err(ApiError::Unauthenticated) };
            let user = authenticate(&chat.auth_cache, &chat.db, credential, hash).await?;
            // Authentication first: a stranger learns nothing from a CSRF refusal.
            csrf?;
            tracing::Span::current().record("user_id", user.id.get());
            Ok(user)
        })
    }
}
