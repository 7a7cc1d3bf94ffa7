//! The one error type at the HTTP edge and its wire shape: `{"detail": "..."}` for business errors,
//! `{"detail": [{type, loc, msg, input, ctx?}]}` for 422 validation errors (FastAPI's shapes, which
//! the frontend reads).
//!
//! Policy: handlers return `ApiError`; data helpers return `db::Error`, whose constraint
//! violations are mapped here by *constraint name* (never by message text), whose outages and
//! timeouts answer 503, and whose other failures become `Internal`, logged once here, inside the
//! request's span, with the cause chain, and answered with an opaque body. Start-up code uses
//! `anyhow` with `.context(..)`; jobs use `jobs::JobError`, which keeps a `db::Error` as its source.

use std::borrow::Cow;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::platform::db;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bad request: {0}")]
    BadRequest(Cow<'static, str>),
    /// 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(Cow<'static, str>),
    #[error("not found: {0}")]
    NotFound(Cow<'static, str>),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("too many requests: {0}")]
    TooManyRequests(Cow<'static, str>),
    /// 429 with its own `Retry-After`: a limit that resets at a known time (a monthly budget).
    #[error("limit reached until later: {detail}")]
    RetryAfter { detail: Cow<'static, str>, seconds: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    /// A dependency (database, pool) is unavailable or too slow; safe to retry.
    #[error("service unavailable: {0}")]
    Unavailable(Cow<'static, str>),
    /// A job the request waits for did not finish within the bound.
    #[error("gateway timeout: {0}")]
    GatewayTimeout(Cow<'static, str>),
    /// The job behind the request failed for good (after its retries): 500 with the contract's
    /// clear `detail`, never a generic substitute result.
    #[error("job failed: {0}")]
    JobFailed(Cow<'static, str>),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::BadRequest(detail.into())
    }
    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::NotFound(detail.into())
    }
    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(detail.into())
    }
    pub fn too_many(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::TooManyRequests(detail.into())
    }
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) | Self::RetryAfter { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::JobFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Self::RetryAfter { seconds, .. } => *seconds,
            _ => 60,
        };
        let detail: Value = match self {
            Self::BadRequest(d)
            | Self::Forbidden(d)
            | Self::NotFound(d)
            | Self::TooManyRequests(d)
            | Self::GatewayTimeout(d)
            | Self::JobFailed(d) => d.into(),
            Self::Unauthorized(d) => d.into(),
            Self::Validation(errors) => json!(errors),
            Self::PayloadTooLarge => "Request body too large".into(),
            Self::RetryAfter { detail, .. } => detail.into(),
            Self::Unavailable(why) => {
                tracing::warn!(%why, "dependency unavailable");
                "Service temporarily unavailable".into()
            }
            Self::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "Internal Server Error".into()
            }
        };
        let mut response = (status, Json(json!({ "detail": detail }))).into_response();
        let headers = response.headers_mut();
        match status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            // When to try again: the rate limits count per minute; an unavailable dependency or a
            // full hashing pool is worth a retry at once.
            StatusCode::TOO_MANY_REQUESTS => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// Unique constraints whose violation is the client's doing, and the contract's `detail` for each.
const CONSTRAINT_DETAILS: &[(&str, &str)] = &[
    ("users_email_key", "Email already registered"),
    ("users_username_key", "Username already taken"),
    ("diaries_user_date_key", "Diary already exists for this date"),
];

impl From<db::Error> for ApiError {
    fn from(err: db::Error) -> Self {
        if let Some(detail) = err
            .constraint()
            .and_then(|c| CONSTRAINT_DETAILS.iter().find(|(name, _)| *name == c))
            .map(|(_, detail)| *detail)
        {
            return Self::bad_request(detail);
        }
        if err.is_transient() {
            return Self::Unavailable(format!("{:#}", anyhow::Error::new(err)).into());
        }
        Self::Internal(anyhow::Error::new(err))
    }
}

/// A business error: `{"detail": "<exact string from the contract>"}` (its OpenAPI schema).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub detail: String,
}

/// The `401` every endpoint behind a session can answer, for `#[utoipa::path(responses(..))]`.
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "Not authenticated")]
pub struct Unauthenticated(#[allow(dead_code)] ErrorBody);

/// The `422` every endpoint that reads a body, a query or a path id can answer.
#[derive(utoipa::IntoResponses)]
#[response(status = 422, description = "Validation error")]
pub struct Invalid(#[allow(dead_code)] ValidationErrorBody);

/// A validation error: `{"detail": [{type, loc, msg, input, ctx?}]}` (pydantic's shape).
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
}

/// One entry of a 422 `detail` list, shaped like pydantic v2's errors.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct FieldError {
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: Cow<'static, str>,
    /// Where: `body`, `query` or `path`, then field names and list indexes.
    #[schema(value_type = Vec<Value>)]
    pub loc: Vec<Value>,
    #[schema(value_type = String)]
    pub msg: Cow<'static, str>,
    /// The offending value, of whatever JSON type it was.
    #[schema(value_type = Value)]
    pub input: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

impl FieldError {
    pub fn new(
        kind: impl Into<Cow<'static, str>>,
        loc: Vec<Value>,
        msg: impl Into<Cow<'static, str>>,
        input: Value,
    ) -> Self {
        Self { kind: kind.into(), loc, msg: msg.into(), input, ctx: None }
    }
    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}
