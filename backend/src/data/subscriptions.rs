//! Subscriptions: one row per user (free or premium, active, cancelled or expired), the plan
//! limits the rest of the API enforces, and the daily own-persona chat usage they are checked on.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::platform::{
    db::{self, Executor, Value},
    time::today,
};

/// Free plan: at most this many accepted friends (checked when sending a request).
pub const FREE_FRIEND_LIMIT: i64 = 3;
/// Free plan: own-persona chat messages per UTC day.
pub const FREE_DAILY_CHAT_LIMIT: i64 = 5;

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    pub id: i64,
    pub user_id: i64,
    /// `free` | `premium`
    pub plan: String,
    /// `active` | `cancelled` | `expired`
    pub status: String,
    #[serde(with = "crate::platform::time::utc")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::platform::time::utc_opt")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
}

crate::from_row!(Subscription { id, user_id, plan, status, started_at, expires_at, cancelled_at, created_at });

const COLUMNS: &str = "id, user_id, plan, status, started_at, expires_at, cancelled_at, created_at";

impl Subscription {
    /// Premium = plan premium, active or cancelled (grace), not past expiry.
    pub fn is_premium(&self, now: DateTime<Utc>) -> bool {
        self.plan == "premium"
            && (self.status == "active" || self.status == "cancelled")
            && self.expires_at.is_none_or(|t| t > now)
    }

    /// A premium row whose expiry has passed, which lazy expiry rewrites to free/expired.
    fn has_lapsed(&self, now: DateTime<Utc>) -> bool {
        self.plan == "premium" && self.expires_at.is_some_and(|t| t <= now)
    }
}

/// The user's subscription, with lazy expiry applied: a premium row past its expiry is rewritten
/// to free/expired the first time anyone looks (so `db` must be on the primary).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn current(db: &mut impl Executor, user_id: i64) -> db::Result<Option<Subscription>> {
    let sql = format!("select {COLUMNS} from subscriptions where user_id = $1");
    let Some(sub) = db.fetch_opt::<Subscription>(&sql, &[(&user_id, Type::INT8)]).await? else {
        return Ok(None);
    };
    if !sub.has_lapsed(Utc::now()) {
        return Ok(Some(sub));
    }
    let sql =
        format!("update subscriptions set plan = 'free', status = 'expired' where user_id = $1 returning {COLUMNS}");
    Ok(Some(db.fetch_one(&sql, &[(&user_id, Type::INT8)]).await?))
}

/// Whether the user is premium now (applies lazy expiry, so `db` must be on the primary).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn is_premium(db: &mut impl Executor, user_id: i64) -> db::Result<bool> {
    Ok(current(db, user_id).await?.is_some_and(|s| s.is_premium(Utc::now())))
}

/// Makes the user premium and active from `started_at` to `expires_at` (creating the row if
/// needed, clearing any cancellation); the stored row.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn upgrade(
    db: &mut impl Executor,
    user_id: i64,
    started_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> db::Result<Subscription> {
    let sql = format!(
        "insert into subscriptions (user_id, plan, status, started_at, expires_at) \
         values ($1, 'premium', 'active', $2, $3) \
         on conflict (user_id) do update set plan = 'premium', status = 'active', started_at = $2, \
             expires_at = $3, cancelled_at = null \
         returning {COLUMNS}"
    );
    db.fetch_one(&sql, &[(&user_id, Type::INT8), (&started_at, Type::TIMESTAMPTZ), (&expires_at, Type::TIMESTAMPTZ)])
        .await
}

/// Marks the user's subscription cancelled now (it stays premium until it expires); the row.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn cancel(db: &mut impl Executor, user_id: i64) -> db::Result<Subscription> {
    let sql = format!(
        "update subscriptions set status = 'cancelled', cancelled_at = now() where user_id = $1 returning {COLUMNS}"
    );
    db.fetch_one(&sql, &[(&user_id, Type::INT8)]).await
}

/// The user's subscription, created as free/active if there is none (a concurrent creation
/// returns the row that won).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn create_free(db: &mut impl Executor, user_id: i64) -> db::Result<Subscription> {
    let sql = format!(
        "insert into subscriptions (user_id) values ($1) \
         on conflict (user_id) do update set user_id = excluded.user_id \
         returning {COLUMNS}"
    );
    db.fetch_one(&sql, &[(&user_id, Type::INT8)]).await
}

/// Own-persona chat messages the user sent today (UTC); 0 when none.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn chat_messages_today(db: &mut impl Executor, user_id: i64) -> db::Result<i64> {
    let used = db
        .fetch_opt::<Value<i64>>(
            "select messages::int8 as value from chat_usage where user_id = $1 and usage_date = $2",
            &[(&user_id, Type::INT8), (&today(), Type::DATE)],
        )
        .await?;
    Ok(used.map_or(0, |v| v.0))
}
