//! `POST /auth/register`: a new account, verified at once or sent a verification mail.

use axum::{Json, extract::State, http::StatusCode};

use super::{
    hashing,
    ratelimit::{ClientIp, check as rate_limit},
    tokens::{self, Purpose},
    types::{Register, Registered},
};
use crate::{
    api::state::AppState,
    data::users,
    platform::{
        error::{ApiResult, ErrorBody, Invalid},
        http::extract::Body,
    },
};

#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = Register,
    responses(
        (status = 201, body = Registered),
        (status = 400, description = "Email already registered | Username already taken", body = ErrorBody),
        Invalid,
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<Register>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    rate_limit(&state, "register", 3, &ip).await?;
    let hash = hashing::hash(body.password).await?;
    let verified = state.settings.auto_verify_email;
    let mut db = state.db.writer().await?;
    let id = users::insert(&mut db, &body.email, &body.username, &hash, verified).await?;
    metrics::counter!("users_registered_total").increment(1);
    let message = if verified {
        "회원가입이 완료되었습니다. 바로 로그인할 수 있습니다."
    } else {
        match tokens::send(&state, &mut db, id, &body.email, Purpose::Verify).await {
            Ok(()) => "회원가입이 완료되었습니다. 이메일을 확인하여 인증을 완료해주세요.",
            Err(err) => {
                tracing::warn!(error = %err, "verification e-mail failed");
                "회원가입이 완료되었지만 인증 이메일 발송에 실패했습니다. 인증 메일을 다시 요청해주세요."
            }
        }
    };
    state.writes.committed(&mut db, id, &[]).await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered { id, email: body.email, username: body.username, message: message.into() }),
    ))
}
