//! Responses: success bodies, and the contract's error shape where actix-web or the file
//! server answer by themselves.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

use crate::error::json_error;

pub fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

pub fn created<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Created().json(body)
}

pub fn ok<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

/// Answers smaller than this go out uncompressed: compressing a few hundred bytes (a sent
/// message, an error) saves less on the wire than setting the encoder up costs, and a
/// brotli encoder starts by allocating its window.
const COMPRESS_FROM_BYTES: u64 = 1024;

/// Middleware, inside `Compress`: marks a small answer `Content-Encoding: identity`, which
/// `Compress` leaves as it is.
pub async fn plain_when_small(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::body::BodySize;
    use actix_web::http::header::{HeaderValue, CONTENT_ENCODING};
    let mut response = next.call(req).await?;
    let small = matches!(response.response().body().size(), BodySize::Sized(n) if n > 0 && n < COMPRESS_FROM_BYTES);
    if small && !response.headers().contains_key(CONTENT_ENCODING) {
        response.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
    }
    Ok(response)
}

/// Middleware hook: actix answers a known path with the wrong method by itself, with an
/// empty body; give it the contract's shape and the `Allow` header RFC 9110 asks for.
pub fn method_not_allowed<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    let (req, _) = res.into_parts();
    let mut body = json_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this path");
    let allowed = req.match_pattern().and_then(|pattern| super::openapi::allowed_methods(&pattern));
    if let Some(value) = allowed.and_then(|methods| header::HeaderValue::from_str(&methods).ok()) {
        body.headers_mut().insert(header::ALLOW, value);
    }
    let res = actix_web::dev::ServiceResponse::new(req, body).map_into_boxed_body().map_into_right_body();
    Ok(actix_web::middleware::ErrorHandlerResponse::Response(res))
}

/// Middleware hook: the file server answers a range outside the file with 416 and an empty
/// body; give it the contract's shape, keeping its `Content-Range: bytes */LENGTH`.
pub fn range_not_satisfiable<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    let (req, res) = res.into_parts();
    let mut body = json_error(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "range_not_satisfiable",
        "the requested range is outside the file",
    );
    if let Some(range) = res.headers().get(header::CONTENT_RANGE) {
        body.headers_mut().insert(header::CONTENT_RANGE, range.clone());
    }
    let res = actix_web::dev::ServiceResponse::new(req, body).map_into_boxed_body().map_into_right_body();
    Ok(actix_web::middleware::ErrorHandlerResponse::Response(res))
}
