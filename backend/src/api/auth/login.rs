//! Signing in (`POST /auth/login/json`, and the OAuth2 password form at `POST /auth/login`) and
//! out (`POST /auth/logout`).

use axum::{Json, extract::State};

use super::{
    hashing,
    ratelimit::{ClientIp, check as rate_limit},
    session::{self, AuthUser},
    types::{LoginForm, LoginJson, Message, Token, message},
};
use crate::{
    api::state::AppState,
    data::users,
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::{Body, Form},
    },
};

#[utoipa::path(
    post, path = "/api/v1/auth/login/json", tag = "auth",
    request_body = LoginJson,
    responses(
        (status = 200, body = Token),
        (status = 401, description = "Incorrect email or password", body = ErrorBody),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 403, description = "Email not verified", body = ErrorBody),
        Invalid,
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn login_json(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<LoginJson>,
) -> ApiResult<Json<Token>> {
    rate_limit(&state, "login", 5, &ip).await?;
    login(&state, &body.email, body.password).await
}

#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = Token),
        (status = 401, description = "Incorrect email or password", body = ErrorBody),
        (status = 400, description = "Inactive user", body = ErrorBody),
        (status = 403, description = "Email not verified", body = ErrorBody),
        Invalid,
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn login_form(
    State(state): State<AppState>,
    ip: ClientIp,
    Form(body): Form<LoginForm>,
) -> ApiResult<Json<Token>> {
    rate_limit(&state, "login", 5, &ip).await?;
    login(&state, &body.username, body.password).await
}

/// Check order (contract): credentials, then active, then verified.
async fn login(state: &AppState, email: &str, password: String) -> ApiResult<Json<Token>> {
    let mut db = state.db.writer().await?;
    let account = users::credentials(&mut db, email).await?;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    if !hashing::verify(password, stored).await? {
        return Err(ApiError::Unauthorized("Incorrect email or password"));
    }
    let account = account.expect("verified implies an account");
    if !account.is_active {
        return Err(ApiError::bad_request("Inactive user"));
    }
    if !account.email_verified {
        return Err(ApiError::forbidden("Email not verified"));
    }
    let token = session::create(state, &mut db, account.id).await?;
    state.writes.committed(&mut db, account.id, &[]).await?;
    Ok(Json(Token::bearer(token)))
}

/// Revokes the calling session.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Message),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Message>> {
    let mut db = state.db.writer().await?;
    session::revoke(&state, &mut db, auth.id(), Some(&auth.session_id)).await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(message("Logged out"))
}
