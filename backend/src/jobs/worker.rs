//! `dearme worker`: runs the AI jobs (apalis over a *direct* Postgres connection: its worker
//! registration takes advisory locks and its wake-ups use LISTEN, neither of which survives
//! transaction pooling) and the report schedule, and serves `/metrics` and `/health/live`.
//!
//! Lifecycle: every job records `running`, then `done` with its result or `failed` with its error
//! in `ai_jobs` (what users see). A job whose `ai_jobs` row is already `done` is skipped, so a
//! job re-run after a crash never produces a second persona, message or report. A worker killed
//! mid-job stops heart-beating; another worker re-enqueues the job. SIGTERM stops taking jobs and
//! waits (bounded) for running ones.

use std::{
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use apalis_postgres::{Config, PostgresStorage, Pubsub};
use axum::{Router, routing::get};
use serde_json::Value;
use tokio_postgres::types::Type;

use super::{AiJob, QUEUE};
use crate::{
    platform::db::Executor,llm::Llm, platform::settings::Settings, api::state::AppState};

pub struct WorkerState {
    pub app: AppState,
    pub llm: Llm,
}

/// Why a job failed; recorded in `ai_jobs.error`, never a silent fallback.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the AI service failed: {0}")]
    Llm(#[from] crate::llm::LlmError),
    #[error("{0}")]
    Invalid(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// A database call failed; the source chain says why.
    #[error("internal error: {0}")]
    Db(#[from] crate::platform::db::Error),
}

impl From<crate::platform::error::ApiError> for JobError {
    fn from(err: crate::platform::error::ApiError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<tokio_postgres::Error> for JobError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Internal(err.to_string())
    }
}

pub type JobResult = Result<Option<Value>, JobError>;

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    run_until(settings, crate::platform::shutdown::signal()).await
}

/// Runs until `shutdown` resolves, then drains (tests run workers in-process with this).
pub async fn run_until(settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    crate::platform::metrics::install();
    let (app, _replica_monitor) = crate::startup::build_state(&settings).await?;
    let llm = Llm::new(settings.llm.clone()).context("LLM client")?;
    crate::platform::metrics::register_llm_zero(&settings.llm.model);
    let state = Arc::new(WorkerState { app: app.clone(), llm });

    // The worker's own small pool, straight to the primary.
    let pool = apalis_postgres::PgPool::connect(settings.database_direct_url.expose())
        .await
        .context("direct connection for jobs")?;
    let config = Config::default()
        .queue(QUEUE)
        .batch_size(settings.worker.concurrency)
        .heartbeat_interval(settings.worker.heartbeat)
        .missed_heartbeats(3);
    let storage = PostgresStorage::<AiJob>::new(&pool).with_config(config);
    // Woken at once by apalis's NOTIFY for jobs someone waits on, and polling for the rest
    // (`AiJob::wakes_worker` says which is which). A fresh listener for every (re)start.
    let poll_interval = settings.worker.poll_interval;
    let backend = move || {
        let wake_up = Strategy::new().stream(Pubsub::new(pool.clone(), QUEUE.to_owned())).interval(poll_interval);
        PollWith::new(storage.clone(), wake_up)
    };

    let metrics_listener = tokio::net::TcpListener::bind(&settings.worker.metrics_addr)
        .await
        .with_context(|| format!("binding {}", settings.worker.metrics_addr))?;
    tracing::info!(addr = %metrics_listener.local_addr()?, "worker metrics listening");
    let metrics_app = Router::new()
        .route("/metrics", get(|| async { crate::platform::metrics::install().render() }))
        .route("/health/live", get(|| async { axum::Json(serde_json::json!({ "status": "healthy" })) }));
    tokio::spawn(async move { axum::serve(metrics_listener, metrics_app).await });
    tokio::spawn(queue_gauges(app.clone()));

    let name = format!("worker-{}-{}", hostname(), std::process::id());
    let concurrency = settings.worker.concurrency;
    let jobs_state = state.clone();
    let weekly = CronScheduler::new(
        cron::Schedule::from_str(&settings.worker.weekly_report_cron).context("WEEKLY_REPORT_CRON")?,
    );
    let monthly = CronScheduler::new(
        cron::Schedule::from_str(&settings.worker.monthly_report_cron).context("MONTHLY_REPORT_CRON")?,
    );
    let (weekly_state, monthly_state) = (state.clone(), state.clone());
    let (weekly_name, monthly_name) = (format!("{name}-weekly"), format!("{name}-monthly"));
    tracing::info!(%name, concurrency, "worker starting");
    Monitor::new()
        // A worker whose backend errored (e.g. the database restarted) is started again.
        .should_restart(|_, _| true)
        .register(move |_| {
            WorkerBuilder::new(name.as_str())
                .backend(backend())
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .data(jobs_state.clone())
                .build(handle)
        })
        .register(move |_| {
            WorkerBuilder::new(weekly_name.as_str())
                .backend(weekly.clone())
                .data(weekly_state.clone())
                .build(weekly_tick)
        })
        .register(move |_| {
            WorkerBuilder::new(monthly_name.as_str())
                .backend(monthly.clone())
                .data(monthly_state.clone())
                .build(monthly_tick)
        })
        .shutdown_timeout(settings.worker.shutdown_timeout)
        .run_with_signal(async {
            shutdown.await;
            Ok(())
        })
        .await
        .context("worker monitor")?;
    tracing::info!("worker stopped");
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "local".into())
}

type Handled = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxDynError>> + Send>>;

/// The apalis handler. The boxed `Send` future sidesteps the compiler's higher-ranked `Send`
/// inference, which fails on `async fn` handlers that borrow across awaits.
fn handle(job: AiJob, state: Data<Arc<WorkerState>>) -> Handled {
    Box::pin(async move { handle_job(job, &state).await })
}

/// Records the lifecycle around the job and its metrics.
async fn handle_job(job: AiJob, state: &WorkerState) -> Result<(), BoxDynError> {
    let kind = job.kind();
    if let Ok(id) = ulid::Ulid::from_string(job.job_id()) {
        let waited = (chrono::Utc::now().timestamp_millis() - id.timestamp_ms() as i64).max(0) as f64 / 1000.0;
        metrics::histogram!("job_queue_latency_seconds", "job" => kind).record(waited);
    }
    if !start(&state.app, job.job_id()).await? {
        tracing::info!(job_id = job.job_id(), kind, "job already done; skipping");
        return Ok(());
    }
    let started = Instant::now();
    let outcome = match tokio::time::timeout(state.app.settings.worker.job_timeout, dispatch(state, &job)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(JobError::Internal(format!("timed out after {:?}", state.app.settings.worker.job_timeout))),
    };
    metrics::histogram!("job_duration_seconds", "job" => kind).record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(result) => {
            finish(&state.app, &job, "done", result.as_ref(), None).await?;
            metrics::counter!("jobs_completed_total", "job" => kind, "outcome" => "done").increment(1);
            Ok(())
        }
        Err(err) => {
            tracing::error!(job_id = job.job_id(), kind, error = %err, "job failed");
            finish(&state.app, &job, "failed", None, Some(&err.to_string())).await?;
            metrics::counter!("jobs_completed_total", "job" => kind, "outcome" => "failed").increment(1);
            Err(Box::new(err))
        }
    }
}

async fn dispatch(state: &WorkerState, job: &AiJob) -> JobResult {
    match job {
        AiJob::Persona { job_id, user_id, mode } => super::persona::run(state, job_id, *user_id, mode).await,
        AiJob::ChatReply { job_id, user_id, chat_id, user_message_id } => {
            super::chat::run(state, job_id, *user_id, *chat_id, *user_message_id).await
        }
        AiJob::AnalyzeDiary { user_id, diary_id, .. } => super::analysis::run(state, *user_id, *diary_id).await,
        AiJob::Report { user_id, kind, period_start, .. } => {
            super::report::run(state, *user_id, *kind, *period_start).await
        }
        AiJob::WeeklySummary { user_id, week_start, .. } => super::summary::weekly(state, *user_id, *week_start).await,
        AiJob::PromptSuggestions { user_id, day, .. } => super::summary::prompts(state, *user_id, *day).await,
        AiJob::ScheduleReports { kind, period_start, .. } => super::report::fan_out(state, *kind, *period_start).await,
    }
}

/// Marks the job running; `false` when it is already done (a re-run after a crash).
async fn start(app: &AppState, job_id: &str) -> Result<bool, JobError> {
    let mut db = app.db.writer().await?;
    let row = db
        .query_opt(
            "update ai_jobs set status = case when status = 'done' then status else 'running' end, \
             attempts = attempts + 1, progress = greatest(progress, 10), updated_at = now() \
             where id = $1 returning status",
            &[(&job_id, Type::TEXT)],
        )
        .await?;
    // Jobs without a user (schedule fan-outs) have no row.
    Ok(row.is_none_or(|r| r.get::<_, &str>(0) != "done"))
}

/// Records the outcome. What a job wrote for a user counts as that user's write, so their next
/// reads see it at once (read-your-writes covers the AI's output, not only their own requests).
async fn finish(
    app: &AppState,
    job: &AiJob,
    status: &str,
    result: Option<&Value>,
    error: Option<&str>,
) -> Result<(), JobError> {
    let job_id = job.job_id();
    let mut db = app.db.writer().await?;
    db.execute(
        "update ai_jobs set status = $2, result = $3, error = $4, progress = case when $2 = 'done' then 100 else progress end, \
         updated_at = now() where id = $1",
        &[(&job_id, Type::TEXT), (&status, Type::TEXT), (&result, Type::JSONB), (&error, Type::TEXT)],
    )
    .await?;
    if let Some(user_id) = job.user_id() {
        app.writes.committed(&mut db, user_id, &[]).await?;
    }
    Ok(())
}

/// Queue depth, dead jobs and daily actives, refreshed every few seconds.
async fn queue_gauges(app: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let Ok(mut db) = app.db.writer().await else { continue };
        let row = db
            .query_opt(
                "select count(*) filter (where status in ('Pending', 'Queued')), \
                        count(*) filter (where status in ('Failed', 'Killed') and attempts >= max_attempts), \
                        (select count(distinct user_id) from sessions where created_at >= current_date) \
                 from apalis.jobs where job_type = $1",
                &[(&QUEUE, Type::TEXT)],
            )
            .await;
        if let Ok(Some(row)) = row {
            metrics::gauge!("jobs_queue_depth", "job" => "ai").set(row.get::<_, i64>(0) as f64);
            metrics::gauge!("jobs_dead", "job" => "ai").set(row.get::<_, i64>(1) as f64);
            metrics::gauge!("users_active_today").set(row.get::<_, i64>(2) as f64);
        }
    }
}

fn weekly_tick(_tick: Tick, state: Data<Arc<WorkerState>>) -> Handled {
    Box::pin(async move { tick(&state, super::report::Kind::Weekly).await })
}

fn monthly_tick(_tick: Tick, state: Data<Arc<WorkerState>>) -> Handled {
    Box::pin(async move { tick(&state, super::report::Kind::Monthly).await })
}

/// A schedule tick: the current period's reports, fanned out once however many workers tick.
async fn tick(state: &WorkerState, kind: super::report::Kind) -> Result<(), BoxDynError> {
    let today = crate::platform::time::today();
    if !acts_on(kind, today) {
        return Ok(());
    }
    let (start, _) = kind.period_of(today);
    super::report::schedule(&state.app, kind, start).await.map_err(|e| Box::new(e) as BoxDynError)
}

/// Whether a tick on `today` schedules its period's reports: every weekly tick does; a monthly
/// one only on the month's last day (`settings::MONTHLY_REPORT_CRON` fires on days 28 to 31).
fn acts_on(kind: super::report::Kind, today: chrono::NaiveDate) -> bool {
    kind == super::report::Kind::Weekly || today == kind.period_of(today).1
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};

    use super::acts_on;
    use crate::jobs::report::Kind;

    #[test]
    fn the_monthly_schedule_acts_once_a_month_on_its_last_day() {
        let schedule = cron::Schedule::from_str(crate::platform::settings::MONTHLY_REPORT_CRON).unwrap();
        // 2027 and 2028: 28-, 29- (leap), 30- and 31-day months, and two year ends.
        let from = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        let acting: Vec<NaiveDate> = schedule
            .after(&from)
            .take_while(|t| t.year() < 2029)
            .map(|t| t.date_naive())
            .filter(|day| acts_on(Kind::Monthly, *day))
            .collect();
        assert_eq!(acting.len(), 24, "once a month: {acting:?}");
        for day in &acting {
            assert_eq!((*day + Duration::days(1)).day(), 1, "{day} is its month's last day");
        }
        let feb = |year, day| NaiveDate::from_ymd_opt(year, 2, day).unwrap();
        assert!(acting.contains(&feb(2027, 28)) && acting.contains(&feb(2028, 29)));
        assert!(!acting.contains(&feb(2028, 28)), "not the 28th of a leap February");
    }
}
