//! The notification endpoints besides read marks (see `read_marks`): the inbox page, the unread
//! badge, one notification and deletion, all owner-scoped.

use axum::{Json, extract::State, http::StatusCode};

use super::types::{ListQuery, NotificationList, UnreadCount};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::notifications::{self, Notification},
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::{IdPath, QueryParams},
    },
};

pub(super) const NOT_FOUND: &str = "Notification not found";

/// Newest first. Both counters come from one statement; the page is only fetched when it can
/// hold rows.
#[utoipa::path(
    get, path = "/api/v1/notifications", tag = "notifications",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = NotificationList),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_notifications(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<NotificationList>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let counts = notifications::counts(&mut db, auth.id(), q.unread_only).await?;
    let notifications = if q.skip < counts.total_count {
        notifications::list(&mut db, auth.id(), q.unread_only, q.limit, q.skip).await?
    } else {
        Vec::new()
    };
    Ok(Json(NotificationList { notifications, total_count: counts.total_count, unread_count: counts.unread_count }))
}

/// Polled every 30 s by every page: one count over the user's unread rows, from an index alone.
#[utoipa::path(
    get, path = "/api/v1/notifications/unread-count", tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UnreadCount),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_unread_count(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<UnreadCount>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let unread_count = notifications::unread_count(&mut db, auth.id()).await?;
    Ok(Json(UnreadCount { unread_count }))
}

#[utoipa::path(
    get, path = "/api/v1/notifications/{notification_id}", tag = "notifications",
    security(("bearer" = [])),
    params(("notification_id" = i64, Path)),
    responses(
        (status = 200, body = Notification),
        (status = 404, description = "Notification not found", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), notification_id = id))]
pub async fn get_notification(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Notification>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let notification =
        notifications::get(&mut db, auth.id(), id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(notification))
}

#[utoipa::path(
    delete, path = "/api/v1/notifications/{notification_id}", tag = "notifications",
    security(("bearer" = [])),
    params(("notification_id" = i64, Path)),
    responses(
        (status = 204),
        (status = 404, description = "Notification not found", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), notification_id = id))]
pub async fn delete_notification(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let mut db = state.db.writer().await?;
    if !notifications::delete(&mut db, auth.id(), id).await? {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(StatusCode::NO_CONTENT)
}
