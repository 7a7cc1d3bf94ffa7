//! Generating the own persona: the endpoints that start a persona job, and [`run_job`], which
//! enqueues one and answers for it (also used by the quiz).

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{MIN_DIARIES, types::Generated};
use crate::{
    api::{
        auth::session::AuthUser,
        jobs::{self as job_api, Respond},
        state::AppState,
    },
    data::{diaries, personas, personas::Persona},
    jobs::{self, AiJob, JobState, persona::Mode},
    platform::error::{ApiError, ApiResult, ErrorBody, Unauthenticated},
};

/// The contract's 500 detail when generating fails.
const GENERATE_FAILED: &str = "Failed to generate persona. Please try again.";

/// How a persona request ends: `202` at once, or the stored persona.
pub enum Outcome {
    Accepted(Response),
    Stored(Persona),
}

/// Enqueues a persona job for `user_id` and answers for it: `202` under `Prefer: respond-async`,
/// else (after waiting, bounded) the stored persona; `failure` is the 500 detail when the job
/// failed.
pub async fn run_job(
    state: &AppState,
    headers: &HeaderMap,
    user_id: i64,
    mode: Mode,
    failure: &'static str,
) -> ApiResult<Outcome> {
    crate::api::subscriptions::budget::ensure_within(state, user_id).await?;
    let job_id = enqueue(state, user_id, mode).await?;
    let job = match job_api::respond(state, headers, user_id, &job_id).await? {
        Respond::Accepted(response) => return Ok(Outcome::Accepted(response)),
        Respond::Finished(job) => job,
    };
    if job.state() != JobState::Done {
        return Err(ApiError::JobFailed(failure.into()));
    }
    let mut db = state.db.writer().await?;
    let persona = personas::find(&mut db, user_id).await?.ok_or_else(|| ApiError::JobFailed(failure.into()))?;
    Ok(Outcome::Stored(persona))
}

/// Enqueues a persona job (one statement, committed on its own); its id. With one already
/// pending or running for the user, that one's id: one persona job per user in flight (a unique
/// index decides, so concurrent requests cannot both enqueue).
async fn enqueue(state: &AppState, user_id: i64, mode: Mode) -> ApiResult<String> {
    let job_id = jobs::new_job_id();
    let mut db = state.db.writer().await?;
    let job = AiJob::Persona { job_id: job_id.clone(), user_id, mode };
    match jobs::enqueue(&mut db, &job, None).await {
        Ok(_) => {
            state.writes.committed(&mut db, user_id, &[]).await?;
            Ok(job_id)
        }
        Err(err) if err.constraint() == Some("ai_jobs_one_persona_in_flight") => {
            jobs::status::persona_in_flight(&mut db, user_id)
                .await?
                .ok_or_else(|| ApiError::Unavailable("the persona job in flight just ended; try again".into()))
        }
        Err(err) => Err(err.into()),
    }
}

/// The outcome as the generate endpoints answer: the persona with `message`, or the `202`.
fn generated(outcome: Outcome, message: &str) -> Response {
    match outcome {
        Outcome::Accepted(response) => response,
        Outcome::Stored(persona) => Json(Generated { persona, message: message.into() }).into_response(),
    }
}

#[utoipa::path(
    post, path = "/api/v1/personas/generate", tag = "personas",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Generated),
        (status = 202, description = "With `Prefer: respond-async`: the job's Location"),
        (status = 400, description = "You need at least 7 diaries to generate a persona. Current: N | Persona already exists. Use regenerate endpoint to update.", body = ErrorBody),
        Unauthenticated,
        (status = 500, description = "Failed to generate persona. Please try again.", body = ErrorBody),
        (status = 429, description = "Monthly AI budget used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn generate_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mut db = state.db.writer().await?;
    let count = diaries::count(&mut db, auth.id()).await?;
    if count < MIN_DIARIES {
        return Err(ApiError::bad_request(format!(
            "You need at least 7 diaries to generate a persona. Current: {count}"
        )));
    }
    if personas::find(&mut db, auth.id()).await?.is_some() {
        return Err(ApiError::bad_request("Persona already exists. Use regenerate endpoint to update."));
    }
    drop(db);
    let outcome = run_job(&state, &headers, auth.id(), Mode::Generate, GENERATE_FAILED).await?;
    Ok(generated(outcome, "페르소나가 생성되었습니다!"))
}

/// Keeps the persona's id, chats and customization; the content changes only if the new LLM
/// output validates.
#[utoipa::path(
    post, path = "/api/v1/personas/regenerate", tag = "personas",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Generated),
        (status = 202, description = "With `Prefer: respond-async`"),
        (status = 400, description = "You need at least 7 diaries. Current: N", body = ErrorBody),
        Unauthenticated,
        (status = 500, description = "Failed to generate persona. Please try again.", body = ErrorBody),
        (status = 429, description = "Monthly AI budget used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn regenerate_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mut db = state.db.writer().await?;
    let count = diaries::count(&mut db, auth.id()).await?;
    if count < MIN_DIARIES {
        return Err(ApiError::bad_request(format!("You need at least 7 diaries. Current: {count}")));
    }
    drop(db);
    let outcome = run_job(&state, &headers, auth.id(), Mode::Regenerate, GENERATE_FAILED).await?;
    Ok(generated(outcome, "페르소나가 새로 만들어졌습니다!"))
}
