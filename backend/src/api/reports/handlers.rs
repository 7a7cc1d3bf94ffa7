//! The report endpoints: the current period's report, served if it is up to date, else built by
//! the worker while the request waits.

use axum::{Json, extract::State};
use chrono::Datelike;

use super::types::{MonthlyReport, WeeklyReport};
use crate::{
    api::{auth::session::AuthUser, jobs, state::AppState},
    data::reports::{self, MentalReport},
    jobs::{JobState, report::Kind},
    platform::{
        error::{ApiError, ApiResult, ErrorBody},
        time::today,
    },
};

#[utoipa::path(
    get, path = "/api/v1/mental/reports/weekly", tag = "mental",
    security(("bearer" = [])),
    responses(
        (status = 200, body = WeeklyReport),
        (status = 404, description = "Not enough data for weekly report. Write more diaries.", body = ErrorBody),
        (status = 429, description = "Monthly AI budget used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_weekly_report(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<WeeklyReport>> {
    let report = current_report(&state, &auth, Kind::Weekly).await?;
    let week_number = report.period_start.iso_week().week();
    Ok(Json(WeeklyReport { report, week_number, daily_scores: None }))
}

#[utoipa::path(
    get, path = "/api/v1/mental/reports/monthly", tag = "mental",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MonthlyReport),
        (status = 404, description = "Not enough data for monthly report. Write more diaries.", body = ErrorBody),
        (status = 429, description = "Monthly AI budget used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_monthly_report(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<MonthlyReport>> {
    let report = current_report(&state, &auth, Kind::Monthly).await?;
    let (month, year) = (report.period_start.month(), report.period_start.year());
    Ok(Json(MonthlyReport { report, month, year, weekly_averages: None }))
}

fn not_enough(kind: Kind) -> ApiError {
    ApiError::not_found(format!("Not enough data for {} report. Write more diaries.", kind.as_str()))
}

/// The report of the current period: the stored one while it covers the newest analysis, else a
/// fresh build (joined if already under way), waited for.
async fn current_report(state: &AppState, auth: &AuthUser, kind: Kind) -> ApiResult<MentalReport> {
    let (start, end) = kind.period_of(today());
    let mut db = state.db.reader(auth.min_lsn).await?;
    // The newest analysis's time (a re-analysis keeps its row but not its time).
    let newest_at =
        reports::newest_analysis_at(&mut db, auth.id(), start, end).await?.ok_or_else(|| not_enough(kind))?;
    let stored = reports::find(&mut db, auth.id(), kind.as_str(), start).await?;
    if let Some(report) = stored.filter(|r| r.created_at >= newest_at) {
        return Ok(report);
    }
    drop(db);

    crate::api::subscriptions::budget::ensure_within(state, auth.id()).await?;
    let mut db = state.db.writer().await?;
    let build = crate::jobs::report::request(&mut db, auth.id(), kind, start, newest_at).await?;
    if build.enqueued {
        state.writes.committed(&mut db, auth.id(), &[]).await?;
    }
    drop(db);
    let job = jobs::wait(state, &build.job_id, auth.id()).await?;
    let mut db = state.db.writer().await?;
    match reports::find(&mut db, auth.id(), kind.as_str(), start).await? {
        Some(report) => Ok(report),
        None if job.state() == JobState::Failed => {
            Err(ApiError::JobFailed("Failed to generate report. Please try again.".into()))
        }
        None => Err(not_enough(kind)),
    }
}
