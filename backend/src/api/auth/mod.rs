//! Accounts: registration, login, e-mail verification, password reset, logout (contract 4.1).

pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod session;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;
use utoipa::{IntoParams, ToSchema};

use crate::{
    platform::db::Executor,
    platform::db::Conn,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, Form, QueryParams},
        validate::{Validate, Violations},
    },
    api::state::AppState,
};
use ratelimit::{ClientIp, check as rate_limit};
use session::AuthUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login/json", post(login_json))
        .route("/auth/login", post(login_form))
        .route("/auth/verify-email", get(verify_email))
        .route("/auth/resend-verification", post(resend_verification))
        .route("/auth/forgot-password", post(forgot_password))
        .route("/auth/reset-password", post(reset_password))
        .route("/auth/logout", post(logout))
}

pub use crate::platform::random::token as random_token;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    id: i64,
    email: String,
    username: String,
    message: String,
}

#[derive(Serialize, ToSchema)]
pub struct Token {
    access_token: String,
    /// Always `bearer`.
    token_type: String,
}

impl Token {
    fn bearer(access_token: String) -> Self {
        Self { access_token, token_type: "bearer".into() }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Verified {
    message: String,
    access_token: String,
    token_type: String,
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    message: String,
}

fn message(text: &str) -> Json<Message> {
    Json(Message { message: text.into() })
}

#[derive(Deserialize, ToSchema)]
struct Register {
    email: String,
    username: String,
    password: String,
}

impl Validate for Register {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
        v.str_len("username", &self.username, 2, Some(50));
        v.str_len("password", &self.password, 8, Some(100));
    }
}

#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Register, responses((status = 201, body = Registered), (status = 400, description = "Email already registered | Username already taken", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody), (status = 429, description = "Too many requests", body = crate::platform::error::ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<Register>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    rate_limit(&state, "register", 3, &ip).await?;
    let hash = password::hash(body.password).await?;
    let verified = state.settings.auto_verify_email;
    let mut db = state.db.writer().await?;
    let row = db
        .query_one(
            "insert into users (email, username, password_hash, email_verified) values ($1, $2, $3, $4) returning id",
            &[(&body.email, Type::TEXT), (&body.username, Type::TEXT), (&hash, Type::TEXT), (&verified, Type::BOOL)],
        )
        .await?;
    let id: i64 = row.get(0);
    metrics::counter!("users_registered_total").increment(1);
    let message = if verified {
        "회원가입이 완료되었습니다. 바로 로그인할 수 있습니다."
    } else {
        match send_token(&state, &mut db, id, &body.email, Purpose::Verify).await {
            Ok(()) => "회원가입이 완료되었습니다. 이메일을 확인하여 인증을 완료해주세요.",
            Err(err) => {
                tracing::warn!(error = %err, "verification e-mail failed");
                "회원가입이 완료되었지만 인증 이메일 발송에 실패했습니다. 인증 메일을 다시 요청해주세요."
            }
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(Registered { id, email: body.email, username: body.username, message: message.into() }),
    ))
}

#[derive(Deserialize, ToSchema)]
struct LoginJson {
    email: String,
    password: String,
}

impl Validate for LoginJson {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
    }
}

/// OAuth2's password form: `username` carries the e-mail.
#[derive(Deserialize, ToSchema)]
struct LoginForm {
    username: String,
    password: String,
}

impl Validate for LoginForm {
    fn validate(&self, _: &mut Violations) {}
}

#[utoipa::path(post, path = "/api/v1/auth/login/json", tag = "auth", request_body = LoginJson, responses((status = 200, body = Token), (status = 401, description = "Incorrect email or password", body = crate::platform::error::ErrorBody), (status = 400, description = "Inactive user", body = crate::platform::error::ErrorBody), (status = 403, description = "Email not verified", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody), (status = 429, description = "Too many requests", body = crate::platform::error::ErrorBody)))]
async fn login_json(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<LoginJson>,
) -> ApiResult<Json<Token>> {
    rate_limit(&state, "login", 5, &ip).await?;
    login(&state, &body.email, body.password).await
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"), responses((status = 200, body = Token), (status = 401, description = "Incorrect email or password", body = crate::platform::error::ErrorBody), (status = 400, description = "Inactive user", body = crate::platform::error::ErrorBody), (status = 403, description = "Email not verified", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody), (status = 429, description = "Too many requests", body = crate::platform::error::ErrorBody)))]
async fn login_form(
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
    let row = db
        .query_opt(
            "select id, password_hash, is_active, email_verified from users where lower(email) = lower($1)",
            &[(&email, Type::TEXT)],
        )
        .await?;
    let stored = row.as_ref().map(|r| r.get::<_, String>("password_hash"));
    if !password::verify(password, stored).await? {
        return Err(ApiError::Unauthorized("Incorrect email or password"));
    }
    let row = row.expect("verified implies a row");
    if !row.get::<_, bool>("is_active") {
        return Err(ApiError::bad_request("Inactive user"));
    }
    if !row.get::<_, bool>("email_verified") {
        return Err(ApiError::forbidden("Email not verified"));
    }
    let token = session::create(state, &mut db, row.get("id")).await?;
    Ok(Json(Token::bearer(token)))
}

#[derive(Deserialize, IntoParams)]
struct TokenQuery {
    token: String,
}

impl Validate for TokenQuery {
    fn validate(&self, _: &mut Violations) {}
}

#[utoipa::path(get, path = "/api/v1/auth/verify-email", tag = "auth", params(TokenQuery), responses((status = 200, body = Verified), (status = 400, description = "Invalid or expired verification token", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn verify_email(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<TokenQuery>,
) -> ApiResult<Json<Verified>> {
    let mut db = state.db.writer().await?;
    let user_id = consume_token(&mut db, &q.token, Purpose::Verify)
        .await?
        .ok_or_else(|| ApiError::bad_request("Invalid or expired verification token"))?;
    db.execute("update users set email_verified = true, updated_at = now() where id = $1", &[(&user_id, Type::INT8)])
        .await?;
    state.redis.del(&[crate::api::users::cache_key(&state, user_id)]).await;
    let token = session::create(&state, &mut db, user_id).await?;
    Ok(Json(Verified {
        message: "이메일 인증이 완료되었습니다.".into(),
        access_token: token,
        token_type: "bearer".into(),
    }))
}

#[derive(Deserialize, ToSchema)]
struct EmailOnly {
    email: String,
}

impl Validate for EmailOnly {
    fn validate(&self, v: &mut Violations) {
        v.email("email", &self.email);
    }
}

#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth", request_body = EmailOnly, responses((status = 200, body = Message), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody), (status = 429, description = "Please wait before requesting another verification email", body = crate::platform::error::ErrorBody)))]
async fn resend_verification(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<EmailOnly>,
) -> ApiResult<Json<Message>> {
    rate_limit(&state, "resend-verification", 3, &ip).await?;
    let mut db = state.db.writer().await?;
    let row = db
        .query_opt(
            "select id, email from users where lower(email) = lower($1) and not email_verified",
            &[(&body.email, Type::TEXT)],
        )
        .await?;
    if let Some(row) = row {
        send_token(&state, &mut db, row.get("id"), row.get("email"), Purpose::Verify).await?;
    }
    Ok(message("인증 이메일이 발송되었습니다. 이메일을 확인해주세요."))
}

#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth", request_body = EmailOnly, responses((status = 200, body = Message), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody), (status = 429, description = "Please wait before requesting another password reset email", body = crate::platform::error::ErrorBody)))]
async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<EmailOnly>,
) -> ApiResult<Json<Message>> {
    rate_limit(&state, "forgot-password", 5, &ip).await?;
    let mut db = state.db.writer().await?;
    let row = db
        .query_opt(
            "select id, email from users where lower(email) = lower($1) and is_active",
            &[(&body.email, Type::TEXT)],
        )
        .await?;
    if let Some(row) = row {
        send_token(&state, &mut db, row.get("id"), row.get("email"), Purpose::Reset).await?;
    }
    Ok(message("비밀번호 재설정 이메일이 발송되었습니다. 이메일을 확인해주세요."))
}

#[derive(Deserialize, ToSchema)]
struct ResetPassword {
    token: String,
    password: String,
}

impl Validate for ResetPassword {
    fn validate(&self, v: &mut Violations) {
        v.str_len("password", &self.password, 8, Some(100));
    }
}

/// Sets the new password and revokes every session of the account.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth", request_body = ResetPassword, responses((status = 200, body = Message), (status = 400, description = "Invalid or expired password reset token", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody), (status = 429, description = "Too many requests", body = crate::platform::error::ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Body(body): Body<ResetPassword>,
) -> ApiResult<Json<Message>> {
    rate_limit(&state, "reset-password", 5, &ip).await?;
    let hash = password::hash(body.password).await?;
    let mut db = state.db.writer().await?;
    let user_id = consume_token(&mut db, &body.token, Purpose::Reset)
        .await?
        .ok_or_else(|| ApiError::bad_request("Invalid or expired password reset token"))?;
    db.execute(
        "update users set password_hash = $2, updated_at = now() where id = $1",
        &[(&user_id, Type::INT8), (&hash, Type::TEXT)],
    )
    .await?;
    session::revoke(&state, &mut db, user_id, None).await?;
    Ok(message("비밀번호가 재설정되었습니다. 새 비밀번호로 로그인해주세요."))
}

/// Added endpoint: revokes the calling session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 200, body = Message), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Message>> {
    let mut db = state.db.writer().await?;
    session::revoke(&state, &mut db, auth.id(), Some(&auth.session_id)).await?;
    Ok(message("Logged out"))
}

#[derive(Clone, Copy)]
enum Purpose {
    Verify,
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }
    fn lifetime(self) -> Duration {
        match self {
            Self::Verify => Duration::hours(24),
            Self::Reset => Duration::hours(1),
        }
    }
}

/// Issues a one-time token and mails its link; at most one per minute per account and purpose.
async fn send_token(state: &AppState, db: &mut Conn, user_id: i64, email: &str, purpose: Purpose) -> ApiResult<()> {
    let recent = db
        .query_opt(
            "select 1 from email_tokens where user_id = $1 and purpose = $2 and created_at > now() - interval '1 minute'",
            &[(&user_id, Type::INT8), (&purpose.as_str(), Type::TEXT)],
        )
        .await?;
    if recent.is_some() {
        return Err(ApiError::too_many(match purpose {
            Purpose::Verify => "Please wait before requesting another verification email",
            Purpose::Reset => "Please wait before requesting another password reset email",
        }));
    }
    let token = random_token(32);
    let expires_at = Utc::now() + purpose.lifetime();
    db.execute(
        "insert into email_tokens (token_hash, user_id, purpose, expires_at) values ($1, $2, $3, $4)",
        &[
            (&token_hash(&token), Type::TEXT),
            (&user_id, Type::INT8),
            (&purpose.as_str(), Type::TEXT),
            (&expires_at, Type::TIMESTAMPTZ),
        ],
    )
    .await?;
    let base = state.settings.frontend_url.trim_end_matches('/');
    let (subject, path) = match purpose {
        Purpose::Verify => ("[DearMe] 이메일 인증", "verify-email"),
        Purpose::Reset => ("[DearMe] 비밀번호 재설정", "reset-password"),
    };
    let link = format!("{base}/{path}?token={token}");
    let body = format!("아래 링크를 열어 계속하세요:\n\n{link}\n");
    state.mailer.send(email, subject, &body, &link).await.map_err(ApiError::Internal)
}

/// Marks a valid token used and returns its account; `None` if unknown, used or expired.
async fn consume_token(db: &mut Conn, token: &str, purpose: Purpose) -> ApiResult<Option<i64>> {
    let row = db
        .query_opt(
            "update email_tokens set used_at = now() \
             where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now() returning user_id",
            &[(&token_hash(token), Type::TEXT), (&purpose.as_str(), Type::TEXT)],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}
