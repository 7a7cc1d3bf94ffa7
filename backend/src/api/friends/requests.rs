//! Friend requests: sending one, the pending ones received and sent, and answering one.

use axum::{Json, extract::State, http::StatusCode};

use super::types::{FriendRequest, FriendshipWithUser, Respond};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::{
        friends::{self, Direction, Friendship, FriendshipStatus, PendingRequest},
        notifications,
        subscriptions::{self, FREE_FRIEND_LIMIT},
        users,
    },
    platform::{
        db::Conn,
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::{Body, IdPath},
    },
};

/// Check order (contract): self, user exists, existing relation, plan limit.
#[utoipa::path(
    post, path = "/api/v1/friends/request", tag = "friends",
    security(("bearer" = [])),
    request_body = FriendRequest,
    responses(
        (status = 201, body = Friendship),
        (status = 400, description = "Cannot send friend request to yourself | Already friends | Friend request already exists", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "Free plan friend limit", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), other_id = body.addressee_id))]
pub async fn send_request(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<FriendRequest>,
) -> ApiResult<(StatusCode, Json<Friendship>)> {
    let (me, other) = (auth.id(), body.addressee_id);
    if me == other {
        return Err(ApiError::bad_request("Cannot send friend request to yourself"));
    }
    let mut db = state.db.writer().await?;
    check_request(&mut db, me, other).await?;
    let mut tx = db.transaction().await?;
    // `None`: a concurrent request or accept got there first.
    let friendship = friends::request(&mut tx, me, other)
        .await?
        .ok_or_else(|| ApiError::bad_request("Friend request already exists"))?;
    let title = format!("{}님이 친구 요청을 보냈어요", auth.user.username);
    notifications::insert(&mut tx, other, "friend_request", &title, "친구 요청을 확인해보세요.").await?;
    tx.commit().await?;
    // A pending request changes no cached read: the friend lists hold accepted friends only.
    state.writes.committed(&mut db, me, &[]).await?;
    Ok((StatusCode::CREATED, Json(friendship)))
}

/// The checks after "not yourself": the addressee exists and is active, the pair has no pending
/// or accepted row, and a free plan is under its friend limit.
async fn check_request(db: &mut Conn, me: i64, other: i64) -> ApiResult<()> {
    if !users::find(db, other).await?.is_some_and(|user| user.is_active) {
        return Err(ApiError::not_found("User not found"));
    }
    match friends::pair_status(db, me, other).await? {
        Some(FriendshipStatus::Accepted) => return Err(ApiError::bad_request("Already friends")),
        Some(FriendshipStatus::Pending) => return Err(ApiError::bad_request("Friend request already exists")),
        Some(FriendshipStatus::Rejected) | None => {}
    }
    if !subscriptions::is_premium(db, me).await? && friends::count(db, me).await? >= FREE_FRIEND_LIMIT {
        return Err(ApiError::forbidden(format!(
            "무료 플랜은 최대 {FREE_FRIEND_LIMIT}명의 친구만 추가할 수 있습니다. 프리미엄으로 업그레이드하면 무제한으로 친구를 추가할 수 있습니다."
        )));
    }
    Ok(())
}

#[utoipa::path(
    get, path = "/api/v1/friends/requests/received", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<FriendshipWithUser>),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_received(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<FriendshipWithUser>>> {
    pending_requests(&state, &auth, Direction::Received).await
}

#[utoipa::path(
    get, path = "/api/v1/friends/requests/sent", tag = "friends",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Vec<FriendshipWithUser>),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_sent(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<FriendshipWithUser>>> {
    pending_requests(&state, &auth, Direction::Sent).await
}

/// Pending requests with the *other* user filled in (masked e-mail: not a friend yet).
async fn pending_requests(
    state: &AppState,
    auth: &AuthUser,
    direction: Direction,
) -> ApiResult<Json<Vec<FriendshipWithUser>>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let requests = friends::pending(&mut db, auth.id(), direction).await?;
    let items = requests
        .into_iter()
        .map(|PendingRequest { friendship, other }| {
            let other = Some(other.public());
            match direction {
                Direction::Received => FriendshipWithUser { friendship, requester: other, addressee: None },
                Direction::Sent => FriendshipWithUser { friendship, requester: None, addressee: other },
            }
        })
        .collect();
    Ok(Json(items))
}

/// Only the addressee of a pending request may answer it.
#[utoipa::path(
    patch, path = "/api/v1/friends/requests/{friendship_id}", tag = "friends",
    security(("bearer" = [])),
    params(("friendship_id" = i64, Path)),
    request_body = Respond,
    responses(
        (status = 200, body = Friendship),
        Unauthenticated,
        (status = 404, description = "Friend request not found", body = ErrorBody),
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), friendship_id = id))]
pub async fn respond_to_request(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
    Body(body): Body<Respond>,
) -> ApiResult<Json<Friendship>> {
    let mut db = state.db.writer().await?;
    let mut tx = db.transaction().await?;
    let friendship = friends::answer(&mut tx, id, auth.id(), body.status)
        .await?
        .ok_or_else(|| ApiError::not_found("Friend request not found"))?;
    if friendship.status == FriendshipStatus::Accepted {
        let title = format!("{}님이 친구 요청을 수락했어요", auth.user.username);
        let content = "이제 친구의 페르소나와 대화할 수 있어요.";
        notifications::insert(&mut tx, friendship.requester_id, "friend_accepted", &title, content).await?;
    }
    tx.commit().await?;
    let mut keys = friends::cache_keys(friendship.requester_id).to_vec();
    keys.extend(friends::cache_keys(friendship.addressee_id));
    state.writes.committed(&mut db, auth.id(), &keys).await?;
    Ok(Json(friendship))
}
