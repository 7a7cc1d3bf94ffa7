//! Weekly and monthly mental reports: one per user and period (a new week or month gets a new
//! report). Built by the schedule for active users, and on demand when a user opens the report.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    AiJob, JobState,
    context::Context,
    error::{JobError, JobResult},
    new_job_id,
};
use crate::{
    data::{
        notifications,
        reports::{self, Averages, NewReport},
    },
    llm::prompts,
    platform::{
        db::{self, Conn, Db},
        time::week_start,
    },
};

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
                let start = week_start(day);
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

    fn notification_title(self) -> &'static str {
        match self {
            Self::Weekly => "주간 감정 리포트가 도착했어요 📊",
            Self::Monthly => "월간 감정 리포트가 도착했어요 📊",
        }
    }
}

/// What the model writes of a report.
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

/// Builds `user_id`'s `kind` report for the period containing `period_start`, and notifies them.
#[tracing::instrument(level = "info", skip_all, fields(user_id = user_id, kind = kind.as_str()))]
pub async fn run(ctx: &Context, user_id: i64, kind: Kind, period_start: NaiveDate) -> JobResult {
    let (start, end) = kind.period_of(period_start);
    let mut db = ctx.db.writer().await?;
    let averages = reports::averages(&mut db, user_id, start, end).await?;
    if averages.analyses == 0 {
        return Err(JobError::Invalid("Not enough data for this report.".into()));
    }
    let trend = trend(&mut db, user_id, kind, start, &averages).await?;
    drop(db);
    let written = write(ctx, kind, (start, end), &averages, trend).await?;
    let report = NewReport {
        user_id,
        report_type: kind.as_str(),
        period_start: start,
        period_end: end,
        averages: &averages,
        trend,
        insights: &written.insights,
        recommendations: &written.recommendations,
    };
    let id = store(ctx, kind, &report).await?;
    Ok(Some(json!({ "report_id": id })))
}

/// Against the previous period: `improving` or `declining` when emotional stability or
/// positivity moved by more than 10 points (up checked first), else `stable`.
async fn trend(
    db: &mut Conn,
    user_id: i64,
    kind: Kind,
    start: NaiveDate,
    current: &Averages,
) -> db::Result<&'static str> {
    let (prev_start, prev_end) = kind.period_of(kind.previous(start));
    let previous = reports::averages(db, user_id, prev_start, prev_end).await?;
    if previous.analyses == 0 {
        return Ok("stable");
    }
    let d_stability = current.axes.emotional_stability - previous.axes.emotional_stability;
    let d_positivity = current.axes.positivity - previous.axes.positivity;
    Ok(if d_stability > 10 || d_positivity > 10 {
        "improving"
    } else if d_stability < -10 || d_positivity < -10 {
        "declining"
    } else {
        "stable"
    })
}

/// The model's insights and recommendations for the period's averages.
async fn write(
    ctx: &Context,
    kind: Kind,
    (start, end): (NaiveDate, NaiveDate),
    avg: &Averages,
    trend: &str,
) -> Result<Written, JobError> {
    let axes = serde_json::to_value(avg.axes).map_err(|e| JobError::Internal(e.to_string()))?;
    let prompt = prompts::report(kind.as_str(), &format!("{start}..{end}"), &axes, trend);
    Ok(ctx.llm.complete_json(&prompt, validate).await?)
}

/// Stores the report and its notification in one transaction; the report's id.
async fn store(ctx: &Context, kind: Kind, report: &NewReport<'_>) -> db::Result<i64> {
    let mut db = ctx.db.writer().await?;
    let mut tx = db.transaction().await?;
    let id = reports::upsert(&mut tx, report).await?;
    let period = format!("{} ~ {}", report.period_start, report.period_end);
    notifications::insert(&mut tx, report.user_id, "report_ready", kind.notification_title(), &period).await?;
    tx.commit().await?;
    Ok(id)
}

/// The one key per user, kind and period: on-demand and scheduled builds share it.
pub fn idempotency_key(user_id: i64, kind: Kind, start: NaiveDate) -> String {
    format!("report:{user_id}:{}:{start}", kind.as_str())
}

/// An on-demand build of a report: its job, and whether this request enqueued it.
pub struct Requested {
    pub job_id: String,
    pub enqueued: bool,
}

/// Joins the build of `user_id`'s `kind` report for the period starting `start` that covers the
/// analyses written up to `newest_at`, or enqueues it. The job key names that time, so concurrent
/// reads share one job and a newer analysis gets a new one; a failed build frees its key, so the
/// user can try again.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, kind = kind.as_str()))]
pub async fn request(
    db: &mut Conn,
    user_id: i64,
    kind: Kind,
    start: NaiveDate,
    newest_at: DateTime<Utc>,
) -> db::Result<Requested> {
    let key = format!("{}:{}", idempotency_key(user_id, kind, start), newest_at.timestamp_micros());
    let existing = super::queue::keyed(db, &key).await?;
    if let Some(job) = &existing
        && job.state() != Some(JobState::Failed)
    {
        return Ok(Requested { job_id: job.id.clone(), enqueued: false });
    }
    let mut tx = db.transaction().await?;
    if let Some(failed) = existing {
        super::queue::release(&mut tx, &failed.id).await?;
    }
    let job_id = new_job_id();
    let job = AiJob::Report { job_id: job_id.clone(), user_id, kind, period_start: start, scheduled: false };
    super::enqueue(&mut tx, &job, Some(&key)).await?;
    tx.commit().await?;
    Ok(Requested { job_id, enqueued: true })
}

/// Enqueues the schedule's fan-out once per period, however many workers fire the tick.
#[tracing::instrument(level = "info", skip_all, fields(kind = kind.as_str(), %period_start))]
pub async fn schedule(db: &Db, kind: Kind, period_start: NaiveDate) -> db::Result<()> {
    let mut db = db.writer().await?;
    let job = AiJob::ScheduleReports { job_id: new_job_id(), kind, period_start };
    let key = format!("schedule:{}:{period_start}", kind.as_str());
    let fresh = super::enqueue(&mut db, &job, Some(&key)).await?;
    tracing::info!(fresh, "report schedule tick");
    Ok(())
}

/// One report job per user with analyses in the period.
#[tracing::instrument(level = "info", skip_all, fields(kind = kind.as_str(), %period_start))]
pub async fn fan_out(ctx: &Context, kind: Kind, period_start: NaiveDate) -> JobResult {
    let (start, end) = kind.period_of(period_start);
    let mut db = ctx.db.writer().await?;
    let users = reports::users_with_analyses(&mut db, start, end).await?;
    let mut enqueued = 0;
    for &user_id in &users {
        let job = AiJob::Report { job_id: new_job_id(), user_id, kind, period_start: start, scheduled: true };
        if super::enqueue(&mut db, &job, Some(&idempotency_key(user_id, kind, start))).await? {
            enqueued += 1;
        }
    }
    Ok(Some(json!({ "users": users.len(), "enqueued": enqueued })))
}
