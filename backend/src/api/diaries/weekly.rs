//! The weekly insight: this week's diaries and moods against last week's, the current streak and
//! the AI's one-line summary of the week, cached per user and day.

use axum::{Json, extract::State};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::insights::round;
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::insights::{self, WeeklyRow, weekly_insight_key},
    platform::{
        cache::Computed,
        db::Lsn,
        error::{ApiResult, Unauthenticated},
        time::{today, week_start},
    },
};

#[derive(Serialize, Deserialize, ToSchema)]
pub struct WeeklyInsight {
    diary_count: i64,
    positive_ratio: f64,
    positive_ratio_change: Option<f64>,
    current_streak: i64,
    ai_summary: Option<String>,
    last_diary_date: Option<NaiveDate>,
    dominant_mood: Option<String>,
}

impl From<WeeklyRow> for WeeklyInsight {
    /// Positive ratios are over the diaries that have a mood (0 with none); the change is only
    /// given when last week had diaries.
    fn from(row: WeeklyRow) -> Self {
        let ratio = |positive: i64, with_mood: i64| {
            if with_mood == 0 { 0.0 } else { round(positive as f64 / with_mood as f64, 2) }
        };
        let this_ratio = ratio(row.this_positive, row.this_moods);
        let change = (row.last_count > 0).then(|| round(this_ratio - ratio(row.last_positive, row.last_moods), 2));
        Self {
            diary_count: row.this_count,
            positive_ratio: this_ratio,
            positive_ratio_change: change,
            current_streak: row.current_streak,
            // Written by the worker after each diary this week; null until then (the contract's
            // fallback), and null in a week without diaries.
            ai_summary: row.ai_summary.filter(|_| row.this_count > 0),
            last_diary_date: row.last_day,
            dominant_mood: row.dominant_mood,
        }
    }
}

#[utoipa::path(
    get, path = "/api/v1/diaries/weekly-insight", tag = "diaries",
    security(("bearer" = [])),
    responses(
        (status = 200, body = WeeklyInsight),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_weekly_insight(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<WeeklyInsight>> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let key = weekly_insight_key(user_id, today());
    Ok(Json(state.cache.cached(&key, min_lsn, || compute_weekly_insight(&state, user_id, min_lsn)).await?))
}

async fn compute_weekly_insight(
    state: &AppState,
    user_id: i64,
    min_lsn: Option<Lsn>,
) -> ApiResult<Computed<WeeklyInsight>> {
    let today = today();
    let mut db = state.db.reader(min_lsn).await?;
    let row = insights::weekly(&mut db, user_id, week_start(today), today).await?;
    Ok(Computed { role: db.role(), value: WeeklyInsight::from(row) })
}
