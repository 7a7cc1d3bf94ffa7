//! Users: the `User` shape, its cache entry, and the four `/users` endpoints.

use axum::{
    Json, Router,
    extract::{Path, State},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Row, types::Type};
use utoipa::ToSchema;

use crate::{
    api::auth::session::AuthUser,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, IdPath, nullable},
        validate::{Validate, Violations},
    },
    api::state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/me", get(get_me).patch(update_me))
        .route("/users/search/{username}", get(search_users))
        .route("/users/{user_id}", get(get_user))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub profile_image: Option<String>,
    pub rag_context_level: Option<String>,
    pub is_active: bool,
    pub email_verified: bool,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
}

pub const USER_COLUMNS: &str =
    "id, email, username, profile_image, rag_context_level, is_active, email_verified, created_at";
/// The same columns qualified with `u.` for joins.
pub const USER_COLUMNS_U: &str =
    "u.id, u.email, u.username, u.profile_image, u.rag_context_level, u.is_active, u.email_verified, u.created_at";

impl User {
    pub fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            email: row.get("email"),
            username: row.get("username"),
            profile_image: row.get("profile_image"),
            rag_context_level: row.get("rag_context_level"),
            is_active: row.get("is_active"),
            email_verified: row.get("email_verified"),
            created_at: row.get("created_at"),
        }
    }

    /// This user as another user sees them: the e-mail address is masked (contract section 8).
    pub fn public(mut self) -> Self {
        self.email = mask_email(&self.email);
        self
    }
}

/// `kim@example.com` -> `k***@e***`: recognisable to its owner, useless to a harvester.
pub fn mask_email(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    format!("{}***@{}***", first(local), first(domain))
}

pub fn cache_key(state: &AppState, user_id: i64) -> String {
    state.redis.key(format_args!("user:{user_id}"))
}

pub async fn cache_user(state: &AppState, user: &User) {
    if let Ok(json) = serde_json::to_string(user) {
        state.redis.set_ex(&cache_key(state, user.id), &json, state.settings.session_ttl).await;
    }
}

#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])), responses((status = 200, body = User), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn get_me(auth: AuthUser) -> Json<User> {
    Json(auth.user)
}

#[utoipa::path(get, path = "/api/v1/users/search/{username}", tag = "users", security(("bearer" = [])), params(("username" = String, Path, description = "Substring to look for")), responses((status = 200, body = Vec<User>), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn search_users(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(username): Path<String>,
) -> ApiResult<Json<Vec<User>>> {
    // Escape LIKE wildcards so `%` and `_` match themselves.
    let pattern = format!("%{}%", username.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let sql = format!(
        "select {USER_COLUMNS} from users where username ilike $1 and id <> $2 and is_active order by username limit 20"
    );
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db.query(&sql, &[(&pattern, Type::TEXT), (&auth.id(), Type::INT8)]).await?;
    Ok(Json(rows.iter().map(|r| User::from_row(r).public()).collect()))
}

#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users", security(("bearer" = [])), params(("user_id" = i64, Path)), responses((status = 200, body = User), (status = 404, description = "User not found", body = crate::platform::error::ErrorBody), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn get_user(State(state): State<AppState>, auth: AuthUser, IdPath(user_id): IdPath) -> ApiResult<Json<User>> {
    if user_id == auth.id() {
        return Ok(Json(auth.user));
    }
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_opt(&format!("select {USER_COLUMNS} from users where id = $1"), &[(&user_id, Type::INT8)])
        .await?
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    Ok(Json(User::from_row(&row).public()))
}

#[derive(Deserialize, ToSchema)]
struct UpdateMe {
    username: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    profile_image: Option<Option<String>>,
    rag_context_level: Option<RagContextLevel>,
}

#[derive(Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
enum RagContextLevel {
    Minimal,
    Standard,
    Detailed,
}

impl RagContextLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Standard => "standard",
            Self::Detailed => "detailed",
        }
    }
}

impl Validate for UpdateMe {
    fn validate(&self, v: &mut Violations) {
        v.opt_str_len("username", self.username.as_deref(), 2, Some(50));
    }
}

/// Unlike the original (which dropped it), `rag_context_level` is saved.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])), request_body = UpdateMe, responses((status = 200, body = User), (status = 400, description = "Username already taken", body = crate::platform::error::ErrorBody), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn update_me(State(state): State<AppState>, auth: AuthUser, Body(body): Body<UpdateMe>) -> ApiResult<Json<User>> {
    let mut db = state.db.writer().await?;
    let sql = format!(
        "update users set username = coalesce($2, username), \
         profile_image = case when $3 then $4 else profile_image end, \
         rag_context_level = coalesce($5, rag_context_level), updated_at = now() \
         where id = $1 returning {USER_COLUMNS}"
    );
    let image_given = body.profile_image.is_some();
    let image = body.profile_image.flatten();
    let level = body.rag_context_level.map(RagContextLevel::as_str);
    let row = db
        .query_one(
            &sql,
            &[
                (&auth.id(), Type::INT8),
                (&body.username, Type::TEXT),
                (&image_given, Type::BOOL),
                (&image, Type::TEXT),
                (&level, Type::TEXT),
            ],
        )
        .await?;
    let user = User::from_row(&row);
    state.writes.committed(&mut db, user.id, &[]).await?;
    state.redis.del(&[cache_key(&state, user.id)]).await;
    Ok(Json(user))
}

#[cfg(test)]
mod tests {
    #[test]
    fn masked_email_keeps_only_first_letters() {
        assert_eq!(super::mask_email("kim@example.com"), "k***@e***");
        assert_eq!(super::mask_email("odd"), "o***@***");
    }
}
