//! The friend lists (cached per user), recommendations and ending a friendship.

use axum::{Json, extract::State, http::StatusCode};

use super::types::{FriendList, Recommendations};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::{
        friends::{self, FriendWithPersona},
        users::mask_email,
    },
    platform::{
        cache::{Cache, CacheKey, CachedJson, Computed},
        error::{ApiError, ApiResult, ErrorBody, Unauthenticated},
        http::extract::IdPath,
    },
};

/// At most this many users are recommended.
const RECOMMENDATION_LIMIT: i64 = 20;

#[utoipa::path(
    get, path = "/api/v1/friends", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = FriendList),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_friends(State(state): State<AppState>, auth: AuthUser) -> ApiResult<CachedJson> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    state
        .cache
        .cached_json(&CacheKey::new(Cache::Friends, user_id), min_lsn, || async {
            let mut db = state.db.reader(min_lsn).await?;
            let friends = friends::list(&mut db, user_id).await?;
            Ok(Computed { role: db.role(), value: FriendList { total: friends.len() as i64, friends } })
        })
        .await
}

/// Accepted friends; persona fields only when the friend's persona is public.
#[utoipa::path(
    get, path = "/api/v1/friends/with-persona", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<FriendWithPersona>),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_friends_with_persona(State(state): State<AppState>, auth: AuthUser) -> ApiResult<CachedJson> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    state
        .cache
        .cached_json(&CacheKey::new(Cache::FriendsWithPersona, user_id), min_lsn, || async {
            let mut db = state.db.reader(min_lsn).await?;
            let value = friends::list_with_persona(&mut db, user_id).await?;
            Ok(Computed { role: db.role(), value })
        })
        .await
}

/// Users with a public persona and no pending or accepted relation with me, newest personas
/// first, at most 20, e-mail addresses masked.
#[utoipa::path(
    get, path = "/api/v1/friends/recommendations", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Recommendations),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_recommendations(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Recommendations>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let mut users = friends::recommendations(&mut db, auth.id(), RECOMMENDATION_LIMIT).await?;
    for user in &mut users {
        user.email = mask_email(&user.email);
    }
    Ok(Json(Recommendations { users }))
}

/// Removes an accepted friendship; the path is the friend's *user* id.
#[utoipa::path(
    delete, path = "/api/v1/friends/{friend_id}", tag = "friends",
    security(("bearer" = [])),
    params(("friend_id" = i64, Path, description = "The friend's user id")),
    responses(
        (status = 204),
        Unauthenticated,
        (status = 404, description = "Friendship not found", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), friend_id = friend_id))]
pub async fn delete_friend(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(friend_id): IdPath,
) -> ApiResult<StatusCode> {
    let mut db = state.db.writer().await?;
    if !friends::remove(&mut db, auth.id(), friend_id).await? {
        return Err(ApiError::not_found("Friendship not found"));
    }
    let mut keys = friends::cache_keys(auth.id()).to_vec();
    keys.extend(friends::cache_keys(friend_id));
    state.writes.committed(&mut db, auth.id(), &keys).await?;
    Ok(StatusCode::NO_CONTENT)
}
