//! `dearme worker`: runs the AI jobs (apalis over a *direct* Postgres connection: its worker
//! registration takes advisory locks and its wake-ups use LISTEN, neither of which survives
//! transaction pooling) and the report schedule, and serves `/metrics` and `/health/live`.
//!
//! Lifecycle: every job records `running`, then `done` with its result or `failed` with its error
//! in `ai_jobs` (what users see). A job whose `ai_jobs` row is already `done` is skipped, so a
//! job re-run after a crash never produces a second persona, message or report. A worker killed
//! mid-job stops heart-beating; another worker re-enqueues the job. SIGTERM stops taking jobs and
//! waits (bounded) for running ones.

use std::{collections::HashMap, str::FromStr, sync::Arc, time::Duration};

use anyhow::Context as _;
use apalis::prelude::*;
use apalis_cron::CronScheduler;
use apalis_postgres::{Config, PostgresStorage, Pubsub};
use axum::{Router, routing::get};

use super::{AiJob, JobClass, JobKind, lifecycle, queue, schedule};
pub use super::{
    context::Context,
    error::{JobError, JobResult},
};
use crate::platform::{
    metrics,
    settings::{LlmProvider, Settings},
};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    run_until(settings, crate::platform::shutdown::signal()).await
}

/// Runs until `shutdown` resolves, then drains (tests run workers in-process with this).
pub async fn run_until(settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    metrics::install(&JobKind::names());
    let (ctx, replica_monitor) = Context::build(&settings).await?;
    metrics::register_llm_zero(&settings.llm.model);
    metrics::register_llm_provider(&settings.llm);
    if settings.llm.provider == LlmProvider::Dev {
        tracing::warn!(
            base_url = %settings.llm.base_url,
            "LLM_PROVIDER=dev: the development LLM answers, so answers are canned (set LLM_PROVIDER=openai-compatible \
             and LLM_BASE_URL for a real model)"
        );
    }
    let ctx = Arc::new(ctx);
    let pool = apalis_postgres::PgPool::connect(settings.database_direct_url.expose())
        .await
        .context("direct connection for jobs")?;
    let backends =
        (queue_backend(&settings, &pool, JobClass::Interactive), queue_backend(&settings, &pool, JobClass::Background));
    serve_metrics(&settings).await?;
    tokio::spawn(queue_gauges(ctx.clone()));
    tokio::spawn(reaper(ctx.clone()));
    if !settings.worker.embedding_backfill_every.is_zero() {
        tokio::spawn(super::embed::backfill_forever(ctx.clone(), settings.worker.embedding_backfill_every));
    }
    let monitor = monitor(&settings, ctx, backends)?;
    let stopped = monitor
        .run_with_signal(async {
            shutdown.await;
            Ok(())
        })
        .await
        .context("worker monitor");
    replica_monitor.abort();
    stopped?;
    tracing::info!("worker stopped");
    Ok(())
}

type Queue = PollWith<PostgresStorage<AiJob>, Strategy>;

/// One class's queue over the worker's own small pool, straight to the primary. The interactive
/// queue is woken at once by apalis's NOTIFY (`AiJob::wakes_worker`), the background one polls;
/// each call makes a fresh listener, for every (re)start.
fn queue_backend(
    settings: &Settings,
    pool: &apalis_postgres::PgPool,
    class: JobClass,
) -> impl Fn() -> Queue + Send + Sync + 'static + use<> {
    let config = Config::default()
        .queue(class.queue())
        .batch_size(settings.worker.concurrency)
        .heartbeat_interval(settings.worker.heartbeat)
        .missed_heartbeats(3);
    let storage = PostgresStorage::<AiJob>::new(pool).with_config(config);
    let poll_interval = settings.worker.poll_interval;
    let pool = pool.clone();
    move || {
        let wake_up =
            Strategy::new().stream(Pubsub::new(pool.clone(), class.queue().to_owned())).interval(poll_interval);
        PollWith::new(storage.clone(), wake_up)
    }
}

/// `/metrics` and `/health/live` on the worker's own address.
async fn serve_metrics(settings: &Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.worker.metrics_addr)
        .await
        .with_context(|| format!("binding {}", settings.worker.metrics_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "worker metrics listening");
    let app = Router::new()
        .route("/metrics", get(|| async { metrics::exposition() }))
        .route("/health/live", get(|| async { axum::Json(serde_json::json!({ "status": "healthy" })) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(())
}

/// The job workers (one per class, each with `WORKER_CONCURRENCY` slots) and the two schedule
/// workers, restarted whenever their backend errors (e.g. the database restarted).
fn monitor(
    settings: &Settings,
    ctx: Arc<Context>,
    (interactive, background): (impl Fn() -> Queue + Send + Sync + 'static, impl Fn() -> Queue + Send + Sync + 'static),
) -> anyhow::Result<Monitor> {
    let cron = |expr: &str, name: &str| -> anyhow::Result<CronScheduler<cron::Schedule>> {
        Ok(CronScheduler::new(cron::Schedule::from_str(expr).context(name.to_owned())?))
    };
    let weekly = cron(&settings.worker.weekly_report_cron, "WEEKLY_REPORT_CRON")?;
    let monthly = cron(&settings.worker.monthly_report_cron, "MONTHLY_REPORT_CRON")?;
    let name = format!("worker-{}-{}", hostname(), std::process::id());
    let concurrency = settings.worker.concurrency;
    let (jobs_ctx, background_ctx, weekly_ctx, monthly_ctx) = (ctx.clone(), ctx.clone(), ctx.clone(), ctx);
    let (background_name, weekly_name, monthly_name) =
        (format!("{name}-background"), format!("{name}-weekly"), format!("{name}-monthly"));
    tracing::info!(%name, concurrency, "worker starting");
    Ok(Monitor::new()
        .should_restart(|_, _| true)
        .register(move |_| {
            WorkerBuilder::new(name.as_str())
                .backend(interactive())
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .data(jobs_ctx.clone())
                .build(lifecycle::handle)
        })
        .register(move |_| {
            WorkerBuilder::new(background_name.as_str())
                .backend(background())
                .concurrency(concurrency)
                .parallelize(tokio::spawn)
                .data(background_ctx.clone())
                .build(lifecycle::handle)
        })
        .register(move |_| {
            WorkerBuilder::new(weekly_name.as_str())
                .backend(weekly.clone())
                .data(weekly_ctx.clone())
                .build(schedule::weekly_tick)
        })
        .register(move |_| {
            WorkerBuilder::new(monthly_name.as_str())
                .backend(monthly.clone())
                .data(monthly_ctx.clone())
                .build(schedule::monthly_tick)
        })
        .shutdown_timeout(settings.worker.shutdown_timeout))
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "local".into())
}

/// An apalis handler's future. Boxed and `Send`, which sidesteps the compiler's higher-ranked
/// `Send` inference that fails on `async fn` handlers borrowing across awaits.
pub type Handled = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxDynError>> + Send>>;

/// Fails the jobs that can no longer finish (`status::reap`), on every worker (the update is
/// idempotent). A running job is given its time limit plus its worker's missed heartbeats and a
/// minute; a pending one, a day.
async fn reaper(ctx: Arc<Context>) {
    let worker = &ctx.settings.worker;
    let running_for = worker.job_timeout + worker.heartbeat * 3 + Duration::from_secs(60);
    let pending_for = Duration::from_secs(24 * 3600);
    let mut tick =
        tokio::time::interval((worker.job_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)));
    loop {
        tick.tick().await;
        let Ok(mut db) = ctx.db.writer().await else { continue };
        match super::status::reap(&mut db, running_for, pending_for).await {
            Ok(kinds) => {
                for kind in kinds {
                    tracing::warn!(job = %kind, "job reaped: it could no longer finish");
                    ::metrics::counter!("jobs_reaped_total", "job" => kind).increment(1);
                }
            }
            Err(err) => tracing::warn!(error = %err, "reaping stuck jobs failed"),
        }
    }
}

/// Queue depth, the oldest waiting job's age and dead jobs per kind, and daily actives,
/// refreshed every few seconds. Every kind is set each round (0 when it has nothing queued).
async fn queue_gauges(ctx: Arc<Context>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        if let Some(active) = crate::platform::activity::count_today(&ctx.redis).await {
            ::metrics::gauge!("users_active_today").set(active as f64);
        }
        let Ok(mut db) = ctx.db.writer().await else { continue };
        let Ok(rows) = queue::depth(&mut db).await else { continue };
        drop(db);
        let mut gauges: HashMap<JobKind, (f64, f64, f64)> =
            JobKind::ALL.into_iter().map(|kind| (kind, (0.0, 0.0, 0.0))).collect();
        for row in rows {
            let Some(kind) = JobKind::from_variant(&row.variant) else { continue };
            let entry = gauges.entry(kind).or_default();
            entry.0 += row.waiting as f64;
            entry.1 = entry.1.max(row.oldest_seconds);
            entry.2 += row.dead as f64;
        }
        for (kind, (waiting, oldest, dead)) in gauges {
            ::metrics::gauge!("jobs_queue_depth", "job" => kind.as_str()).set(waiting);
            ::metrics::gauge!("jobs_queue_oldest_seconds", "job" => kind.as_str()).set(oldest);
            ::metrics::gauge!("jobs_dead", "job" => kind.as_str()).set(dead);
        }
    }
}
