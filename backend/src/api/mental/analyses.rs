//! The views over a user's analyses: the latest with its feedback, the radar, the history, the
//! negative-trend check, and the feedback of one analysis.

use axum::{Json, extract::State};
use chrono::Duration;

use super::{ANALYSIS_NOT_FOUND, NO_ANALYSIS, types::*};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::mental::{self, MentalFeedback, Scores, feedback_or_fallback},
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::{Body, QueryParams},
        time::today,
    },
};

#[utoipa::path(
    get, path = "/api/v1/mental/current", tag = "mental",
    security(("bearer" = [])),
    responses(
        (status = 200, body = CurrentAnalysis),
        (status = 404, description = "No mental analysis found. Write a diary first.", body = ErrorBody),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_current_analysis(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<CurrentAnalysis>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let latest = mental::latest(&mut db, auth.id()).await?.ok_or_else(|| ApiError::not_found(NO_ANALYSIS))?;
    let feedback = feedback_or_fallback(latest.feedback, &latest.analysis.overall_status);
    Ok(Json(CurrentAnalysis { analysis: latest.analysis, feedback }))
}

/// The latest analysis against the one before; never 404 (all 50 and `stable` without data).
#[utoipa::path(
    get, path = "/api/v1/mental/radar", tag = "mental",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Radar),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_radar(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Radar>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let mut latest = mental::latest_scores(&mut db, auth.id()).await?.into_iter();
    let (current, previous) = (latest.next(), latest.next());
    let trend = match (&current, &previous) {
        (Some(current), Some(previous)) => radar_trend(current, previous),
        _ => Trend::Stable,
    };
    Ok(Json(Radar {
        current: current.unwrap_or_else(Scores::neutral).into(),
        previous: previous.map(RadarData::from),
        trend,
    }))
}

/// Newest first. One round trip: the page and the total (a window count) together; only a page
/// past the end needs a separate count.
#[utoipa::path(
    get, path = "/api/v1/mental/history", tag = "mental",
    security(("bearer" = [])),
    params(HistoryQuery),
    responses(
        (status = 200, body = History),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_history(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> ApiResult<Json<History>> {
    let since = today() - Duration::days(q.days);
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = mental::history(&mut db, auth.id(), since, q.limit, q.skip).await?;
    let total = match rows.first() {
        Some(row) => row.total,
        None if q.skip > 0 => mental::count_since(&mut db, auth.id(), since).await?,
        None => 0,
    };
    let items = rows
        .into_iter()
        .map(|row| HistoryItem {
            date: row.analysis_date,
            overall_status: row.rated.overall_status,
            scores: row.rated.scores,
        })
        .collect();
    Ok(Json(History { items, total }))
}

#[utoipa::path(
    get, path = "/api/v1/mental/check-negative-trend", tag = "mental",
    security(("bearer" = [])),
    params(TrendQuery),
    responses(
        (status = 200, body = NegativeTrend),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn check_negative_trend(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<TrendQuery>,
) -> ApiResult<Json<NegativeTrend>> {
    let since = today() - Duration::days(q.days);
    let mut db = state.db.reader(auth.min_lsn).await?;
    let tally = mental::tally_since(&mut db, auth.id(), since).await?;
    Ok(Json(NegativeTrend {
        is_negative_trend: is_negative_trend(tally.analyses, tally.negative),
        days_checked: q.days,
    }))
}

/// A POST for the frontend's sake, but a read: the stored feedback, or the fallback while the
/// job has not written one (no request calls the LLM).
#[utoipa::path(
    post, path = "/api/v1/mental/feedback", tag = "mental",
    security(("bearer" = [])),
    request_body(content = Option<FeedbackRequest>, description = "Optional"),
    responses(
        (status = 200, body = MentalFeedback),
        (status = 404, description = "Mental analysis not found.", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_feedback(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<FeedbackRequest>,
) -> ApiResult<Json<MentalFeedback>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let stored = mental::feedback(&mut db, auth.id(), body.analysis_id)
        .await?
        .ok_or_else(|| ApiError::not_found(ANALYSIS_NOT_FOUND))?;
    Ok(Json(feedback_or_fallback(stored.feedback, &stored.overall_status)))
}
