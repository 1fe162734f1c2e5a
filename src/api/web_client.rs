//! The web client (`web/`), built into the binary so that one file is all a server needs.
//! `CAUSERIE_WEB_DIR` serves a folder instead, for working on the client.

use actix_web::http::header::{self, ETag, EntityTag};
use actix_web::{HttpRequest, HttpResponse};

/// What the client's pages may load and run: only files of this server, no inline script or
/// style, no plug-ins, no framing, no `<base>`. Sent on every file of the client, whether
/// built in or served from `CAUSERIE_WEB_DIR`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

#[derive(rust_embed::Embed)]
#[folder = "web/"]
struct Assets;

pub async fn asset(req: HttpRequest) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(file) = Assets::get(path) else {
        return crate::error::json_error(actix_web::http::StatusCode::NOT_FOUND, "not_found", "no such file");
    };
    let tag = EntityTag::new_strong(hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == tag.to_string()));
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header(ETag(tag))
        // Revalidate every time: the client changes with the binary, and the check is cheap.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY));
    if fresh {
        return response.finish();
    }
    response.content_type(file.metadata.mimetype()).body(file.data.into_owned())
}
