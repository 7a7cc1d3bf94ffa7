//! One job's run: its `ai_jobs` row moved to `running`, then `done` or `failed`; its metrics; and
//! a `job` span (kind and id) around it, so everything it logs, LLM retries included, says which
//! job it belongs to.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use apalis::prelude::{BoxDynError, Data};
use serde_json::Value;
use tracing::Instrument;

use crate::{
    data::{budgets, subscriptions},
    llm::usage,
};

use super::{
    AiJob, JobState, analysis, chat,
    context::Context,
    error::{JobError, JobResult},
    persona, report, status, summary,
    worker::Handled,
};

/// The apalis handler.
pub fn handle(job: AiJob, ctx: Data<Arc<Context>>) -> Handled {
    let span = tracing::info_span!("job", kind = job.kind().as_str(), job_id = job.job_id());
    Box::pin(async move { handle_job(job, &ctx).await }.instrument(span))
}

/// Records the lifecycle around the job and its metrics.
async fn handle_job(job: AiJob, ctx: &Context) -> Result<(), BoxDynError> {
    let kind = job.kind().as_str();
    if let Ok(id) = ulid::Ulid::from_string(job.job_id()) {
        let waited = (chrono::Utc::now().timestamp_millis() - id.timestamp_ms() as i64).max(0) as f64 / 1000.0;
        metrics::histogram!("job_queue_latency_seconds", "job" => kind, "class" => job.class().as_str()).record(waited);
    }
    if !retrying(|| async { Ok(status::start(&mut ctx.db.writer().await?, job.job_id()).await?) }).await? {
        tracing::info!("job already done; skipping");
        return Ok(());
    }
    let started = Instant::now();
    let timeout = ctx.settings.worker.job_timeout;
    let run = || async {
        match tokio::time::timeout(timeout, dispatch(ctx, &job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JobError::Internal(format!("timed out after {timeout:?}"))),
        }
    };
    // A chat reply has streamed its tokens to the user by the time it can fail: running it again
    // would stream them twice, so it retries only its own store (`chat::store`).
    let retried = async { if matches!(job, AiJob::ChatReply { .. }) { run().await } else { retrying(run).await } };
    let (outcome, tokens) = match within_budget(ctx, &job).await {
        Ok(true) => Box::pin(usage::counted(retried)).await,
        Ok(false) => (Err(JobError::Invalid("the user's monthly AI budget is used up".into())), 0),
        Err(err) => (Err(err), 0),
    };
    spent(ctx, &job, tokens).await;
    metrics::histogram!("job_duration_seconds", "job" => kind).record(started.elapsed().as_secs_f64());
    match outcome {
        Ok(result) => {
            finish(ctx, &job, JobState::Done, result.as_ref(), None).await?;
            metrics::counter!("jobs_completed_total", "job" => kind, "outcome" => JobState::Done.as_str()).increment(1);
            Ok(())
        }
        Err(err) => {
            tracing::error!(error = ?err, "job failed");
            finish(ctx, &job, JobState::Failed, None, Some(&err.to_string())).await?;
            metrics::counter!("jobs_completed_total", "job" => kind, "outcome" => JobState::Failed.as_str())
                .increment(1);
            Err(Box::new(err))
        }
    }
}

async fn dispatch(ctx: &Context, job: &AiJob) -> JobResult {
    match job {
        AiJob::Persona { job_id, user_id, mode } => persona::run(ctx, job_id, *user_id, mode).await,
        AiJob::ChatReply { job_id, user_id, chat_id, user_message_id } => {
            chat::run(ctx, job_id, *user_id, *chat_id, *user_message_id).await
        }
        AiJob::AnalyzeDiary { job_id, user_id, diary_id, .. } => analysis::run(ctx, job_id, *user_id, *diary_id).await,
        AiJob::Report { user_id, kind, period_start, .. } => report::run(ctx, *user_id, *kind, *period_start).await,
        AiJob::WeeklySummary { job_id, user_id, week_start, .. } => {
            summary::weekly(ctx, job_id, *user_id, *week_start).await
        }
        AiJob::PromptSuggestions { job_id, user_id, day, .. } => summary::prompts(ctx, job_id, *user_id, *day).await,
        AiJob::ScheduleReports { kind, period_start, .. } => report::fan_out(ctx, *kind, *period_start).await,
    }
}

/// Records the outcome. What a job wrote for a user counts as that user's write, so their next
/// reads see it at once (read-your-writes covers the AI's output, not only their own requests).
async fn finish(
    ctx: &Context,
    job: &AiJob,
    state: JobState,
    result: Option<&Value>,
    error: Option<&str>,
) -> Result<(), JobError> {
    retrying(|| async {
        let mut db = ctx.db.writer().await?;
        status::finish(&mut db, job.job_id(), state, result, error).await?;
        if let Some(user_id) = job.user_id() {
            ctx.writes.committed(&mut db, user_id, &[]).await?;
        }
        Ok(())
    })
    .await
}

/// Whether the job's user may still spend on LLM calls this month (jobs without a user may).
/// Checked before the model is called, so a user past their budget costs nothing more.
async fn within_budget(ctx: &Context, job: &AiJob) -> Result<bool, JobError> {
    let Some(user_id) = job.user_id() else { return Ok(true) };
    retrying(|| async {
        let mut db = ctx.db.writer().await?;
        let premium = subscriptions::is_premium(&mut db, user_id).await?;
        let budget = budgets::budget(&mut db, user_id, premium, &ctx.settings.budgets, chrono::Utc::now()).await?;
        Ok(!budget.exhausted())
    })
    .await
}

/// Adds the job's tokens to its user's spending (a failure to record is logged, not fatal: the
/// job's work is done).
async fn spent(ctx: &Context, job: &AiJob, tokens: u64) {
    let Some(user_id) = job.user_id().filter(|_| tokens > 0) else { return };
    let recorded = retrying(|| async {
        let mut db = ctx.db.writer().await?;
        Ok(budgets::spend(&mut db, user_id, tokens, &ctx.settings.budgets, chrono::Utc::now()).await?)
    })
    .await;
    if let Err(err) = recorded {
        tracing::warn!(error = %err, tokens, "the job's LLM spending was not recorded");
    }
}

/// The waits before the second and third try of a step that failed transiently.
const BACKOFF: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(4)];

/// Runs `step`, and again after a backoff while it fails transiently (a database outage or
/// timeout: [`JobError::is_transient`]), at most three times in all. Jobs and their status writes
/// are idempotent, so a step that half-happened is safe to repeat.
pub async fn retrying<T, F, Fut>(mut step: F) -> Result<T, JobError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, JobError>>,
{
    let mut waits = BACKOFF.iter();
    loop {
        match step().await {
            Err(err) if err.is_transient() => match waits.next() {
                Some(wait) => {
                    tracing::warn!(error = %err, retry_in = ?wait, "transient failure; retrying");
                    metrics::counter!("job_step_retries_total").increment(1);
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(err),
            },
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::platform::db;

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_twice_with_backoff_and_others_not_at_all() {
        let calls = AtomicU32::new(0);
        let flaky = || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(JobError::Db(db::Error::Timeout(Duration::from_secs(5)))),
                _ => Ok("stored"),
            }
        };
        let started = tokio::time::Instant::now();
        assert_eq!(retrying(flaky).await.unwrap(), "stored");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(started.elapsed(), Duration::from_secs(5), "1 s, then 4 s");

        let calls = AtomicU32::new(0);
        let down = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(JobError::Db(db::Error::Timeout(Duration::from_secs(5))))
        };
        assert!(retrying(down).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3, "three tries in all");

        let calls = AtomicU32::new(0);
        let wrong = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(JobError::Invalid("bad output".into()))
        };
        assert!(retrying(wrong).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
