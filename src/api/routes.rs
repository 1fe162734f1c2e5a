//! Every route, top to bottom.

use actix_web::error::PathError;
use actix_web::middleware::from_fn;
use actix_web::web;

use super::{admin, attachments, auth, members, messages, openapi, ops, rooms, search, stream};
use crate::error::{ApiError, ApiResult};

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
                .service(web::resource("/me/mentions").route(web::get().to(messages::mentions)))
                .service(web::resource("/me/tokens/{id}").route(web::delete().to(auth::revoke_token)))
                .service(web::resource("/users").route(web::get().to(admin::search_users)))
                .service(web::resource("/uploads/rules").route(web::get().to(attachments::rules)))
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
                .service(web::resource("/search").route(web::get().to(search::messages)))
                .service(
                    web::resource("/messages/{id}/reactions/{emoji}")
                        .route(web::put().to(messages::add_reaction))
                        .route(web::delete().to(messages::remove_reaction)),
                )
                .service(
                    web::resource("/messages/{id}/pin")
                        .route(web::put().to(messages::pin))
                        .route(web::delete().to(messages::unpin)),
                )
                .service(web::resource("/rooms/{id}/pins").route(web::get().to(messages::pins)))
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

async fn not_found(req: actix_web::HttpRequest) -> ApiResult<actix_web::HttpResponse> {
    // A reaction with an empty emoji matches no route (a segment is never empty), but it is
    // a bad emoji rather than an unknown endpoint.
    let path = req.path();
    if path.starts_with("/chat/api/messages/") && path.ends_with("/reactions/") && path.matches('/').count() == 6 {
        return Err(ApiError::invalid("emoji: must be exactly one emoji"));
    }
    Err(ApiError::NotFound("no such endpoint".into()))
}

fn path_error(err: PathError) -> ApiError {
    ApiError::invalid(format!("invalid path parameter: {err}"))
}
