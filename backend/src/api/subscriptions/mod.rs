//! Subscriptions (contract 4.10): a mock upgrade (no payment provider yet; the table has room
//! for one), cancellation with a grace period until expiry, lazy expiry, and the plan limits the
//! rest of the API enforces (friends, own-persona chat messages).

use axum::{
    Json, Router,
    extract::State,
    routing::{get, post},
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Row, types::Type};
use utoipa::ToSchema;

use crate::{
    api::auth::session::AuthUser,
    platform::db::Conn,
    platform::error::{ApiError, ApiResult},
    api::friends::{FREE_FRIEND_LIMIT, count_friends},
    platform::http::{
        extract::Body,
        validate::{Validate, Violations},
    },
    api::state::AppState,
    platform::time::today,
};

/// Free plan: own-persona chat messages per UTC day.
pub const FREE_DAILY_CHAT_LIMIT: i64 = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/subscriptions/status", get(get_status))
        .route("/subscriptions/usage", get(get_usage))
        .route("/subscriptions/plans", get(list_plans))
        .route("/subscriptions/upgrade", post(upgrade))
        .route("/subscriptions/cancel", post(cancel))
        .route("/subscriptions/me", get(get_mine))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Subscription {
    id: i64,
    user_id: i64,
    /// `free` | `premium`
    plan: String,
    /// `active` | `cancelled` | `expired`
    status: String,
    #[serde(with = "crate::platform::time::utc")]
    started_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc_opt")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::platform::time::utc_opt")]
    cancelled_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::platform::time::utc")]
    created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, plan, status, started_at, expires_at, cancelled_at, created_at";

impl Subscription {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            plan: row.get("plan"),
            status: row.get("status"),
            started_at: row.get("started_at"),
            expires_at: row.get("expires_at"),
            cancelled_at: row.get("cancelled_at"),
            created_at: row.get("created_at"),
        }
    }

    /// Premium = plan premium, active or cancelled (grace), not past expiry.
    fn is_premium(&self, now: DateTime<Utc>) -> bool {
        self.plan == "premium"
            && (self.status == "active" || self.status == "cancelled")
            && self.expires_at.is_none_or(|t| t > now)
    }
}

/// The user's subscription, with lazy expiry applied: a premium row past its expiry is rewritten
/// to free/expired the first time anyone looks.
async fn load(db: &mut Conn, user_id: i64) -> ApiResult<Option<Subscription>> {
    let row = db
        .query_opt(&format!("select {COLUMNS} from subscriptions where user_id = $1"), &[(&user_id, Type::INT8)])
        .await?;
    let Some(sub) = row.as_ref().map(Subscription::from_row) else { return Ok(None) };
    if sub.plan == "premium" && sub.expires_at.is_some_and(|t| t <= Utc::now()) {
        let row = db
            .query_one(
                &format!(
                    "update subscriptions set plan = 'free', status = 'expired' where user_id = $1 returning {COLUMNS}"
                ),
                &[(&user_id, Type::INT8)],
            )
            .await?;
        return Ok(Some(Subscription::from_row(&row)));
    }
    Ok(Some(sub))
}

/// Whether the user is premium now (applies lazy expiry, so it needs a primary connection).
pub async fn is_premium(db: &mut Conn, user_id: i64) -> ApiResult<bool> {
    Ok(load(db, user_id).await?.is_some_and(|s| s.is_premium(Utc::now())))
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    is_premium: bool,
    plan: String,
    status: String,
    #[serde(with = "crate::platform::time::utc_opt")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::platform::time::utc_opt")]
    cancelled_at: Option<DateTime<Utc>>,
    /// Whole days left, only while the expiry is in the future.
    days_remaining: Option<i64>,
    is_in_grace_period: bool,
}

#[utoipa::path(get, path = "/api/v1/subscriptions/status", tag = "subscriptions", security(("bearer" = [])), responses((status = 200, body = Status)))]
async fn get_status(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Status>> {
    let mut db = state.db.writer().await?;
    let now = Utc::now();
    let status = match load(&mut db, auth.id()).await? {
        None => Status {
            is_premium: false,
            plan: "free".into(),
            status: "active".into(),
            expires_at: None,
            cancelled_at: None,
            days_remaining: None,
            is_in_grace_period: false,
        },
        Some(sub) => {
            let premium = sub.is_premium(now);
            Status {
                is_premium: premium,
                days_remaining: sub.expires_at.filter(|t| *t > now).map(|t| (t - now).num_days()),
                is_in_grace_period: premium && sub.status == "cancelled",
                plan: sub.plan,
                status: sub.status,
                expires_at: sub.expires_at,
                cancelled_at: sub.cancelled_at,
            }
        }
    };
    Ok(Json(status))
}

#[derive(Serialize, ToSchema)]
pub struct Usage {
    is_premium: bool,
    plan: String,
    daily_chat_messages: ChatUsage,
    friends: FriendUsage,
    features: Features,
}

#[derive(Serialize, ToSchema)]
pub struct ChatUsage {
    used: i64,
    limit: Option<i64>,
    remaining: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct FriendUsage {
    count: i64,
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Features {
    can_chat_with_friends: bool,
    advanced_stats: bool,
    chemistry_analysis: bool,
}

/// Own-persona chat messages sent today (UTC).
pub async fn chat_messages_today(db: &mut Conn, user_id: i64) -> ApiResult<i64> {
    let row = db
        .query_opt(
            "select messages::int8 from chat_usage where user_id = $1 and usage_date = $2",
            &[(&user_id, Type::INT8), (&today(), Type::DATE)],
        )
        .await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

#[utoipa::path(get, path = "/api/v1/subscriptions/usage", tag = "subscriptions", security(("bearer" = [])), responses((status = 200, body = Usage)))]
async fn get_usage(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Usage>> {
    let mut db = state.db.writer().await?;
    let premium = is_premium(&mut db, auth.id()).await?;
    let used = chat_messages_today(&mut db, auth.id()).await?;
    let friends = count_friends(&mut db, auth.id()).await?;
    let chat_limit = (!premium).then_some(FREE_DAILY_CHAT_LIMIT);
    Ok(Json(Usage {
        is_premium: premium,
        plan: if premium { "premium" } else { "free" }.into(),
        daily_chat_messages: ChatUsage { used, limit: chat_limit, remaining: chat_limit.map(|l| (l - used).max(0)) },
        friends: FriendUsage { count: friends, limit: (!premium).then_some(FREE_FRIEND_LIMIT) },
        features: Features { can_chat_with_friends: premium, advanced_stats: premium, chemistry_analysis: premium },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Plan {
    name: String,
    price: i64,
    currency: String,
    features: Vec<String>,
    period_days: i64,
}

#[utoipa::path(get, path = "/api/v1/subscriptions/plans", tag = "subscriptions", responses((status = 200, body = Vec<Plan>)))]
async fn list_plans() -> Json<Vec<Plan>> {
    let monthly: Vec<String> =
        ["페르소나 무제한 대화", "친구 페르소나와 대화", "상세 감정 리포트", "케미 분석", "친구 무제한 추가"]
            .map(String::from)
            .to_vec();
    let mut yearly = monthly.clone();
    yearly.push("2개월 무료 혜택".into());
    Json(vec![
        Plan {
            name: "프리미엄 월간".into(), price: 4900, currency: "KRW".into(), features: monthly, period_days: 30
        },
        Plan {
            name: "프리미엄 연간".into(), price: 39900, currency: "KRW".into(), features: yearly, period_days: 365
        },
    ])
}

#[derive(Deserialize, ToSchema)]
struct Upgrade {
    #[serde(default = "thirty")]
    period_days: i64,
}

fn thirty() -> i64 {
    30
}

impl Validate for Upgrade {
    fn validate(&self, _: &mut Violations) {}
}

/// The contract's mock upgrade. No row: premium for the period. Cancelled but not expired: the
/// period extends the current expiry. Otherwise (also active premium): restart now.
#[utoipa::path(post, path = "/api/v1/subscriptions/upgrade", tag = "subscriptions", security(("bearer" = [])), request_body(content = Upgrade, description = "Optional"),
    responses((status = 200, body = Subscription), (status = 400, description = "Invalid subscription period", body = crate::platform::error::ErrorBody)))]
async fn upgrade(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<Upgrade>,
) -> ApiResult<Json<Subscription>> {
    if ![30, 365].contains(&body.period_days) {
        return Err(ApiError::bad_request("Invalid subscription period"));
    }
    let period = Duration::days(body.period_days);
    let now = Utc::now();
    let mut db = state.db.writer().await?;
    let current = load(&mut db, auth.id()).await?;
    let (started_at, expires_at) = match &current {
        Some(sub) if sub.status == "cancelled" && sub.is_premium(now) => {
            (sub.started_at, sub.expires_at.map_or(now + period, |t| t + period))
        }
        _ => (now, now + period),
    };
    let row = db
        .query_one(
            &format!(
                "insert into subscriptions (user_id, plan, status, started_at, expires_at) values ($1, 'premium', 'active', $2, $3) \
                 on conflict (user_id) do update set plan = 'premium', status = 'active', started_at = $2, \
                 expires_at = $3, cancelled_at = null returning {COLUMNS}"
            ),
            &[(&auth.id(), Type::INT8), (&started_at, Type::TIMESTAMPTZ), (&expires_at, Type::TIMESTAMPTZ)],
        )
        .await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(Json(Subscription::from_row(&row)))
}

#[utoipa::path(post, path = "/api/v1/subscriptions/cancel", tag = "subscriptions", security(("bearer" = [])),
    responses((status = 200, body = Subscription), (status = 400, description = "Cannot cancel free plan | Subscription already cancelled | Subscription already expired", body = crate::platform::error::ErrorBody),
        (status = 404, description = "Subscription not found", body = crate::platform::error::ErrorBody)))]
async fn cancel(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Subscription>> {
    let mut db = state.db.writer().await?;
    let sub = load(&mut db, auth.id()).await?.ok_or_else(|| ApiError::not_found("Subscription not found"))?;
    match sub.status.as_str() {
        "expired" => return Err(ApiError::bad_request("Subscription already expired")),
        "cancelled" => return Err(ApiError::bad_request("Subscription already cancelled")),
        _ if sub.plan == "free" => return Err(ApiError::bad_request("Cannot cancel free plan")),
        _ => {}
    }
    let row = db
        .query_one(
            &format!("update subscriptions set status = 'cancelled', cancelled_at = now() where user_id = $1 returning {COLUMNS}"),
            &[(&auth.id(), Type::INT8)],
        )
        .await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(Json(Subscription::from_row(&row)))
}

/// The subscription, created as free/active if the user has none.
#[utoipa::path(get, path = "/api/v1/subscriptions/me", tag = "subscriptions", security(("bearer" = [])), responses((status = 200, body = Subscription)))]
async fn get_mine(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Subscription>> {
    let mut db = state.db.writer().await?;
    if let Some(sub) = load(&mut db, auth.id()).await? {
        return Ok(Json(sub));
    }
    let row = db
        .query_one(
            &format!(
                "insert into subscriptions (user_id) values ($1) on conflict (user_id) do update set user_id = excluded.user_id \
                 returning {COLUMNS}"
            ),
            &[(&auth.id(), Type::INT8)],
        )
        .await?;
    Ok(Json(Subscription::from_row(&row)))
}
