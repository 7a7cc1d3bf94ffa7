//! The diary endpoints besides create (see `create`): list, count, read, update and delete, all
//! owner-scoped.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{
    insights::keys_changed_by_diary_write,
    types::{Count, DiaryPage, ListQuery, UpdateDiary},
};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::diaries::{self, Diary},
    jobs::{self, AiJob},
    platform::{
        cache::{Cache, CacheKey, Computed},
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::{
            extract::{Body, IdPath, QueryParams},
            page,
        },
    },
};

const NOT_FOUND: &str = "Diary not found";

/// One round trip: the page and the total (an index-only count) together; only a page past the
/// end needs a separate count. The first page as the app asks for it (ten, unfiltered) is cached
/// per user, invalidated by the user's diary writes like the stats.
#[utoipa::path(
    get, path = "/api/v1/diaries", tag = "diaries",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = DiaryPage),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), page = q.page))]
pub async fn list_diaries(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Response> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let read = || async {
        let mut db = state.db.reader(min_lsn).await?;
        let offset = page::offset(q.page, q.per_page);
        let (items, total) = diaries::list_page(&mut db, user_id, q.mood.as_deref(), q.per_page, offset).await?;
        Ok(Computed { role: db.role(), value: DiaryPage { items, total, page: q.page, per_page: q.per_page } })
    };
    if q.page == 1 && q.per_page == page::ten() && q.mood.is_none() {
        let key = CacheKey::new(Cache::DiaryPage, user_id);
        return Ok(state.cache.cached_json(&key, min_lsn, read).await?.into_response());
    }
    Ok(Json(read().await?.value).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/diaries/count", tag = "diaries",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Count),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn count_diaries(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Count>> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let count = state
        .cache
        .cached(&CacheKey::new(Cache::DiaryCount, user_id), min_lsn, || async {
            let mut db = state.db.reader(min_lsn).await?;
            let count = diaries::count(&mut db, user_id).await?;
            Ok(Computed { role: db.role(), value: Count { count } })
        })
        .await?;
    Ok(Json(count))
}

#[utoipa::path(
    get, path = "/api/v1/diaries/{diary_id}", tag = "diaries",
    security(("bearer" = [])),
    params(("diary_id" = i64, Path)),
    responses(
        (status = 200, body = Diary),
        (status = 404, description = "Diary not found", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), diary_id = id))]
pub async fn get_diary(State(state): State<AppState>, auth: AuthUser, IdPath(id): IdPath) -> ApiResult<Json<Diary>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let diary = diaries::get(&mut db, auth.id(), id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(diary))
}

/// Partial update: absent fields are kept, an explicit `null` clears mood or weather.
#[utoipa::path(
    patch, path = "/api/v1/diaries/{diary_id}", tag = "diaries",
    security(("bearer" = [])),
    params(("diary_id" = i64, Path)),
    request_body = Option<UpdateDiary>,
    responses(
        (status = 200, body = Diary),
        (status = 404, description = "Diary not found", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), diary_id = id))]
pub async fn update_diary(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
    Body(body): Body<UpdateDiary>,
) -> ApiResult<Json<Diary>> {
    let user_id = auth.id();
    let mut db = state.db.writer().await?;
    let mut tx = db.transaction().await?;
    let diary = diaries::update(&mut tx, user_id, id, &body.as_changes())
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    // The analysis is redone on the new text (it replaces the stored one).
    let analysis = AiJob::AnalyzeDiary { job_id: jobs::new_job_id(), user_id, diary_id: diary.id };
    jobs::enqueue(&mut tx, &analysis, None).await?;
    tx.commit().await?;
    state.writes.committed(&mut db, user_id, &keys_changed_by_diary_write(user_id, diary.diary_date)).await?;
    Ok(Json(diary))
}

#[utoipa::path(
    delete, path = "/api/v1/diaries/{diary_id}", tag = "diaries",
    security(("bearer" = [])),
    params(("diary_id" = i64, Path)),
    responses(
        (status = 204),
        (status = 404, description = "Diary not found", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), diary_id = id))]
pub async fn delete_diary(State(state): State<AppState>, auth: AuthUser, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let user_id = auth.id();
    let mut db = state.db.writer().await?;
    let date = diaries::delete(&mut db, user_id, id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    state.writes.committed(&mut db, user_id, &keys_changed_by_diary_write(user_id, date)).await?;
    Ok(StatusCode::NO_CONTENT)
}
