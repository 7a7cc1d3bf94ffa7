//! Friendships: one `friendships` row per pair of users whichever way it was asked (a unique
//! index on the ordered pair), `pending`, `accepted` or `rejected`. "Friends" means an accepted
//! row, in either direction: [`FRIEND_IDS_SQL`] is that definition, and every query about
//! someone's friends (here, in `lists` and in `requests`) is built on it or on the pair's row.

mod lists;
mod requests;

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{FromSql, Type};
use utoipa::ToSchema;

pub use lists::{FriendWithPersona, list, list_with_persona, recommendations};
pub use requests::{Direction, PendingRequest, answer, pair_status, pending, request};

use crate::platform::{
    cache::{Cache, CacheKey},
    db::{self, Executor, Value},
};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FriendshipStatus {
    Pending,
    Accepted,
    Rejected,
}

impl FriendshipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// Read from the `text` column; the check constraint admits only the three statuses.
impl<'a> FromSql<'a> for FriendshipStatus {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let status = <&str as FromSql>::from_sql(ty, raw)?;
        Self::parse(status).ok_or_else(|| format!("unknown friendship status {status:?}").into())
    }

    fn accepts(ty: &Type) -> bool {
        <&str as FromSql>::accepts(ty)
    }
}

/// A friendship (or request) as stored and served.
#[derive(Debug, Serialize, ToSchema)]
pub struct Friendship {
    pub id: i64,
    pub requester_id: i64,
    pub addressee_id: i64,
    pub status: FriendshipStatus,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    pub updated_at: DateTime<Utc>,
}

crate::from_row!(Friendship { id, requester_id, addressee_id, status, created_at, updated_at });

const COLUMNS: &str = "id, requester_id, addressee_id, status, created_at, updated_at";

/// The user ids (`friend_id`) of `$1`'s accepted friends, in either direction: every query that
/// needs someone's friends embeds this (`where u.id in ({FRIEND_IDS_SQL})`).
pub const FRIEND_IDS_SQL: &str = "select case when requester_id = $1 then addressee_id else requester_id end as friend_id \
     from friendships where (requester_id = $1 or addressee_id = $1) and status = 'accepted'";

/// The row of the pair `$1`, `$2`, whichever way it was asked (found through the pair's unique
/// index).
const PAIR: &str = "least(requester_id, addressee_id) = least($1::int8, $2::int8) \
                    and greatest(requester_id, addressee_id) = greatest($1::int8, $2::int8)";

/// The cached reads a change to `user_id`'s friendships affects.
pub fn cache_keys(user_id: i64) -> [CacheKey; 2] {
    [CacheKey::new(Cache::Friends, user_id), CacheKey::new(Cache::FriendsWithPersona, user_id)]
}

/// Whether `a` and `b` are accepted friends.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = a, other_id = b))]
pub async fn are_friends(db: &mut impl Executor, a: i64, b: i64) -> db::Result<bool> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("select exists (select 1 from ({FRIEND_IDS_SQL}) f where f.friend_id = $2) as value"));
    db.fetch_value(&SQL, &[(&a, Type::INT8), (&b, Type::INT8)]).await
}

/// The user ids of `user_id`'s accepted friends.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn friend_ids(db: &mut impl Executor, user_id: i64) -> db::Result<Vec<i64>> {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("select friend_id as value from ({FRIEND_IDS_SQL}) f"));
    let ids: Vec<Value<i64>> = db.fetch_all(&SQL, &[(&user_id, Type::INT8)]).await?;
    Ok(ids.into_iter().map(|Value(id)| id).collect())
}

/// How many accepted friends `user_id` has.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn count(db: &mut impl Executor, user_id: i64) -> db::Result<i64> {
    static SQL: LazyLock<String> = LazyLock::new(|| format!("select count(*) as value from ({FRIEND_IDS_SQL}) f"));
    db.fetch_value(&SQL, &[(&user_id, Type::INT8)]).await
}

/// Ends the accepted friendship of `a` and `b`: deletes the pair's row if `b` is among `a`'s
/// friends (one row per pair, so that row is the accepted one). Whether there was one.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = a, other_id = b))]
pub async fn remove(db: &mut impl Executor, a: i64, b: i64) -> db::Result<bool> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("delete from friendships where {PAIR} and $2 in (select friend_id from ({FRIEND_IDS_SQL}) f)")
    });
    Ok(db.execute(&SQL, &[(&a, Type::INT8), (&b, Type::INT8)]).await? > 0)
}
