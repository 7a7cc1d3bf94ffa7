//! Password reset: asking for a link (`POST /auth/forgot-password`) and setting the new password
//! with it (`POST /auth/reset-password`, which signs every session out).

use axum::{Json, extract::State};

use super::{
    hashing,
    ratelimit::{ClientIp, check as rate_limit},
    session,
    tokens::{self, Purpose},
    types::{EmailOnly, Message, ResetPassword, message},
};
use crate::{
    api::state::AppState,
    data::users,
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid},
        http::extract::Body,
    },
};

/// Mails a reset link to an active account. The same status, body and time whether or not one
/// exists (no account probing): the mail goes out in the background, and a second request within
/// a minute sends nothing (the original answered that with a 429, which told the accounts apart).
#[utoipa::path(
    post, path = "/api/v1/auth/forgot-password", tag = "auth",
    request_body = EmailOnly,
    responses(
        (status = 200, body = Message),
        Invalid,
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<EmailOnly>,
) -> ApiResult<Json<Message>> {
    rate_limit(&state, "forgot-password", 5, &ip).await?;
    let mut db = state.db.writer().await?;
    if let Some(account) = users::active_by_email(&mut db, &body.email).await? {
        tokens::send_detached(&state, account.id, account.email, Purpose::Reset);
    }
    Ok(message("비밀번호 재설정 이메일이 발송되었습니다. 이메일을 확인해주세요."))
}

/// Sets the new password and revokes every session of the account.
#[utoipa::path(
    post, path = "/api/v1/auth/reset-password", tag = "auth",
    request_body = ResetPassword,
    responses(
        (status = 200, body = Message),
        (status = 400, description = "Invalid or expired password reset token", body = ErrorBody),
        Invalid,
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<ResetPassword>,
) -> ApiResult<Json<Message>> {
    rate_limit(&state, "reset-password", 5, &ip).await?;
    const INVALID_TOKEN: &str = "Invalid or expired password reset token";
    // The token first: a made-up one costs a lookup, not a hash.
    let mut db = state.db.writer().await?;
    if !tokens::is_valid(&mut db, &body.token, Purpose::Reset).await? {
        return Err(ApiError::bad_request(INVALID_TOKEN));
    }
    drop(db);
    let hash = hashing::hash(body.password).await?;
    let mut db = state.db.writer().await?;
    // Used once: of two concurrent resets with one token, one wins.
    let user_id = tokens::consume(&mut db, &body.token, Purpose::Reset)
        .await?
        .ok_or_else(|| ApiError::bad_request(INVALID_TOKEN))?;
    users::set_password(&mut db, user_id, &hash).await?;
    session::revoke(&state, &mut db, user_id, None).await?;
    state.writes.committed(&mut db, user_id, &[]).await?;
    Ok(message("비밀번호가 재설정되었습니다. 새 비밀번호로 로그인해주세요."))
}
