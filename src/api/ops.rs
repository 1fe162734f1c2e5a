//! Health, readiness and metrics.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::auth::secret;
use crate::chat::Chat;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// 200 while the database answers (and is migrated), 503 otherwise; the body says how the
/// database, the cluster bus and Redis are.
pub async fn readyz(chat: web::Data<Chat>) -> HttpResponse {
    let db = chat.db.clone();
    let database = matches!(web::block(move || db.is_ready()).await, Ok(true));
    let mut body = json!({
        "status": if database { "ready" } else { "unavailable" },
        "database": if database { "ok" } else { "unavailable" },
        "bus": crate::chat::cluster::bus_state(&chat),
    });
    if let Some(redis) = crate::chat::cluster::redis_state(&chat).await {
        body["redis"] = json!(redis);
    }
    if database {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn metrics(chat: web::Data<Chat>, metrics: web::Data<Metrics>, req: HttpRequest) -> ApiResult<HttpResponse> {
    if chat.settings.metrics_loopback_only && !req.peer_addr().is_some_and(|a| a.ip().is_loopback()) {
        return Err(ApiError::Forbidden("metrics are served to loopback addresses only".into()));
    }
    if let Some(token) = &chat.settings.metrics_token {
        let given = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes()).unwrap_or_default();
        if !secret::same(given, format!("Bearer {token}").as_bytes()) {
            return Err(ApiError::Unauthenticated);
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics.render(
        &chat.db,
        &chat.hub,
        chat.tail.as_deref(),
    )))
}
