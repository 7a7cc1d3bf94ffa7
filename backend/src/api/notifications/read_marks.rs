//! Read marks: one notification, all of them, or a list of ids. The bulk marks record a write
//! only when they matched rows.

use axum::{Json, extract::State};

use super::{
    handlers::NOT_FOUND,
    types::{MarkRead, UpdatedCount},
};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::notifications::{self, Notification},
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::{Body, IdPath},
    },
};

/// Marks one notification read (already read is fine) and returns it.
#[utoipa::path(
    patch, path = "/api/v1/notifications/{notification_id}/read", tag = "notifications",
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
pub async fn read_notification(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Notification>> {
    let mut db = state.db.writer().await?;
    let notification =
        notifications::mark_read(&mut db, auth.id(), id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(Json(notification))
}

/// `updated_count` is the number of rows that were unread.
#[utoipa::path(
    post, path = "/api/v1/notifications/mark-all-read", tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, body = UpdatedCount),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn mark_all_notifications_read(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<UpdatedCount>> {
    let mut db = state.db.writer().await?;
    let updated = notifications::mark_all_read(&mut db, auth.id()).await?;
    // Nothing changed, nothing to make visible.
    if updated > 0 {
        state.writes.committed(&mut db, auth.id(), &[]).await?;
    }
    Ok(Json(UpdatedCount { updated_count: updated as i64 }))
}

/// `updated_count` is the number of the caller's rows matched, whether or not they were unread.
#[utoipa::path(
    post, path = "/api/v1/notifications/mark-read", tag = "notifications",
    security(("bearer" = [])),
    request_body = MarkRead,
    responses(
        (status = 200, body = UpdatedCount),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn mark_notifications_read(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<MarkRead>,
) -> ApiResult<Json<UpdatedCount>> {
    let mut db = state.db.writer().await?;
    let updated = notifications::mark_many_read(&mut db, auth.id(), &body.notification_ids).await?;
    if updated > 0 {
        state.writes.committed(&mut db, auth.id(), &[]).await?;
    }
    Ok(Json(UpdatedCount { updated_count: updated as i64 }))
}
