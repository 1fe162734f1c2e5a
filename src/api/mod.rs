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
use actix_web::error::{PathError, PayloadError};
use actix_web::middleware::from_fn;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

use crate::broker::Outbox;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::DbConn;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PathConfig::default().error_handler(|err, _| path_error(err).into()))
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
                .service(
                    web::resource("/attachments/{id}")
                        .wrap(from_fn(attachments::ignore_malformed_ranges))
                        .route(web::get().to(attachments::download)),
                )
                .service(
                    web::resource("/attachments/{id}/thumbnail")
                        .wrap(from_fn(attachments::ignore_malformed_ranges))
                        .route(web::get().to(attachments::thumbnail)),
                )
                .service(web::resource("/openapi.json").route(web::get().to(openapi::document)))
                .default_service(web::to(not_found)),
        )
        // Resources rather than bare routes: a bare route's method guard would let any other
        // method fall through to the web client (404) instead of answering 405. HEAD answers
        // as GET without the body, for probes that use it.
        .service(web::resource("/healthz").route(web::route().guard(get_or_head()).to(ops::healthz)))
        .service(web::resource("/readyz").route(web::route().guard(get_or_head()).to(ops::readyz)))
        .service(web::resource("/metrics").route(web::route().guard(get_or_head()).to(ops::metrics)));
}

fn get_or_head() -> impl actix_web::guard::Guard {
    actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head())
}

async fn not_found() -> ApiResult<HttpResponse> {
    Err(ApiError::NotFound("no such endpoint".into()))
}

fn path_error(err: PathError) -> ApiError {
    ApiError::invalid(format!("invalid path parameter: {err}"))
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

/// A JSON body: any content type is read as JSON, the body is bounded, it must be one JSON
/// object, and a refusal names the field at fault (`room_id: invalid type: string "x",
/// expected i64`).
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
    let limit = req.app_data::<web::Data<AppState>>().map(|s| s.settings.max_json_bytes).unwrap_or(256 * 1024);
    let body = web::Bytes::from_request(req, payload);
    async move {
        let bytes = body.await.map_err(|e| body_error(e, limit))?;
        if may_be_empty && bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_json(&bytes).map(Some)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::invalid("a JSON body is required")),
        // Every body is an object; serde would also read a struct from an array of its
        // fields in order (`[1, "hi", null]`), which no client means.
        Some(b'{') => {}
        Some(_) => return Err(ApiError::invalid("malformed JSON body: expected a JSON object")),
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut *deserializer).map_err(|e| naming_the_field(e, "malformed JSON body"))?;
    // One JSON value: `{"a":1} {"a":2}` or `{…} trailing` is malformed, not its first value.
    deserializer.end().map_err(|inner| ApiError::invalid(format!("malformed JSON body: {inner}")))?;
    Ok(value)
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
        std::future::ready(parse_query(req.query_string()).map(Query))
    }
}

/// Parses a query string (`a=1&b=x`) into `T`; the error names the parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> ApiResult<T> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| naming_the_field(e, "invalid query"))
}

/// A refusal that names the field at fault (`room_id: …`), or says `whole: …` when the
/// fault is not in one field (`?` is the path of a place serde could not name).
fn naming_the_field<E: std::fmt::Display>(err: serde_path_to_error::Error<E>, whole: &str) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    match path.as_str() {
        "." | "?" | "" => ApiError::invalid(format!("{whole}: {inner}")),
        _ => ApiError::invalid(format!("{path}: {inner}")),
    }
}

pub(crate) fn body_error(err: actix_web::Error, limit: usize) -> ApiError {
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

pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

pub fn created<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Created().json(body)
}

pub fn ok<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}
