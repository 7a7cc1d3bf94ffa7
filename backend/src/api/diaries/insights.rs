//! Cached aggregates over a user's diaries: stats and streaks, and the month calendar; and the
//! cached reads a diary write changes.

use std::collections::BTreeMap;

use axum::{Json, extract::State};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::types::CalendarQuery;
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::insights::{self, CalendarDay, StatsRow, calendar_key, stats_key, weekly_insight_key},
    platform::{
        cache::{Cache, CacheKey, CachedJson, Computed},
        db::Lsn,
        error::{ApiResult, Invalid, Unauthenticated},
        http::extract::QueryParams,
        time::today,
    },
};

/// The cached reads a diary write on `date` changes: the author's aggregates for today, that
/// month's calendar, the count and the list's first page.
pub fn keys_changed_by_diary_write(user_id: i64, date: NaiveDate) -> Vec<CacheKey> {
    let today = today();
    vec![
        stats_key(user_id, today),
        weekly_insight_key(user_id, today),
        CacheKey::new(Cache::DiaryCount, user_id),
        CacheKey::new(Cache::DiaryPage, user_id),
        calendar_key(user_id, i64::from(date.year()), i64::from(date.month())),
    ]
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Stats {
    total_count: i64,
    current_streak: i64,
    longest_streak: i64,
    /// Diaries per mood (only diaries with a mood).
    mood_distribution: BTreeMap<String, i64>,
    /// Diaries per `YYYY-MM`, the latest 12 months that have any.
    monthly_count: BTreeMap<String, i64>,
    weekly_average: f64,
}

impl Stats {
    /// The wire shape of the stats row: the distributions parsed, the weekly average over the
    /// weeks from the first diary to the last (at least one).
    fn new(row: &StatsRow) -> anyhow::Result<Self> {
        let weekly_average = match (row.first_day, row.last_day) {
            (Some(first), Some(last)) => {
                let span_days = (last - first).num_days() + 1;
                round(row.total as f64 / (span_days as f64 / 7.0).max(1.0), 1)
            }
            _ => 0.0,
        };
        Ok(Self {
            total_count: row.total,
            current_streak: row.current,
            longest_streak: row.longest,
            mood_distribution: serde_json::from_str(&row.moods)?,
            monthly_count: serde_json::from_str(&row.monthly)?,
            weekly_average,
        })
    }
}

/// `x` rounded to `digits` decimals.
pub(super) fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[utoipa::path(
    get, path = "/api/v1/diaries/stats", tag = "diaries",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Stats),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_stats(State(state): State<AppState>, auth: AuthUser) -> ApiResult<CachedJson> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let key = stats_key(user_id, today());
    state.cache.cached_json(&key, min_lsn, || compute_stats(&state, user_id, min_lsn)).await
}

async fn compute_stats(state: &AppState, user_id: i64, min_lsn: Option<Lsn>) -> ApiResult<Computed<Stats>> {
    let mut db = state.db.reader(min_lsn).await?;
    let row = insights::stats(&mut db, user_id, today()).await?;
    Ok(Computed { role: db.role(), value: Stats::new(&row)? })
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Calendar {
    items: Vec<CalendarDay>,
    year: i64,
    month: i64,
}

#[utoipa::path(
    get, path = "/api/v1/diaries/calendar", tag = "diaries",
    security(("bearer" = [])),
    params(CalendarQuery),
    responses(
        (status = 200, body = Calendar),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), year = q.year, month = q.month))]
pub async fn get_calendar(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<CalendarQuery>,
) -> ApiResult<Json<Calendar>> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let key = calendar_key(user_id, q.year, q.month);
    Ok(Json(state.cache.cached(&key, min_lsn, || compute_calendar(&state, user_id, min_lsn, q.year, q.month)).await?))
}

async fn compute_calendar(
    state: &AppState,
    user_id: i64,
    min_lsn: Option<Lsn>,
    year: i64,
    month: i64,
) -> ApiResult<Computed<Calendar>> {
    let (start, end) = month_range(year, month);
    let mut db = state.db.reader(min_lsn).await?;
    let items = insights::calendar(&mut db, user_id, start, end).await?;
    Ok(Computed { role: db.role(), value: Calendar { items, year, month } })
}

/// The month's first day and the next month's first day. `CalendarQuery`'s validated ranges
/// make both exist.
fn month_range(year: i64, month: i64) -> (NaiveDate, NaiveDate) {
    let first_of =
        |year: i64, month: i64| NaiveDate::from_ymd_opt(year as i32, month as u32, 1).expect("validated year/month");
    let next = if month == 12 { first_of(year + 1, 1) } else { first_of(year, month + 1) };
    (first_of(year, month), next)
}
