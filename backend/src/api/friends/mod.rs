//! Friends (contract 4.5): requests, acceptance, removal, the friend list (with personas) and
//! recommendations. One `friendships` row per pair whichever way it was asked, so a re-request
//! after a rejection updates that row (the original hit a unique error and 500'd).
//! Strangers' e-mail addresses are masked; recommendations are bounded.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get, patch, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Row, types::Type};
use utoipa::ToSchema;

use crate::{
    platform::db::Executor,
    api::auth::session::AuthUser,
    platform::cache::{Cache, CacheKey, Computed},
    platform::db::Conn,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, IdPath},
        validate::{Validate, Violations},
    },
    api::state::AppState,
    api::subscriptions,
    api::users::{USER_COLUMNS_U, User},
};

/// Free plan: at most this many accepted friends (checked when sending a request).
pub const FREE_FRIEND_LIMIT: i64 = 3;
const RECOMMENDATION_LIMIT: i64 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/friends", get(list_friends))
        .route("/friends/request", post(send_request))
        .route("/friends/requests/received", get(list_received))
        .route("/friends/requests/sent", get(list_sent))
        .route("/friends/requests/{friendship_id}", patch(respond_to_request))
        .route("/friends/with-persona", get(list_friends_with_persona))
        .route("/friends/recommendations", get(list_recommendations))
        .route("/friends/{friend_id}", delete(delete_friend))
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FriendshipStatus {
    Pending,
    Accepted,
    Rejected,
}

impl FriendshipStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            _ => Self::Pending,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Friendship {
    id: i64,
    requester_id: i64,
    addressee_id: i64,
    status: FriendshipStatus,
    #[serde(with = "crate::platform::time::utc")]
    created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    updated_at: DateTime<Utc>,
}

const FRIENDSHIP_COLUMNS: &str = "id, requester_id, addressee_id, status, created_at, updated_at";

impl Friendship {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            requester_id: row.get("requester_id"),
            addressee_id: row.get("addressee_id"),
            status: FriendshipStatus::parse(row.get("status")),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FriendshipWithUser {
    #[serde(flatten)]
    friendship: Friendship,
    requester: Option<User>,
    addressee: Option<User>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendList {
    friends: Vec<User>,
    total: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FriendWithPersona {
    /// The friend's user id.
    id: i64,
    username: String,
    email: String,
    profile_image: Option<String>,
    persona_name: Option<String>,
    persona_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Recommendations {
    users: Vec<FriendWithPersona>,
}

/// The cached reads a change to `user_id`'s friendships affects.
pub fn keys_of(user_id: i64) -> [CacheKey; 2] {
    [CacheKey::new(Cache::Friends, user_id), CacheKey::new(Cache::FriendsWithPersona, user_id)]
}

/// Accepted friends' user ids, in either direction.
pub const FRIEND_IDS: &str = "select case when requester_id = $1 then addressee_id else requester_id end as friend_id \
                          from friendships where (requester_id = $1 or addressee_id = $1) and status = 'accepted'";

#[utoipa::path(get, path = "/api/v1/friends", tag = "friends", security(("bearer" = [])), responses((status = 200, body = FriendList)))]
async fn list_friends(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<FriendList>> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let list = state
        .cache.cached(&CacheKey::new(Cache::Friends, user_id), min_lsn, || async {
            let mut db = state.db.reader(min_lsn).await?;
            let sql = format!("select {USER_COLUMNS_U} from users u where u.id in ({FRIEND_IDS}) order by u.username");
            let rows = db.query(&sql, &[(&user_id, Type::INT8)]).await?;
            let friends: Vec<User> = rows.iter().map(User::from_row).collect();
            Ok(Computed { role: db.role(), value: FriendList { total: friends.len() as i64, friends } })
        })
        .await?;
    Ok(Json(list))
}

#[derive(Deserialize, ToSchema)]
struct FriendRequest {
    addressee_id: i64,
}

impl Validate for FriendRequest {
    fn validate(&self, _: &mut Violations) {}
}

/// Check order (contract): self, user exists, existing relation, plan limit.
#[utoipa::path(post, path = "/api/v1/friends/request", tag = "friends", security(("bearer" = [])), request_body = FriendRequest,
    responses((status = 201, body = Friendship), (status = 400, description = "Cannot send friend request to yourself | Already friends | Friend request already exists", body = crate::platform::error::ErrorBody),
        (status = 403, description = "Free plan friend limit", body = crate::platform::error::ErrorBody), (status = 404, description = "User not found", body = crate::platform::error::ErrorBody)))]
async fn send_request(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<FriendRequest>,
) -> ApiResult<(StatusCode, Json<Friendship>)> {
    let (me, other) = (auth.id(), body.addressee_id);
    if me == other {
        return Err(ApiError::bad_request("Cannot send friend request to yourself"));
    }
    let mut db = state.db.writer().await?;
    db.query_opt("select 1 from users where id = $1 and is_active", &[(&other, Type::INT8)])
        .await?
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    let existing = db
        .query_opt(
            "select status from friendships where least(requester_id, addressee_id) = least($1::int8, $2::int8) \
             and greatest(requester_id, addressee_id) = greatest($1::int8, $2::int8)",
            &[(&me, Type::INT8), (&other, Type::INT8)],
        )
        .await?;
    match existing.as_ref().map(|r| FriendshipStatus::parse(r.get(0))) {
        Some(FriendshipStatus::Accepted) => return Err(ApiError::bad_request("Already friends")),
        Some(FriendshipStatus::Pending) => return Err(ApiError::bad_request("Friend request already exists")),
        Some(FriendshipStatus::Rejected) | None => {}
    }
    if !subscriptions::is_premium(&mut db, me).await? && count_friends(&mut db, me).await? >= FREE_FRIEND_LIMIT {
        return Err(ApiError::forbidden(format!(
            "무료 플랜은 최대 {FREE_FRIEND_LIMIT}명의 친구만 추가할 수 있습니다. 프리미엄으로 업그레이드하면 무제한으로 친구를 추가할 수 있습니다."
        )));
    }
    // A rejected row (either direction) becomes this new pending request. The `where` keeps a
    // concurrent accept or request from being overwritten: then nothing is returned.
    let mut tx = db.transaction().await?;
    let row = tx
        .query_typed(
            &format!(
                "insert into friendships (requester_id, addressee_id) values ($1, $2) \
                 on conflict ((least(requester_id, addressee_id)), (greatest(requester_id, addressee_id))) do update \
                 set requester_id = excluded.requester_id, addressee_id = excluded.addressee_id, status = 'pending', \
                     created_at = now(), updated_at = now() \
                 where friendships.status = 'rejected' returning {FRIENDSHIP_COLUMNS}"
            ),
            &[(&me, Type::INT8), (&other, Type::INT8)],
        )
        .await?;
    let Some(row) = row.first() else {
        return Err(ApiError::bad_request("Friend request already exists"));
    };
    let friendship = Friendship::from_row(row);
    let title = format!("{}님이 친구 요청을 보냈어요", auth.user.username);
    tx.execute_typed(
        "insert into notifications (user_id, type, title, content) values ($1, 'friend_request', $2, $3)",
        &[(&other, Type::INT8), (&title, Type::VARCHAR), (&"친구 요청을 확인해보세요.", Type::TEXT)],
    )
    .await?;
    tx.commit().await?;
    state.writes.committed(&mut db, me, &[]).await?;
    Ok((StatusCode::CREATED, Json(friendship)))
}

pub async fn count_friends(db: &mut Conn, user_id: i64) -> ApiResult<i64> {
    let row = db
        .query_one(
            "select count(*) from friendships where (requester_id = $1 or addressee_id = $1) and status = 'accepted'",
            &[(&user_id, Type::INT8)],
        )
        .await?;
    Ok(row.get(0))
}

#[utoipa::path(get, path = "/api/v1/friends/requests/received", tag = "friends", security(("bearer" = [])), responses((status = 200, body = Vec<FriendshipWithUser>)))]
async fn list_received(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<FriendshipWithUser>>> {
    pending_requests(&state, &auth, Direction::Received).await
}

#[utoipa::path(get, path = "/api/v1/friends/requests/sent", tag = "friends", security(("bearer" = [])), responses((status = 200, body = Vec<FriendshipWithUser>)))]
async fn list_sent(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<FriendshipWithUser>>> {
    pending_requests(&state, &auth, Direction::Sent).await
}

enum Direction {
    Received,
    Sent,
}

/// Pending requests with the *other* user filled in (masked e-mail: not a friend yet).
async fn pending_requests(
    state: &AppState,
    auth: &AuthUser,
    direction: Direction,
) -> ApiResult<Json<Vec<FriendshipWithUser>>> {
    let (mine, theirs) = match direction {
        Direction::Received => ("addressee_id", "requester_id"),
        Direction::Sent => ("requester_id", "addressee_id"),
    };
    let sql = format!(
        "select f.id, f.requester_id, f.addressee_id, f.status, f.created_at, f.updated_at, \
                u.id as u_id, u.email, u.username, u.profile_image, u.rag_context_level, u.is_active, u.email_verified, \
                u.created_at as u_created_at \
         from friendships f join users u on u.id = f.{theirs} \
         where f.{mine} = $1 and f.status = 'pending' order by f.created_at desc"
    );
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db.query(&sql, &[(&auth.id(), Type::INT8)]).await?;
    let items = rows
        .iter()
        .map(|r| {
            let other = User {
                id: r.get("u_id"),
                email: r.get("email"),
                username: r.get("username"),
                profile_image: r.get("profile_image"),
                rag_context_level: r.get("rag_context_level"),
                is_active: r.get("is_active"),
                email_verified: r.get("email_verified"),
                created_at: r.get("u_created_at"),
            }
            .public();
            let friendship = Friendship::from_row(r);
            match direction {
                Direction::Received => FriendshipWithUser { friendship, requester: Some(other), addressee: None },
                Direction::Sent => FriendshipWithUser { friendship, requester: None, addressee: Some(other) },
            }
        })
        .collect();
    Ok(Json(items))
}

#[derive(Deserialize, ToSchema)]
struct Respond {
    status: FriendshipStatus,
}

impl Validate for Respond {
    fn validate(&self, _: &mut Violations) {}
}

/// Only the addressee of a pending request may answer it.
#[utoipa::path(patch, path = "/api/v1/friends/requests/{friendship_id}", tag = "friends", security(("bearer" = [])),
    params(("friendship_id" = i64, Path)), request_body = Respond,
    responses((status = 200, body = Friendship), (status = 404, description = "Friend request not found", body = crate::platform::error::ErrorBody)))]
async fn respond_to_request(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
    Body(body): Body<Respond>,
) -> ApiResult<Json<Friendship>> {
    let mut db = state.db.writer().await?;
    let mut tx = db.transaction().await?;
    let rows = tx
        .query_typed(
            &format!(
                "update friendships set status = $3, updated_at = now() \
                 where id = $1 and addressee_id = $2 and status = 'pending' returning {FRIENDSHIP_COLUMNS}"
            ),
            &[(&id, Type::INT8), (&auth.id(), Type::INT8), (&body.status.as_str(), Type::TEXT)],
        )
        .await?;
    let friendship = Friendship::from_row(rows.first().ok_or_else(|| ApiError::not_found("Friend request not found"))?);
    if friendship.status == FriendshipStatus::Accepted {
        let title = format!("{}님이 친구 요청을 수락했어요", auth.user.username);
        tx.execute_typed(
            "insert into notifications (user_id, type, title, content) values ($1, 'friend_accepted', $2, $3)",
            &[
                (&friendship.requester_id, Type::INT8),
                (&title, Type::VARCHAR),
                (&"이제 친구의 페르소나와 대화할 수 있어요.", Type::TEXT),
            ],
        )
        .await?;
    }
    tx.commit().await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    let mut keys = keys_of(friendship.requester_id).to_vec();
    keys.extend(keys_of(friendship.addressee_id));
    state.cache.invalidate(&keys).await;
    Ok(Json(friendship))
}

/// Removes an accepted friendship; the path is the friend's *user* id.
#[utoipa::path(delete, path = "/api/v1/friends/{friend_id}", tag = "friends", security(("bearer" = [])),
    params(("friend_id" = i64, Path, description = "The friend's user id")),
    responses((status = 204), (status = 404, description = "Friendship not found", body = crate::platform::error::ErrorBody)))]
async fn delete_friend(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(friend_id): IdPath,
) -> ApiResult<StatusCode> {
    let mut db = state.db.writer().await?;
    let deleted = db
        .execute(
            "delete from friendships where status = 'accepted' and \
             ((requester_id = $1 and addressee_id = $2) or (requester_id = $2 and addressee_id = $1))",
            &[(&auth.id(), Type::INT8), (&friend_id, Type::INT8)],
        )
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found("Friendship not found"));
    }
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    let mut keys = keys_of(auth.id()).to_vec();
    keys.extend(keys_of(friend_id));
    state.cache.invalidate(&keys).await;
    Ok(StatusCode::NO_CONTENT)
}

fn friend_with_persona(row: &Row) -> FriendWithPersona {
    FriendWithPersona {
        id: row.get("id"),
        username: row.get("username"),
        email: row.get("email"),
        profile_image: row.get("profile_image"),
        persona_name: row.get("persona_name"),
        persona_id: row.get("persona_id"),
    }
}

/// Accepted friends; persona fields only when the friend's persona is public.
#[utoipa::path(get, path = "/api/v1/friends/with-persona", tag = "friends", security(("bearer" = [])), responses((status = 200, body = Vec<FriendWithPersona>)))]
async fn list_friends_with_persona(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Vec<FriendWithPersona>>> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let list = state
        .cache.cached(&CacheKey::new(Cache::FriendsWithPersona, user_id), min_lsn, || async {
            let mut db = state.db.reader(min_lsn).await?;
            let sql = format!(
                "select u.id, u.username, u.email, u.profile_image, p.name as persona_name, p.id as persona_id \
                 from users u left join personas p on p.user_id = u.id and p.is_public \
                 where u.id in ({FRIEND_IDS}) order by u.username"
            );
            let rows = db.query(&sql, &[(&user_id, Type::INT8)]).await?;
            Ok(Computed { role: db.role(), value: rows.iter().map(friend_with_persona).collect::<Vec<_>>() })
        })
        .await?;
    Ok(Json(list))
}

/// Users with a public persona and no pending or accepted relation with me, newest personas
/// first, at most 20 (the original returned everyone, e-mails included).
#[utoipa::path(get, path = "/api/v1/friends/recommendations", tag = "friends", security(("bearer" = [])), responses((status = 200, body = Recommendations)))]
async fn list_recommendations(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Recommendations>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db
        .query(
            "select u.id, u.username, u.email, u.profile_image, p.name as persona_name, p.id as persona_id \
             from personas p join users u on u.id = p.user_id \
             where p.is_public and u.is_active and u.id <> $1 and not exists ( \
                 select 1 from friendships f where f.status in ('pending', 'accepted') and \
                 ((f.requester_id = $1 and f.addressee_id = u.id) or (f.requester_id = u.id and f.addressee_id = $1))) \
             order by p.updated_at desc limit $2",
            &[(&auth.id(), Type::INT8), (&RECOMMENDATION_LIMIT, Type::INT8)],
        )
        .await?;
    let users = rows
        .iter()
        .map(|r| {
            let mut user = friend_with_persona(r);
            user.email = crate::api::users::mask_email(&user.email);
            user
        })
        .collect();
    Ok(Json(Recommendations { users }))
}
