//! Background jobs: every LLM call runs here, in `dearme worker`, never on the request path.
//!
//! Enqueueing is transactional: `enqueue` writes the apalis task row (`apalis.jobs`, the same
//! columns and JSON encoding apalis-postgres's own sink writes) and the user-facing `ai_jobs` row
//! inside the *caller's* transaction, with unnamed statements through PgBouncer. A diary and its
//! analysis job commit together, and a rolled-back write enqueues nothing. apalis-postgres is
//! pinned to an exact version because this mirrors its internal table.
//!
//! Waiting (`wait`) polls `ai_jobs` on the primary, taking a pooled connection only for each
//! short poll: no thread or connection is held while a request waits.

pub mod analysis;
pub mod chat;
pub mod persona;
pub mod report;
pub mod stream;
pub mod summary;
pub mod worker;

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, routing::get};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::{
    api::auth::session::AuthUser,
    platform::db::{self, Executor, Param},
    platform::error::{ApiError, ApiResult},
    api::state::AppState,
};

/// The apalis queue (`job_type`) all AI jobs share.
pub const QUEUE: &str = "dearme.ai";

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AiJob {
    Persona {
        job_id: String,
        user_id: i64,
        mode: persona::Mode,
    },
    ChatReply {
        job_id: String,
        user_id: i64,
        chat_id: i64,
        user_message_id: i64,
    },
    AnalyzeDiary {
        job_id: String,
        user_id: i64,
        diary_id: i64,
    },
    Report {
        job_id: String,
        user_id: i64,
        kind: report::Kind,
        period_start: chrono::NaiveDate,
    },
    WeeklySummary {
        job_id: String,
        user_id: i64,
        week_start: chrono::NaiveDate,
    },
    PromptSuggestions {
        job_id: String,
        user_id: i64,
        day: chrono::NaiveDate,
    },
    /// Fans a scheduled tick out into one report job per active user.
    ScheduleReports {
        job_id: String,
        kind: report::Kind,
        period_start: chrono::NaiveDate,
    },
}

impl AiJob {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Persona { .. } => "persona",
            Self::ChatReply { .. } => "chat_reply",
            Self::AnalyzeDiary { .. } => "diary_analysis",
            Self::Report { .. } => "mental_report",
            Self::WeeklySummary { .. } => "weekly_summary",
            Self::PromptSuggestions { .. } => "prompt_suggestions",
            Self::ScheduleReports { .. } => "schedule_reports",
        }
    }

    pub fn job_id(&self) -> &str {
        match self {
            Self::Persona { job_id, .. }
            | Self::ChatReply { job_id, .. }
            | Self::AnalyzeDiary { job_id, .. }
            | Self::Report { job_id, .. }
            | Self::WeeklySummary { job_id, .. }
            | Self::PromptSuggestions { job_id, .. }
            | Self::ScheduleReports { job_id, .. } => job_id,
        }
    }

    /// The row the job is about, when one is worth looking it up by.
    pub fn subject_id(&self) -> Option<i64> {
        match self {
            Self::ChatReply { user_message_id, .. } => Some(*user_message_id),
            Self::AnalyzeDiary { diary_id, .. } => Some(*diary_id),
            _ => None,
        }
    }

    /// Whether someone waits on this job (a streaming chat reply, a persona or a report asked
    /// for): such a job is due at once, and apalis's insert trigger NOTIFYs the workers. Other
    /// jobs are due a moment later, so the trigger stays quiet and a worker's poll
    /// (`WORKER_POLL_INTERVAL_MS`) finds them: a transaction that NOTIFYs takes a database-wide
    /// lock from pre-commit to the end of its commit, WAL flush included, which serialized every
    /// diary write behind the one before it (README, "Performance").
    pub fn wakes_worker(&self) -> bool {
        matches!(self, Self::Persona { .. } | Self::ChatReply { .. } | Self::Report { .. })
    }

    pub fn user_id(&self) -> Option<i64> {
        match self {
            Self::Persona { user_id, .. }
            | Self::ChatReply { user_id, .. }
            | Self::AnalyzeDiary { user_id, .. }
            | Self::Report { user_id, .. }
            | Self::WeeklySummary { user_id, .. }
            | Self::PromptSuggestions { user_id, .. } => Some(*user_id),
            Self::ScheduleReports { .. } => None,
        }
    }
}

/// A new job id: a ULID (time-ordered; the form apalis's task ids must have).
pub fn new_job_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Enqueues `job` in the caller's transaction (or on a plain connection). With an idempotency
/// key, a second enqueue of the same key is a no-op and returns `false`.
pub async fn enqueue(db: &mut impl Executor, job: &AiJob, idempotency_key: Option<&str>) -> db::Result<bool> {
    Ok(enqueue_many(db, &[(job, idempotency_key)]).await? == 1)
}

/// Enqueues several jobs in one statement (one round trip however many): the apalis task rows
/// and, for jobs on behalf of a user, their `ai_jobs` rows. Returns how many were new.
pub async fn enqueue_many(db: &mut impl Executor, jobs: &[(&AiJob, Option<&str>)]) -> db::Result<u64> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("with {} select count(*) as value from queued", Batch::ctes(1)));
    let batch = Batch::new(jobs);
    let inserted: i64 = db.fetch_value(&SQL, &batch.params()).await?;
    batch.count();
    Ok(inserted as u64)
}

/// Jobs encoded for one statement: the arrays the `queued`/`tracked` CTEs read. A write that
/// enqueues work can embed those CTEs in its own statement (see `diaries::create_diary`), so
/// the row and its jobs commit together without an explicit transaction.
pub struct Batch {
    ids: Vec<String>,
    payloads: Vec<Vec<u8>>,
    keys: Vec<Option<String>>,
    users: Vec<Option<i64>>,
    kinds: Vec<&'static str>,
    subjects: Vec<Option<i64>>,
    wakes: Vec<bool>,
}

impl Batch {
    pub fn new(jobs: &[(&AiJob, Option<&str>)]) -> Self {
        let mut batch = Self {
            ids: Vec::with_capacity(jobs.len()),
            payloads: Vec::with_capacity(jobs.len()),
            keys: Vec::with_capacity(jobs.len()),
            users: Vec::with_capacity(jobs.len()),
            kinds: Vec::with_capacity(jobs.len()),
            subjects: Vec::with_capacity(jobs.len()),
            wakes: Vec::with_capacity(jobs.len()),
        };
        for (job, key) in jobs {
            batch.ids.push(job.job_id().to_owned());
            batch.payloads.push(serde_json::to_vec(job).expect("a job serializes: plain fields, string keys"));
            batch.keys.push(key.map(str::to_owned));
            batch.users.push(job.user_id());
            batch.kinds.push(job.kind());
            batch.subjects.push(job.subject_id());
            batch.wakes.push(job.wakes_worker());
        }
        batch
    }

    /// Two CTEs reading the batch from parameters `$first`..`$first + 7` (in `params` order):
    /// `queued` inserts the apalis task rows (the columns and encoding apalis's own sink writes)
    /// and returns the ids that were new; `tracked` inserts their `ai_jobs` rows.
    ///
    /// One attempt at the queue level: a job retries its LLM calls itself, with backoff, and a
    /// job orphaned by a dead worker is re-enqueued by apalis's heartbeat check regardless.
    pub fn ctes(first: usize) -> String {
        let [ids, queue, payloads, keys, users, kinds, subjects, wakes] = std::array::from_fn(|i| first + i);
        format!(
            "queued as ( \
                 insert into apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, metadata, idempotency_key) \
                 select j.id, ${queue}, j.payload, 'Pending', 0, 1, \
                        case when j.wakes then now() else now() + interval '1 millisecond' end, 0, ''::hstore, j.key \
                 from unnest(${ids}::text[], ${payloads}::bytea[], ${keys}::text[], ${wakes}::bool[]) as j(id, payload, key, wakes) \
                 on conflict (job_type, idempotency_key) do nothing returning id), \
             tracked as ( \
                 insert into ai_jobs (id, user_id, kind, subject_id) \
                 select j.id, j.user_id, j.kind, j.subject_id \
                 from unnest(${ids}::text[], ${users}::int8[], ${kinds}::text[], ${subjects}::int8[]) as j(id, user_id, kind, subject_id) \
                 where j.user_id is not null and j.id in (select id from queued))"
        )
    }

    pub fn params(&self) -> [Param<'_>; 8] {
        [
            (&self.ids, Type::TEXT_ARRAY),
            (&QUEUE, Type::TEXT),
            (&self.payloads, Type::BYTEA_ARRAY),
            (&self.keys, Type::TEXT_ARRAY),
            (&self.users, Type::INT8_ARRAY),
            (&self.kinds, Type::TEXT_ARRAY),
            (&self.subjects, Type::INT8_ARRAY),
            (&self.wakes, Type::BOOL_ARRAY),
        ]
    }

    /// Counts the batch in `jobs_enqueued_total`, once its statement has run.
    pub fn count(&self) {
        for kind in &self.kinds {
            metrics::counter!("jobs_enqueued_total", "job" => *kind).increment(1);
        }
    }
}

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

/// The job if it belongs to `user_id` (read on the primary: it changes under the reader).
pub async fn load(state: &AppState, job_id: &str, user_id: i64) -> ApiResult<Option<JobStatus>> {
    let mut db = state.db.writer().await?;
    let row = db
        .query_opt(
            "select id, kind, status, progress, result, error, attempts, created_at, updated_at from ai_jobs \
             where id = $1 and user_id = $2",
            &[(&job_id, Type::TEXT), (&user_id, Type::INT8)],
        )
        .await?;
    Ok(row.map(|r| JobStatus {
        id: r.get("id"),
        kind: r.get("kind"),
        status: r.get("status"),
        progress: r.get("progress"),
        result: r.get("result"),
        error: r.get("error"),
        attempts: r.get("attempts"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }))
}

/// Waits (bounded by `JOB_WAIT_TIMEOUT_MS`) until the job is done or failed.
pub async fn wait(state: &AppState, job_id: &str, user_id: i64) -> ApiResult<JobStatus> {
    let deadline = Instant::now() + state.settings.job_wait_timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        let job = load(state, job_id, user_id).await?.ok_or_else(|| anyhow::anyhow!("job {job_id} vanished"))?;
        if job.status == "done" || job.status == "failed" {
            return Ok(job);
        }
        if Instant::now() + delay > deadline {
            return Err(ApiError::GatewayTimeout(
                "The request is taking longer than expected. Please try again shortly.".into(),
            ));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}

/// `Prefer: respond-async` (RFC 7240): answer 202 at once instead of waiting.
pub fn prefers_async(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// The 202 answer for an enqueued job.
pub fn accepted(job_id: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let location = format!("/api/v1/jobs/{job_id}");
    (
        axum::http::StatusCode::ACCEPTED,
        [(axum::http::header::LOCATION, location.clone())],
        Json(serde_json::json!({ "job_id": job_id, "status": "pending", "location": location })),
    )
        .into_response()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/jobs/{job_id}", get(get_job))
}

#[utoipa::path(get, path = "/api/v1/jobs/{job_id}", tag = "jobs", security(("bearer" = [])), params(("job_id" = String, Path)),
    responses((status = 200, body = JobStatus), (status = 404, description = "Job not found", body = crate::platform::error::ErrorBody)))]
async fn get_job(
    State(state): State<AppState>,
    auth: AuthUser,
    axum::extract::Path(job_id): axum::extract::Path<String>,
) -> ApiResult<Json<JobStatus>> {
    load(&state, &job_id, auth.id()).await?.map(Json).ok_or_else(|| ApiError::not_found("Job not found"))
}
