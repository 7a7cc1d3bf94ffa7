//! The subscription endpoints. Every read applies lazy expiry (a write), so all of them use the
//! primary.

use axum::{Json, extract::State};
use chrono::{DateTime, Duration, Utc};

use super::types::{Plan, Status, Upgrade, Usage};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::{
        budgets, friends,
        subscriptions::{self, Subscription},
    },
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::Body,
    },
};

#[utoipa::path(
    get, path = "/api/v1/subscriptions/status", tag = "subscriptions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Status),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_status(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Status>> {
    let mut db = state.db.writer().await?;
    let status = match subscriptions::current(&mut db, auth.id()).await? {
        None => Status::free(),
        Some(sub) => Status::of(sub, Utc::now()),
    };
    Ok(Json(status))
}

#[utoipa::path(
    get, path = "/api/v1/subscriptions/usage", tag = "subscriptions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Usage),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_usage(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Usage>> {
    let mut db = state.db.writer().await?;
    let premium = subscriptions::is_premium(&mut db, auth.id()).await?;
    let used = subscriptions::chat_messages_today(&mut db, auth.id()).await?;
    let friends = friends::count(&mut db, auth.id()).await?;
    let budget = budgets::budget(&mut db, auth.id(), premium, &state.settings.budgets, chrono::Utc::now()).await?;
    Ok(Json(Usage { llm_budget: Some(budget), ..Usage::new(premium, used, friends) }))
}

#[utoipa::path(
    get, path = "/api/v1/subscriptions/plans", tag = "subscriptions",
    responses(
        (status = 200, body = Vec<Plan>),
    ),
)]
#[tracing::instrument(level = "debug", skip_all)]
pub async fn list_plans() -> Json<Vec<Plan>> {
    Json(Plan::all())
}

/// The contract's mock upgrade. No row: premium for the period. Cancelled but not expired: the
/// period extends the current expiry. Otherwise (also active premium): restart now.
#[utoipa::path(
    post, path = "/api/v1/subscriptions/upgrade", tag = "subscriptions",
    security(("bearer" = [])),
    request_body(content = Option<Upgrade>, description = "Optional"),
    responses(
        (status = 200, body = Subscription),
        (status = 400, description = "Invalid subscription period", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn upgrade(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<Upgrade>,
) -> ApiResult<Json<Subscription>> {
    if ![30, 365].contains(&body.period_days) {
        return Err(ApiError::bad_request("Invalid subscription period"));
    }
    let mut db = state.db.writer().await?;
    let current = subscriptions::current(&mut db, auth.id()).await?;
    let (started_at, expires_at) = upgraded_period(current.as_ref(), Duration::days(body.period_days), Utc::now());
    let sub = subscriptions::upgrade(&mut db, auth.id(), started_at, expires_at).await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(Json(sub))
}

/// The new (start, expiry): a cancelled subscription still in its grace period keeps its start
/// and extends its expiry by `period`; anything else starts over `now`.
fn upgraded_period(
    current: Option<&Subscription>,
    period: Duration,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    match current {
        Some(sub) if sub.status == "cancelled" && sub.is_premium(now) => {
            (sub.started_at, sub.expires_at.map_or(now + period, |t| t + period))
        }
        _ => (now, now + period),
    }
}

#[utoipa::path(
    post, path = "/api/v1/subscriptions/cancel", tag = "subscriptions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Subscription),
        (status = 400, description = "Cannot cancel free plan | Subscription already cancelled | Subscription already expired", body = ErrorBody),
        Unauthenticated,
        (status = 404, description = "Subscription not found", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn cancel(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Subscription>> {
    let mut db = state.db.writer().await?;
    let sub = subscriptions::current(&mut db, auth.id())
        .await?
        .ok_or_else(|| ApiError::not_found("Subscription not found"))?;
    match sub.status.as_str() {
        "expired" => return Err(ApiError::bad_request("Subscription already expired")),
        "cancelled" => return Err(ApiError::bad_request("Subscription already cancelled")),
        _ if sub.plan == "free" => return Err(ApiError::bad_request("Cannot cancel free plan")),
        _ => {}
    }
    let sub = subscriptions::cancel(&mut db, auth.id()).await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(Json(sub))
}

/// The subscription, created as free/active if the user has none.
#[utoipa::path(
    get, path = "/api/v1/subscriptions/me", tag = "subscriptions",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Subscription),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_mine(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Subscription>> {
    let mut db = state.db.writer().await?;
    if let Some(sub) = subscriptions::current(&mut db, auth.id()).await? {
        return Ok(Json(sub));
    }
    let sub = subscriptions::create_free(&mut db, auth.id()).await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(Json(sub))
}
