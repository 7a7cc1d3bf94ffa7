//! `GET /diaries/access-log` (added): every read of the caller's diaries by an LLM job, newest
//! first: which diary, when, which job, and which friend's chat it served (null: their own).

use axum::{Json, extract::State};

use super::types::{AccessLog, AccessLogQuery};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::diary_access,
    platform::{error::ApiResult, http::extract::QueryParams},
};

#[utoipa::path(
    get, path = "/api/v1/diaries/access-log", tag = "diaries",
    security(("bearer" = [])),
    params(AccessLogQuery),
    responses(
        (status = 200, body = AccessLog),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_access_log(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<AccessLogQuery>,
) -> ApiResult<Json<AccessLog>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let (items, total) = diary_access::list(&mut db, auth.id(), q.skip, q.limit).await?;
    Ok(Json(AccessLog { items, total }))
}
