//! One error type for every handler, rendered as the contract's
//! `{"error": {"code", "message"}}`.
//!
//! Policy: store code returns `QueryResult`, handlers return `ApiError`, start-up and the
//! CLI use `anyhow`. diesel's `NotFound` -> 404, a unique violation -> 409, no pooled
//! connection -> 503; anything else is logged with its cause and answered as a plain 500
//! that shows no internals.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde_json::json;

use crate::domain::permissions::Denied;
use crate::domain::InvalidInput;
use crate::store::DbError;

#[derive(thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    UnauthenticatedBecause(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// One caller holds as many of something as one caller may (open streams): 429.
    #[error("{message}")]
    TooMany { message: String, retry_after_secs: u64 },
    /// The server has no room for the request now (database connections, image memory,
    /// open streams): 503, with `Retry-After`.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u64,
        #[source]
        cause: Option<anyhow::Error>,
    },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// 503: no room for the request now; the client may retry after `retry_after_secs`.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::Unavailable { message: message.into(), retry_after_secs, cause: None }
    }

    /// When the client may try again, for the `Retry-After` header.
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs }
            | Self::TooMany { retry_after_secs, .. }
            | Self::Unavailable { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "invalid_input",
            Self::Unauthenticated | Self::UnauthenticatedBecause(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::RateLimited { .. } | Self::TooMany { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl std::fmt::Debug for ApiError {
    /// The cause chain, for the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::UnauthenticatedBecause(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } | Self::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(_) | Self::Unavailable { cause: Some(_), .. } => {
                tracing::error!(error = ?self, "request failed");
            }
            Self::Unavailable { cause: None, .. } => tracing::warn!(error = ?self, "request refused"),
            _ => {}
        }
        let mut response = json_error(self.status_code(), self.code(), &self.to_string());
        if let Some(seconds) = self.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

/// The contract's error body.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": {"code": code, "message": message}}))
}

impl From<DieselError> for ApiError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => Self::not_found("object"),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Self::Conflict("that already exists".into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Pool(_) | DbError::NoConnection => Self::Unavailable {
                message: "the service is busy; try again".into(),
                retry_after_secs: 1,
                cause: Some(error.into()),
            },
            DbError::Task => Self::Internal(error.into()),
        }
    }
}

impl From<InvalidInput> for ApiError {
    fn from(error: InvalidInput) -> Self {
        Self::InvalidInput(error.0)
    }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::NotFound => Self::not_found("room"),
            Denied::Forbidden(why) => Self::Forbidden(why.into()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
