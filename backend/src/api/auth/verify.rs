//! E-mail verification: following the mailed link (`GET /auth/verify-email`, which also signs
//! the user in) and asking for a new one (`POST /auth/resend-verification`).

use axum::{Json, extract::State};

use super::{
    ratelimit::{ClientIp, check as rate_limit},
    session,
    tokens::{self, Purpose},
    types::{EmailOnly, Message, TokenQuery, Verified, message},
};
use crate::{
    api::state::AppState,
    data::users,
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid},
        http::extract::{Body, QueryParams},
    },
};

#[utoipa::path(
    get, path = "/api/v1/auth/verify-email", tag = "auth",
    params(TokenQuery),
    responses(
        (status = 200, body = Verified),
        (status = 400, description = "Invalid or expired verification token", body = ErrorBody),
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn verify_email(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<TokenQuery>,
) -> ApiResult<Json<Verified>> {
    let mut db = state.db.writer().await?;
    let user_id = tokens::consume(&mut db, &q.token, Purpose::Verify)
        .await?
        .ok_or_else(|| ApiError::bad_request("Invalid or expired verification token"))?;
    users::mark_verified(&mut db, user_id).await?;
    state.redis.del(&[crate::api::users::cache_key(&state.redis, user_id)]).await;
    let token = session::create(&state, &mut db, user_id).await?;
    state.writes.committed(&mut db, user_id, &[]).await?;
    Ok(Json(Verified {
        message: "이메일 인증이 완료되었습니다.".into(),
        access_token: token,
        token_type: "bearer".into(),
    }))
}

/// Mails a new link to an account that has not verified its address. The same status, body and
/// time whether or not one exists (no account probing): see `forgot_password`.
#[utoipa::path(
    post, path = "/api/v1/auth/resend-verification", tag = "auth",
    request_body = EmailOnly,
    responses(
        (status = 200, body = Message),
        Invalid,
        (status = 429, description = "Too many requests from this address", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn resend_verification(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<EmailOnly>,
) -> ApiResult<Json<Message>> {
    rate_limit(&state, "resend-verification", 3, &ip).await?;
    let mut db = state.db.writer().await?;
    if let Some(account) = users::unverified_by_email(&mut db, &body.email).await? {
        tokens::send_detached(&state, account.id, account.email, Purpose::Verify);
    }
    Ok(message("인증 이메일이 발송되었습니다. 이메일을 확인해주세요."))
}
