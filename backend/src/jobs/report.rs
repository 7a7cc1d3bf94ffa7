//! Weekly and monthly mental reports: one per user and period (a new week or month gets a new
//! report). Built by the schedule for active users, and on demand when a user opens the report.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::types::Type;

use super::{
    AiJob, new_job_id,
    worker::{JobError, JobResult, WorkerState},
};
use crate::{platform::error::ApiResult, llm::prompts, api::state::AppState};

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Weekly,
    Monthly,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    /// The period containing `day`: ISO week Monday..Sunday, or the calendar month.
    pub fn period_of(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        match self {
            Self::Weekly => {
                let start = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
                (start, start + Duration::days(6))
            }
            Self::Monthly => {
                let start = day.with_day(1).expect("day 1 exists");
                let next = if start.month() == 12 {
                    NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
                }
                .expect("valid month");
                (start, next - Duration::days(1))
            }
        }
    }

    fn previous(self, start: NaiveDate) -> NaiveDate {
        self.period_of(start - Duration::days(1)).0
    }
}

/// Integer floor of each axis' mean over the period; `None` without analyses.
const AVERAGES_SQL: &str = "select count(*), \
    coalesce(floor(avg(emotional_stability_score)), 0)::int8, coalesce(floor(avg(vitality_score)), 0)::int8, \
    coalesce(floor(avg(self_esteem_score)), 0)::int8, coalesce(floor(avg(positivity_score)), 0)::int8, \
    coalesce(floor(avg(social_connection_score)), 0)::int8, coalesce(floor(avg(resilience_score)), 0)::int8 \
    from mental_analyses where user_id = $1 and analysis_date between $2 and $3";

#[derive(Deserialize)]
struct Written {
    insights: Vec<String>,
    recommendations: Vec<String>,
}

fn validate(w: &Written) -> Result<(), String> {
    let ok = |v: &Vec<String>| (1..=6).contains(&v.len()) && v.iter().all(|s| !s.trim().is_empty());
    if ok(&w.insights) && ok(&w.recommendations) {
        Ok(())
    } else {
        Err("insights and recommendations need 1-6 non-empty items".into())
    }
}

pub async fn run(state: &WorkerState, user_id: i64, kind: Kind, period_start: NaiveDate) -> JobResult {
    let (start, end) = kind.period_of(period_start);
    let mut db = state.app.db.writer().await?;
    let averages = |row: &tokio_postgres::Row| (1..=6).map(|i| row.get::<_, i64>(i)).collect::<Vec<i64>>();
    let current =
        db.query_one(AVERAGES_SQL, &[(&user_id, Type::INT8), (&start, Type::DATE), (&end, Type::DATE)]).await?;
    if current.get::<_, i64>(0) == 0 {
        return Err(JobError::Invalid("Not enough data for this report.".into()));
    }
    let avg = averages(&current);
    let prev_start = kind.previous(start);
    let (_, prev_end) = kind.period_of(prev_start);
    let previous = db
        .query_one(AVERAGES_SQL, &[(&user_id, Type::INT8), (&prev_start, Type::DATE), (&prev_end, Type::DATE)])
        .await?;
    // Trend: emotional stability or positivity moved by more than 10 points (up checked first).
    let trend = if previous.get::<_, i64>(0) == 0 {
        "stable"
    } else {
        let prev = averages(&previous);
        let (d_stability, d_positivity) = (avg[0] - prev[0], avg[3] - prev[3]);
        if d_stability > 10 || d_positivity > 10 {
            "improving"
        } else if d_stability < -10 || d_positivity < -10 {
            "declining"
        } else {
            "stable"
        }
    };
    drop(db);
    let axes = json!({ "emotional_stability": avg[0], "vitality": avg[1], "self_esteem": avg[2],
                       "positivity": avg[3], "social_connection": avg[4], "resilience": avg[5] });
    let written: Written = state
        .llm
        .complete_json(&prompts::report(kind.as_str(), &format!("{start}..{end}"), &axes, trend), validate)
        .await?;
    let small = |v: i64| v as i16;
    let mut db = state.app.db.writer().await?;
    let mut tx = db.transaction().await?;
    let row = tx
        .query_typed(
            "insert into mental_reports (user_id, report_type, period_start, period_end, avg_emotional_stability_score, \
                 avg_vitality_score, avg_self_esteem_score, avg_positivity_score, avg_social_connection_score, \
                 avg_resilience_score, trend, insights, recommendations) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             on conflict (user_id, report_type, period_start) do update set period_end = excluded.period_end, \
                 avg_emotional_stability_score = excluded.avg_emotional_stability_score, avg_vitality_score = excluded.avg_vitality_score, \
                 avg_self_esteem_score = excluded.avg_self_esteem_score, avg_positivity_score = excluded.avg_positivity_score, \
                 avg_social_connection_score = excluded.avg_social_connection_score, avg_resilience_score = excluded.avg_resilience_score, \
                 trend = excluded.trend, insights = excluded.insights, recommendations = excluded.recommendations, created_at = now() \
             returning id",
            &[
                (&user_id, Type::INT8),
                (&kind.as_str(), Type::TEXT),
                (&start, Type::DATE),
                (&end, Type::DATE),
                (&small(avg[0]), Type::INT2),
                (&small(avg[1]), Type::INT2),
                (&small(avg[2]), Type::INT2),
                (&small(avg[3]), Type::INT2),
                (&small(avg[4]), Type::INT2),
                (&small(avg[5]), Type::INT2),
                (&trend, Type::TEXT),
                (&written.insights, Type::TEXT_ARRAY),
                (&written.recommendations, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    let id: i64 = row.first().ok_or_else(|| JobError::Internal("report upsert returned nothing".into()))?.get(0);
    let title = match kind {
        Kind::Weekly => "주간 감정 리포트가 도착했어요 📊",
        Kind::Monthly => "월간 감정 리포트가 도착했어요 📊",
    };
    tx.execute_typed(
        "insert into notifications (user_id, type, title, content) values ($1, 'report_ready', $2, $3)",
        &[(&user_id, Type::INT8), (&title, Type::VARCHAR), (&format!("{start} ~ {end}"), Type::TEXT)],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(json!({ "report_id": id })))
}

/// The one key per user, kind and period: on-demand and scheduled builds share it.
pub fn idempotency_key(user_id: i64, kind: Kind, start: NaiveDate) -> String {
    format!("report:{user_id}:{}:{start}", kind.as_str())
}

/// Enqueues the schedule's fan-out once per period, however many workers fire the tick.
pub async fn schedule(app: &AppState, kind: Kind, period_start: NaiveDate) -> ApiResult<()> {
    let mut db = app.db.writer().await?;
    let job = AiJob::ScheduleReports { job_id: new_job_id(), kind, period_start };
    let key = format!("schedule:{}:{period_start}", kind.as_str());
    let fresh = super::enqueue(&mut db, &job, Some(&key)).await?;
    tracing::info!(kind = kind.as_str(), %period_start, fresh, "report schedule tick");
    Ok(())
}

/// One report job per user with analyses in the period.
pub async fn fan_out(state: &WorkerState, kind: Kind, period_start: NaiveDate) -> JobResult {
    let (start, end) = kind.period_of(period_start);
    let mut db = state.app.db.writer().await?;
    let users = db
        .query(
            "select distinct user_id from mental_analyses where analysis_date between $1 and $2",
            &[(&start, Type::DATE), (&end, Type::DATE)],
        )
        .await?;
    let mut enqueued = 0;
    for row in &users {
        let user_id: i64 = row.get(0);
        let job = AiJob::Report { job_id: new_job_id(), user_id, kind, period_start: start };
        if super::enqueue(&mut db, &job, Some(&idempotency_key(user_id, kind, start))).await? {
            enqueued += 1;
        }
    }
    Ok(Some(json!({ "users": users.len(), "enqueued": enqueued })))
}
