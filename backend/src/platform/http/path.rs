//! Path parameters with the contract's 422 instead of axum's plain-text 400: `IdPath` (one
//! integer id), `IdsPath` (two) and `TextPath` (one string). A segment that is not UTF-8 once
//! percent-decoded, or that holds a NUL character, is a 422 too.

use axum::{
    extract::{FromRequestParts, RawPathParams, rejection::RawPathParamsRejection},
    http::request::Parts,
};
use serde_json::Value;

use super::text::nul_error;
use crate::platform::error::{ApiError, FieldError};

/// The route's single integer path parameter (`/diaries/{diary_id}`); a non-integer gives 422 with
/// `loc: ["path", "diary_id"]`.
pub struct IdPath(pub i64);

/// The route's two integer path parameters, in order (`/chats/{chat_id}/messages/{message_id}`).
pub struct IdsPath(pub i64, pub i64);

/// The route's single string path parameter (`/users/search/{username}`).
pub struct TextPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        let (key, value) = params.first().ok_or_else(no_parameter)?;
        integer(key, value).map(Self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdsPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = params(parts, state).await?;
        let [(k1, v1), (k2, v2)] = params.as_slice() else { return Err(no_parameter()) };
        // Both reported at once when both are wrong, like pydantic.
        match (integer(k1, v1), integer(k2, v2)) {
            (Ok(a), Ok(b)) => Ok(Self(a, b)),
            (Err(ApiError::Validation(mut a)), Err(ApiError::Validation(b))) => {
                a.extend(b);
                Err(ApiError::Validation(a))
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TextPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut params = params(parts, state).await?;
        if params.is_empty() {
            return Err(no_parameter());
        }
        let (key, value) = params.swap_remove(0);
        if value.contains('\0') {
            return Err(ApiError::Validation(vec![nul_error(vec!["path".into(), key.into()], &value)]));
        }
        Ok(Self(value))
    }
}

async fn params<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Vec<(String, String)>, ApiError> {
    let raw_path = parts.uri.path().to_owned();
    match RawPathParams::from_request_parts(parts, state).await {
        Ok(params) => Ok(params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()),
        // The still percent-encoded path is the input: the decoded bytes are not a string.
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => Err(ApiError::Validation(vec![FieldError::new(
            "string_unicode",
            vec!["path".into()],
            "Input should be a valid string, unable to parse raw data as a unicode string",
            Value::String(raw_path),
        )])),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!("path params: {e}"))),
    }
}

fn integer(key: &str, value: &str) -> Result<i64, ApiError> {
    value.parse::<i64>().map_err(|_| {
        ApiError::Validation(vec![FieldError::new(
            "int_parsing",
            vec!["path".into(), key.into()],
            "Input should be a valid integer, unable to parse string as an integer",
            value.into(),
        )])
    })
}

fn no_parameter() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("the route lacks the path parameters its extractor reads"))
}
