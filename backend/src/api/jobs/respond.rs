//! Answering a request that enqueued a job: `202 Accepted` with the job's location when the
//! client prefers it (`Prefer: respond-async`), otherwise the finished job, waited for.
//!
//! Waiting polls `ai_jobs` on the primary, taking a pooled connection only for each short poll:
//! no thread or connection is held while a request waits.

use std::time::{Duration, Instant};

use axum::{
    Json,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    api::state::AppState,
    jobs::{JobState, JobStatus, status},
    platform::error::{ApiError, ApiResult},
};

/// What an endpoint that enqueued a job answers with.
pub enum Respond {
    /// The `202` (the client asked not to wait).
    Accepted(Response),
    /// The job, done or failed.
    Finished(JobStatus),
}

/// `202` at once under `Prefer: respond-async`, else the job once it has finished (bounded by
/// `JOB_WAIT_TIMEOUT_MS`).
pub async fn respond(state: &AppState, headers: &HeaderMap, user_id: i64, job_id: &str) -> ApiResult<Respond> {
    if prefers_async(headers) {
        return Ok(Respond::Accepted(accepted(job_id)));
    }
    Ok(Respond::Finished(wait(state, job_id, user_id).await?))
}

/// The job if it belongs to `user_id` (read on the primary: it changes under the reader).
pub async fn load(state: &AppState, job_id: &str, user_id: i64) -> ApiResult<Option<JobStatus>> {
    let mut db = state.db.writer().await?;
    Ok(status::find(&mut db, job_id, user_id).await?)
}

/// Waits (bounded by `JOB_WAIT_TIMEOUT_MS`) until the job is done or failed.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn wait(state: &AppState, job_id: &str, user_id: i64) -> ApiResult<JobStatus> {
    let deadline = Instant::now() + state.settings.job_wait_timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        let job = load(state, job_id, user_id).await?.ok_or_else(|| anyhow::anyhow!("job {job_id} vanished"))?;
        if job.state().is_finished() {
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
pub fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// The 202 answer for an enqueued job.
pub fn accepted(job_id: &str) -> Response {
    let location = format!("/api/v1/jobs/{job_id}");
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location.clone())],
        Json(serde_json::json!({ "job_id": job_id, "status": JobState::Pending.as_str(), "location": location })),
    )
        .into_response()
}
