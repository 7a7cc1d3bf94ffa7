//! What users see of a job: its `ai_jobs` row (state, progress, result or error) and the SQL that
//! moves it through its states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::platform::db::{self, Executor};

/// Where a job is in its life: `pending` until a worker takes it, `running`, then `done` or
/// `failed` (the table's check constraint allows exactly these four).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// The state a stored `status` names; `None` for anything else.
    pub fn parse(status: &str) -> Option<Self> {
        match status {
            "pending" => Some(Self::Pending),
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// Whether the job has ended, one way or the other.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }
}

/// A job's `ai_jobs` row, as `GET /jobs/{job_id}` serves it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobStatus {
    pub id: String,
    pub kind: String,
    /// `pending` | `running` | `done` | `failed`
    pub status: String,
    pub progress: i16,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error: Option<String>,
    pub attempts: i32,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    pub updated_at: DateTime<Utc>,
}

crate::from_row!(JobStatus { id, kind, status, progress, result, error, attempts, created_at, updated_at });

impl JobStatus {
    /// The row's state; the check constraint admits only the four, so anything else reads as
    /// still pending.
    pub fn state(&self) -> JobState {
        JobState::parse(&self.status).unwrap_or(JobState::Pending)
    }
}

/// The job `job_id` if it belongs to `user_id`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn find(db: &mut impl Executor, job_id: &str, user_id: i64) -> db::Result<Option<JobStatus>> {
    db.fetch_opt(
        "select id, kind, status, progress, result, error, attempts, created_at, updated_at from ai_jobs \
         where id = $1 and user_id = $2",
        &[(&job_id, Type::TEXT), (&user_id, Type::INT8)],
    )
    .await
}

/// Marks the job running and counts the attempt; `false` when it is already done (a re-run after
/// a crash). Jobs without a user (schedule fan-outs) have no row, and run.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn start(db: &mut impl Executor, job_id: &str) -> db::Result<bool> {
    let status: Option<db::Value<String>> = db
        .fetch_opt(
            "update ai_jobs set status = case when status = 'done' then status else 'running' end, \
             attempts = attempts + 1, progress = greatest(progress, 10), updated_at = now() \
             where id = $1 returning status as value",
            &[(&job_id, Type::TEXT)],
        )
        .await?;
    Ok(status.is_none_or(|db::Value(s)| JobState::parse(&s) != Some(JobState::Done)))
}

/// Records the outcome: `done` with its result (progress 100) or `failed` with its error.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn finish(
    db: &mut impl Executor,
    job_id: &str,
    state: JobState,
    result: Option<&Value>,
    error: Option<&str>,
) -> db::Result<()> {
    db.execute(
        "update ai_jobs set status = $2, result = $3, error = $4, progress = case when $2 = 'done' then 100 else progress end, \
         updated_at = now() where id = $1",
        &[(&job_id, Type::TEXT), (&state.as_str(), Type::TEXT), (&result, Type::JSONB), (&error, Type::TEXT)],
    )
    .await?;
    Ok(())
}

/// Fails every job that can no longer finish on its own, and names each one's kind: `running`
/// with no sign of life for longer than `running_for` (its worker died and the job was not picked
/// up again, or its status write was lost), or `pending` for longer than `pending_for`. Its user
/// then sees `failed` with a reason (`GET /jobs/{id}`, a waiting request, a reply stream), never a
/// job that stays running forever. A reaped job that a worker does pick up later still runs.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn reap(
    db: &mut impl Executor,
    running_for: std::time::Duration,
    pending_for: std::time::Duration,
) -> db::Result<Vec<String>> {
    let reaped: Vec<db::Value<String>> = db
        .fetch_all(
            "update ai_jobs set status = 'failed', updated_at = now(), error = case status \
                 when 'running' then 'stopped: the job stopped making progress (its worker was lost)' \
                 else 'stopped: no worker took the job in time' end \
             where (status = 'running' and updated_at < now() - make_interval(secs => $1)) \
                or (status = 'pending' and created_at < now() - make_interval(secs => $2)) \
             returning kind as value",
            &[(&running_for.as_secs_f64(), Type::FLOAT8), (&pending_for.as_secs_f64(), Type::FLOAT8)],
        )
        .await?;
    Ok(reaped.into_iter().map(|db::Value(kind)| kind).collect())
}

/// The user's persona job pending or running, if any (there is at most one).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn persona_in_flight(db: &mut impl Executor, user_id: i64) -> db::Result<Option<String>> {
    let id: Option<db::Value<String>> = db
        .fetch_opt(
            "select id as value from ai_jobs where user_id = $1 and kind = 'persona' and status in ('pending', 'running')",
            &[(&user_id, Type::INT8)],
        )
        .await?;
    Ok(id.map(|db::Value(id)| id))
}
