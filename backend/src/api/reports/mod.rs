//! Weekly and monthly mental reports (contract 4.8). A report is per period; it is built by the
//! schedule at the period's end and on demand here, in the worker. A stored report is served
//! while it covers every analysis of the period; once a newer analysis exists, the next read
//! rebuilds it (the job key names the newest analysis time, so concurrent reads share one job).

use axum::{Json, Router, extract::State, routing::get};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::{Row, types::Type};
use utoipa::ToSchema;

use crate::{
    api::auth::session::AuthUser,
    platform::error::{ApiError, ApiResult},
    jobs::{self, AiJob, report::Kind},
    api::state::AppState,
    platform::time::today,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mental/reports/weekly", get(get_weekly_report))
        .route("/mental/reports/monthly", get(get_monthly_report))
}

#[derive(Serialize, ToSchema)]
pub struct MentalReport {
    id: i64,
    user_id: i64,
    report_type: String,
    period_start: NaiveDate,
    period_end: NaiveDate,
    avg_emotional_stability_score: i64,
    avg_vitality_score: i64,
    avg_self_esteem_score: i64,
    avg_positivity_score: i64,
    avg_social_connection_score: i64,
    avg_resilience_score: i64,
    trend: String,
    insights: Option<Vec<String>>,
    recommendations: Option<Vec<String>>,
    #[serde(with = "crate::platform::time::utc")]
    created_at: DateTime<Utc>,
}

impl MentalReport {
    fn from_row(r: &Row) -> Self {
        let score = |name: &str| i64::from(r.get::<_, i16>(name));
        Self {
            id: r.get("id"),
            user_id: r.get("user_id"),
            report_type: r.get("report_type"),
            period_start: r.get("period_start"),
            period_end: r.get("period_end"),
            avg_emotional_stability_score: score("avg_emotional_stability_score"),
            avg_vitality_score: score("avg_vitality_score"),
            avg_self_esteem_score: score("avg_self_esteem_score"),
            avg_positivity_score: score("avg_positivity_score"),
            avg_social_connection_score: score("avg_social_connection_score"),
            avg_resilience_score: score("avg_resilience_score"),
            trend: r.get("trend"),
            insights: r.get("insights"),
            recommendations: r.get("recommendations"),
            created_at: r.get("created_at"),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WeeklyReport {
    #[serde(flatten)]
    report: MentalReport,
    week_number: u32,
    #[schema(value_type = Option<Object>)]
    daily_scores: Option<()>,
}

#[derive(Serialize, ToSchema)]
pub struct MonthlyReport {
    #[serde(flatten)]
    report: MentalReport,
    month: u32,
    year: i32,
    #[schema(value_type = Option<Object>)]
    weekly_averages: Option<()>,
}

#[utoipa::path(get, path = "/api/v1/mental/reports/weekly", tag = "mental", security(("bearer" = [])),
    responses((status = 200, body = WeeklyReport), (status = 404, description = "Not enough data for weekly report. Write more diaries.", body = crate::platform::error::ErrorBody)))]
async fn get_weekly_report(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<WeeklyReport>> {
    let report = current_report(&state, &auth, Kind::Weekly).await?;
    let week_number = report.period_start.iso_week().week();
    Ok(Json(WeeklyReport { report, week_number, daily_scores: None }))
}

#[utoipa::path(get, path = "/api/v1/mental/reports/monthly", tag = "mental", security(("bearer" = [])),
    responses((status = 200, body = MonthlyReport), (status = 404, description = "Not enough data for monthly report. Write more diaries.", body = crate::platform::error::ErrorBody)))]
async fn get_monthly_report(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<MonthlyReport>> {
    let report = current_report(&state, &auth, Kind::Monthly).await?;
    let (month, year) = (report.period_start.month(), report.period_start.year());
    Ok(Json(MonthlyReport { report, month, year, weekly_averages: None }))
}

async fn current_report(state: &AppState, auth: &AuthUser, kind: Kind) -> ApiResult<MentalReport> {
    let (start, end) = kind.period_of(today());
    let not_enough =
        || ApiError::not_found(format!("Not enough data for {} report. Write more diaries.", kind.as_str()));
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_one(
            "select count(*), max(created_at) from mental_analyses where user_id = $1 and analysis_date between $2 and $3",
            &[(&auth.id(), Type::INT8), (&start, Type::DATE), (&end, Type::DATE)],
        )
        .await?;
    let Some(newest_at) = row.get::<_, Option<DateTime<Utc>>>(1) else {
        return Err(not_enough());
    };
    // The newest analysis's time (a re-analysis keeps its row but not its time).
    let newest = newest_at.timestamp_micros();
    if let Some(report) = stored(&mut db, auth.id(), kind, start).await?.filter(|r| r.created_at >= newest_at) {
        return Ok(report);
    }
    drop(db);

    // Build (or join the build of) the report covering the newest analysis.
    let key = format!("{}:{newest}", jobs::report::idempotency_key(auth.id(), kind, start));
    let mut db = state.db.writer().await?;
    let existing = db
        .query_opt(
            "select j.id, a.status from apalis.jobs j left join ai_jobs a on a.id = j.id where j.job_type = $1 and j.idempotency_key = $2",
            &[(&jobs::QUEUE, Type::TEXT), (&key, Type::TEXT)],
        )
        .await?;
    let job_id = match existing {
        Some(row) if row.get::<_, Option<&str>>(1) != Some("failed") => row.get::<_, String>(0),
        failed_or_none => {
            let mut tx = db.transaction().await?;
            if let Some(row) = failed_or_none {
                // A failed build frees its key, so the user can try again.
                tx.execute_typed("delete from apalis.jobs where id = $1", &[(&row.get::<_, &str>(0), Type::TEXT)])
                    .await?;
            }
            let job_id = jobs::new_job_id();
            let job = AiJob::Report { job_id: job_id.clone(), user_id: auth.id(), kind, period_start: start };
            jobs::enqueue(&mut tx, &job, Some(&key)).await?;
            tx.commit().await?;
            state.writes.committed(&mut db, auth.id(), &[]).await?;
            job_id
        }
    };
    drop(db);
    let job = jobs::wait(state, &job_id, auth.id()).await?;
    let mut db = state.db.writer().await?;
    match stored(&mut db, auth.id(), kind, start).await? {
        Some(report) => Ok(report),
        None if job.status == "failed" => {
            Err(ApiError::JobFailed("Failed to generate report. Please try again.".into()))
        }
        None => Err(not_enough()),
    }
}

async fn stored(
    db: &mut crate::platform::db::Conn,
    user_id: i64,
    kind: Kind,
    start: NaiveDate,
) -> ApiResult<Option<MentalReport>> {
    let row = db
        .query_opt(
            "select * from mental_reports where user_id = $1 and report_type = $2 and period_start = $3",
            &[(&user_id, Type::INT8), (&kind.as_str(), Type::TEXT), (&start, Type::DATE)],
        )
        .await?;
    Ok(row.as_ref().map(MentalReport::from_row))
}
