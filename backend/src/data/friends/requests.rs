//! Friend requests: the pair's status, sending, answering, and the pending ones with the other
//! user of each.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::{COLUMNS, Friendship, FriendshipStatus, PAIR};
use crate::{
    data::users::User,
    platform::db::{self, Executor, Value},
};

/// The status of the friendship between `a` and `b` (either direction), if they have one.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = a, other_id = b))]
pub async fn pair_status(db: &mut impl Executor, a: i64, b: i64) -> db::Result<Option<FriendshipStatus>> {
    let sql = format!("select status as value from friendships where {PAIR}");
    let status: Option<Value<FriendshipStatus>> = db.fetch_opt(&sql, &[(&a, Type::INT8), (&b, Type::INT8)]).await?;
    Ok(status.map(|Value(status)| status))
}

/// Records a pending request from `requester_id` to `addressee_id`: a new row, or the pair's
/// rejected row (either direction) turned into this request. `None` when the pair has a pending
/// or accepted row: the `where` keeps a concurrent accept or request from being overwritten.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = requester_id, other_id = addressee_id))]
pub async fn request(db: &mut impl Executor, requester_id: i64, addressee_id: i64) -> db::Result<Option<Friendship>> {
    let sql = format!(
        "insert into friendships (requester_id, addressee_id) values ($1, $2) \
         on conflict ((least(requester_id, addressee_id)), (greatest(requester_id, addressee_id))) do update \
         set requester_id = excluded.requester_id, addressee_id = excluded.addressee_id, status = 'pending', \
             created_at = now(), updated_at = now() \
         where friendships.status = 'rejected' \
         returning {COLUMNS}"
    );
    db.fetch_opt(&sql, &[(&requester_id, Type::INT8), (&addressee_id, Type::INT8)]).await
}

/// Answers the pending request `id` addressed to `addressee_id` with `status`; the answered
/// request, or `None` if there is no such pending request.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = addressee_id, friendship_id = id))]
pub async fn answer(
    db: &mut impl Executor,
    id: i64,
    addressee_id: i64,
    status: FriendshipStatus,
) -> db::Result<Option<Friendship>> {
    let sql = format!(
        "update friendships set status = $3, updated_at = now() \
         where id = $1 and addressee_id = $2 and status = 'pending' \
         returning {COLUMNS}"
    );
    db.fetch_opt(&sql, &[(&id, Type::INT8), (&addressee_id, Type::INT8), (&status.as_str(), Type::TEXT)]).await
}

/// Which of a user's pending requests: those they received or those they sent.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    Received,
    Sent,
}

/// A pending request and the other user of it (the requester of a received one, the addressee
/// of a sent one).
pub struct PendingRequest {
    pub friendship: Friendship,
    pub other: User,
}

/// A request joined with the other user, whose columns are prefixed where they clash.
struct PendingRow {
    id: i64,
    requester_id: i64,
    addressee_id: i64,
    status: FriendshipStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    u_id: i64,
    email: String,
    username: String,
    profile_image: Option<String>,
    rag_context_level: Option<String>,
    is_active: bool,
    email_verified: bool,
    u_created_at: DateTime<Utc>,
}

crate::from_row!(PendingRow {
    id,
    requester_id,
    addressee_id,
    status,
    created_at,
    updated_at,
    u_id,
    email,
    username,
    profile_image,
    rag_context_level,
    is_active,
    email_verified,
    u_created_at,
});

impl From<PendingRow> for PendingRequest {
    fn from(r: PendingRow) -> Self {
        Self {
            friendship: Friendship {
                id: r.id,
                requester_id: r.requester_id,
                addressee_id: r.addressee_id,
                status: r.status,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
            other: User {
                id: r.u_id,
                email: r.email,
                username: r.username,
                profile_image: r.profile_image,
                rag_context_level: r.rag_context_level,
                is_active: r.is_active,
                email_verified: r.email_verified,
                created_at: r.u_created_at,
            },
        }
    }
}

/// `user_id`'s pending requests in `direction`, newest first, each with the other user.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn pending(db: &mut impl Executor, user_id: i64, direction: Direction) -> db::Result<Vec<PendingRequest>> {
    let (mine, theirs) = match direction {
        Direction::Received => ("addressee_id", "requester_id"),
        Direction::Sent => ("requester_id", "addressee_id"),
    };
    let sql = format!(
        "select f.id, f.requester_id, f.addressee_id, f.status, f.created_at, f.updated_at, \
                u.id as u_id, u.email, u.username, u.profile_image, u.rag_context_level, u.is_active, \
                u.email_verified, u.created_at as u_created_at \
         from friendships f join users u on u.id = f.{theirs} \
         where f.{mine} = $1 and f.status = 'pending' order by f.created_at desc"
    );
    let rows: Vec<PendingRow> = db.fetch_all(&sql, &[(&user_id, Type::INT8)]).await?;
    Ok(rows.into_iter().map(PendingRequest::from).collect())
}
