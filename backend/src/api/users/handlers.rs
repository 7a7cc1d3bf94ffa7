//! `/users`: the caller's own profile (read and update), another user's public profile, and the
//! username search.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};

use super::{cache_key, types::UpdateMe};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::users::{self, User},
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::{Body, IdPath, TextPath},
    },
};

#[utoipa::path(
    get, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, body = User),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_me(auth: AuthUser) -> Response {
    // Serialised from the first level's shared copy: no clone of the row.
    Json(&*auth.user).into_response()
}

/// Active users whose username contains the given text (taken literally), e-mails masked.
#[utoipa::path(
    get, path = "/api/v1/users/search/{username}", tag = "users",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "Substring to look for")),
    responses(
        (status = 200, body = Vec<User>),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn search_users(
    State(state): State<AppState>,
    auth: AuthUser,
    TextPath(username): TextPath,
) -> ApiResult<Json<Vec<User>>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let found = users::search(&mut db, auth.id(), &username).await?;
    Ok(Json(found.into_iter().map(User::public).collect()))
}

#[utoipa::path(
    get, path = "/api/v1/users/{user_id}", tag = "users",
    security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses(
        (status = 200, body = User),
        (status = 404, description = "User not found", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), other_id = user_id))]
pub async fn get_user(State(state): State<AppState>, auth: AuthUser, IdPath(user_id): IdPath) -> ApiResult<Json<User>> {
    if user_id == auth.id() {
        return Ok(Json(Arc::unwrap_or_clone(auth.user)));
    }
    let mut db = state.db.reader(auth.min_lsn).await?;
    let user = users::find(&mut db, user_id).await?.ok_or_else(|| ApiError::not_found("User not found"))?;
    Ok(Json(user.public()))
}

/// Updates the username, the profile image and the diary context level (`rag_context_level`,
/// which persona chats read).
#[utoipa::path(
    patch, path = "/api/v1/users/me", tag = "users",
    security(("bearer" = [])),
    request_body = Option<UpdateMe>,
    responses(
        (status = 200, body = User),
        (status = 400, description = "Username already taken", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn update_me(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<UpdateMe>,
) -> ApiResult<Json<User>> {
    let mut db = state.db.writer().await?;
    let user = users::update_profile(&mut db, auth.id(), &body.change()).await?;
    // The cached row goes first: `committed` then tells every instance's first level.
    state.redis.del(&[cache_key(&state.redis, user.id)]).await;
    state.writes.committed(&mut db, user.id, &[]).await?;
    Ok(Json(user))
}
