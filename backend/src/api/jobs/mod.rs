//! Jobs over HTTP: `GET /jobs/{job_id}` (a job's state, for clients that asked for `202` and
//! poll) and the answer every endpoint that enqueues a job gives ([`respond`]).

mod respond;

use axum::{Json, extract::State};

pub use respond::{Respond, accepted, load, prefers_async, respond, wait};

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::{auth::session::AuthUser, state::AppState},
    jobs::JobStatus,
    platform::{
        error::{ApiError, ApiResult, ErrorBody},
        http::{extract::TextPath, timeout},
    },
};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_job)).route_layer(timeout::short())
}

#[utoipa::path(
    get, path = "/api/v1/jobs/{job_id}", tag = "jobs",
    security(("bearer" = [])),
    params(("job_id" = String, Path)),
    responses(
        (status = 200, body = JobStatus),
        (status = 404, description = "Job not found", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_job(
    State(state): State<AppState>,
    auth: AuthUser,
    TextPath(job_id): TextPath,
) -> ApiResult<Json<JobStatus>> {
    load(&state, &job_id, auth.id()).await?.map(Json).ok_or_else(|| ApiError::not_found("Job not found"))
}
