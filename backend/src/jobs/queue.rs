//! The apalis task table, written directly: `enqueue` inserts the task row (`apalis.jobs`, the
//! same columns and JSON encoding apalis-postgres's own sink writes) and the user-facing `ai_jobs`
//! row inside the *caller's* transaction, through the `enqueue_jobs` database function (its plans
//! kept per server connection, where an unnamed statement through PgBouncer is planned each
//! time). A diary and its analysis job commit together, and a rolled-back write enqueues nothing.
//! apalis-postgres is pinned to an exact version because this mirrors its internal table.

use tokio_postgres::types::Type;

use super::{AiJob, JobState};
use crate::platform::db::{self, Executor, Param};

/// The apalis queues (`job_type`): jobs someone waits on, and the rest (`JobClass`).
pub const INTERACTIVE_QUEUE: &str = "dearme.ai";
pub const BACKGROUND_QUEUE: &str = "dearme.ai.background";
const QUEUES: [&str; 2] = [INTERACTIVE_QUEUE, BACKGROUND_QUEUE];

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
#[tracing::instrument(level = "debug", skip_all, fields(jobs = jobs.len()))]
pub async fn enqueue_many(db: &mut impl Executor, jobs: &[(&AiJob, Option<&str>)]) -> db::Result<u64> {
    // Coalescing: an analysis of a diary that already has one waiting is left out (the waiting
    // one reads the diary when it runs, so it analyses the newest text).
    const SQL: &str = "select enqueue_jobs($1, $2, $3, $4, $5, $6, $7, $8, true) as value";
    let batch = Batch::new(jobs);
    let inserted: i64 = db.fetch_value(SQL, &batch.params()).await?;
    batch.count();
    Ok(inserted as u64)
}

/// Jobs encoded for one statement: the arrays the `enqueue_jobs` database function reads (its
/// migration, `write_functions`, holds the insert). A write that enqueues work can pass them to a
/// function of its own that calls it (see `data::diaries::create`), so the row and its jobs
/// commit together without an explicit transaction.
pub struct Batch {
    ids: Vec<String>,
    payloads: Vec<Vec<u8>>,
    keys: Vec<Option<String>>,
    users: Vec<Option<i64>>,
    kinds: Vec<&'static str>,
    subjects: Vec<Option<i64>>,
    wakes: Vec<bool>,
    queues: Vec<&'static str>,
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
            queues: Vec::with_capacity(jobs.len()),
        };
        for (job, key) in jobs {
            batch.ids.push(job.job_id().to_owned());
            batch.payloads.push(serde_json::to_vec(job).expect("a job serializes: plain fields, string keys"));
            batch.keys.push(key.map(str::to_owned));
            batch.users.push(job.user_id());
            batch.kinds.push(job.kind().as_str());
            batch.subjects.push(job.subject_id());
            batch.wakes.push(job.wakes_worker());
            batch.queues.push(job.class().queue());
        }
        batch
    }

    /// The batch as `enqueue_jobs`'s (and `create_diary`'s) 8 array parameters, in their order.
    ///
    /// Each job gets one attempt at the queue level (`max_attempts` 1, set by `enqueue_jobs`): a
    /// job retries its LLM calls itself, with backoff, and a job orphaned by a dead worker is
    /// re-enqueued by apalis's heartbeat check regardless.
    pub fn params(&self) -> [Param<'_>; 8] {
        [
            (&self.ids, Type::TEXT_ARRAY),
            (&self.queues, Type::TEXT_ARRAY),
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

/// One job kind's gauges: tasks waiting (queued, or failed with an attempt left), the age of
/// the oldest one that is due, and tasks dead (failed with no attempt left, or killed: apalis
/// never runs either again).
pub struct Depth {
    /// The `type` of the queued [`AiJob`](super::AiJob)'s JSON.
    pub variant: String,
    pub waiting: i64,
    pub oldest_seconds: f64,
    pub dead: i64,
}

crate::from_row!(Depth { variant, waiting, oldest_seconds, dead });

/// The queue's current [`Depth`] per job variant (variants with nothing waiting or dead are
/// left out). Done tasks are not read.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn depth(db: &mut impl Executor) -> db::Result<Vec<Depth>> {
    db.fetch_all(
        "select coalesce(convert_from(job, 'UTF8')::jsonb ->> 'type', '') as variant, \
                count(*) filter (where not dead) as waiting, \
                coalesce(extract(epoch from now() - min(run_at) filter (where not dead and run_at <= now())), 0)::float8 \
                    as oldest_seconds, \
                count(*) filter (where dead) as dead \
         from (select job, run_at, \
                      status = 'Killed' or (status = 'Failed' and attempts >= max_attempts) as dead \
               from apalis.jobs \
               where job_type = any($1) and status in ('Pending', 'Queued', 'Failed', 'Killed')) t \
         group by 1",
        &[(&QUEUES.as_slice(), Type::TEXT_ARRAY)],
    )
    .await
}

/// A queued task and the state of its `ai_jobs` row (none for a task without one).
pub(super) struct KeyedJob {
    pub id: String,
    status: Option<String>,
}
crate::from_row!(KeyedJob { id, status });

impl KeyedJob {
    pub fn state(&self) -> Option<JobState> {
        self.status.as_deref().and_then(JobState::parse)
    }
}

/// The queued task holding idempotency key `key`.
#[tracing::instrument(level = "debug", skip_all)]
pub(super) async fn keyed(db: &mut impl Executor, key: &str) -> db::Result<Option<KeyedJob>> {
    db.fetch_opt(
        "select j.id, a.status from apalis.jobs j left join ai_jobs a on a.id = j.id \
         where j.job_type = any($1) and j.idempotency_key = $2",
        &[(&QUEUES.as_slice(), Type::TEXT_ARRAY), (&key, Type::TEXT)],
    )
    .await
}

/// Deletes the queued task `job_id`, freeing its idempotency key.
#[tracing::instrument(level = "debug", skip_all, fields(job_id = job_id))]
pub(super) async fn release(db: &mut impl Executor, job_id: &str) -> db::Result<()> {
    db.execute("delete from apalis.jobs where id = $1", &[(&job_id, Type::TEXT)]).await?;
    Ok(())
}
