//! HTTP handlers, one file per resource; all routes in `configure`, top to bottom.
//! Handlers are thin: parse -> authorize -> store (in one transaction) -> publish.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod members;
pub mod messages;
pub mod openapi;
pub mod ops;
pub mod rooms;
pub mod stream;
pub mod web_client;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{PathError, QueryPayloadError};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

use crate::broker::Outbox;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::DbConn;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|err, _| path_error(err).into()))
        .app_data(web::QueryConfig::default().error_handler(|err, _| query_error(err).into()))
        .service(
            // Sending and streaming first: actix-web tries the patterns in order, and every
            // pattern with a `{segment}` is matched as a regular expression. No two patterns
            // here match the same path, so the order changes nothing else.
            web::scope("/chat/api")
                .service(web::resource("/messages").route(web::post().to(messages::send)))
                .service(web::resource("/stream").route(web::get().to(stream::open)))
                .service(web::resource("/auth/login").route(web::post().to(auth::login)))
                .service(web::resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(web::resource("/me").route(web::get().to(auth::me)))
                .service(
                    web::resource("/me/tokens")
                        .route(web::get().to(auth::list_tokens))
                        .route(web::post().to(auth::create_token)),
                )
                .service(web::resource("/me/tokens/{id}").route(web::delete().to(auth::revoke_token)))
                .service(web::resource("/users").route(web::get().to(admin::search_users)))
                .service(
                    web::resource("/admin/users")
                        .route(web::get().to(admin::list_users))
                        .route(web::post().to(admin::create_user)),
                )
                .service(web::resource("/admin/users/{id}").route(web::patch().to(admin::update_user)))
                .service(web::resource("/rooms").route(web::get().to(rooms::list)).route(web::post().to(rooms::create)))
                .service(web::resource("/channels").route(web::get().to(rooms::channels)))
                .service(
                    web::resource("/rooms/{id}").route(web::get().to(rooms::get)).route(web::patch().to(rooms::rename)),
                )
                .service(web::resource("/rooms/{id}/join").route(web::post().to(rooms::join)))
                .service(
                    web::resource("/rooms/{id}/members")
                        .route(web::get().to(members::list))
                        .route(web::post().to(members::add)),
                )
                .service(
                    web::resource("/rooms/{id}/members/{user_id}")
                        .route(web::patch().to(members::update))
                        .route(web::delete().to(members::remove)),
                )
                .service(web::resource("/rooms/{id}/messages").route(web::get().to(messages::list)))
                .service(web::resource("/rooms/{id}/read").route(web::post().to(messages::mark_read)))
                .service(web::resource("/rooms/{id}/typing").route(web::post().to(messages::typing)))
                .service(web::resource("/rooms/{id}/attachments").route(web::get().to(attachments::list)))
                .service(
                    web::resource("/messages/{id}")
                        .route(web::patch().to(messages::edit))
                        .route(web::delete().to(messages::delete)),
                )
                .service(web::resource("/messages/{id}/reads").route(web::get().to(messages::receipts)))
                .service(web::resource("/attachments/{id}").route(web::get().to(attachments::download)))
                .service(web::resource("/attachments/{id}/thumbnail").route(web::get().to(attachments::thumbnail)))
                .service(web::resource("/openapi.json").route(web::get().to(openapi::document)))
                .default_service(web::to(not_found)),
        )
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics));
}

async fn not_found() -> ApiResult<HttpResponse> {
    Err(ApiError::NotFound("no such endpoint".into()))
}

fn path_error(err: PathError) -> ApiError {
    ApiError::invalid(format!("invalid path parameter: {err}"))
}

fn query_error(err: QueryPayloadError) -> ApiError {
    ApiError::invalid(format!("invalid query: {err}"))
}

/// Runs `f` in one transaction on the writer thread, then publishes what it recorded in
/// its outbox, in commit order.
pub async fn commit<T, F>(state: &AppState, f: F) -> ApiResult<T>
where
    F: FnOnce(&mut DbConn, &mut Outbox) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    commit_then(state, f, |_| {}).await
}

/// Like `commit`; `after_commit` runs on the writer thread once the transaction has
/// committed, whether or not the caller is still waiting (a client may hang up).
pub async fn commit_then<T, F, A>(state: &AppState, f: F, after_commit: A) -> ApiResult<T>
where
    F: FnOnce(&mut DbConn, &mut Outbox) -> ApiResult<T> + Send + 'static,
    A: FnOnce(&mut T) + Send + 'static,
    T: Send + 'static,
{
    let hub = state.hub.clone();
    let (value, _) = state
        .db
        .write(
            move |conn| {
                let mut outbox = Outbox::default();
                let value = f(conn, &mut outbox)?;
                Ok::<_, ApiError>((value, outbox))
            },
            move |(value, outbox): &mut (T, Outbox)| {
                after_commit(value);
                hub.publish(outbox.take());
            },
        )
        .await?;
    Ok(value)
}

/// A JSON body: any content type is read as JSON, the body is bounded, and a refusal
/// names the field at fault (`room_id: invalid type: string "x", expected i64`).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<web::Data<AppState>>().map(|s| s.settings.max_json_bytes).unwrap_or(256 * 1024);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|e| body_error(e, limit))?;
            parse_json(&bytes).map(Json)
        })
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() {
            ApiError::invalid(format!("malformed JSON body: {inner}"))
        } else {
            ApiError::invalid(format!("{path}: {inner}"))
        }
    })
}

pub(crate) fn body_error(err: actix_web::Error, limit: usize) -> ApiError {
    let overflow =
        matches!(err.as_error::<actix_web::error::PayloadError>(), Some(actix_web::error::PayloadError::Overflow));
    let text = err.to_string();
    if overflow || text.contains("size limit") || text.contains("overflow") {
        ApiError::TooLarge(format!("the body is larger than {limit} bytes"))
    } else {
        ApiError::invalid(format!("could not read the body: {text}"))
    }
}

pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

pub fn created<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Created().json(body)
}

pub fn ok<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}
