//! Notifications (contract 4.7): the owner's inbox, its counters and read marks. Rows are written
//! elsewhere (diary milestones, friend requests, persona upgrades). Another user's notification
//! is indistinguishable from a missing one (404).

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, patch, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::{Row, types::Type};
use utoipa::{IntoParams, ToSchema};

use crate::{
    platform::db::Executor,
    api::auth::session::AuthUser,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, IdPath, QueryParams},
        validate::{Validate, Violations},
    },
    api::state::AppState,
};

const NOT_FOUND: &str = "Notification not found";

/// Static segments win over `{notification_id}` in axum's router, so `unread-count`,
/// `mark-all-read` and `mark-read` never reach the id routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(list_notifications))
        .route("/notifications/unread-count", get(get_unread_count))
        .route("/notifications/mark-all-read", post(mark_all_notifications_read))
        .route("/notifications/mark-read", post(mark_notifications_read))
        .route("/notifications/{notification_id}", get(get_notification).delete(delete_notification))
        .route("/notifications/{notification_id}/read", patch(read_notification))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    id: i64,
    user_id: i64,
    /// NotificationType (contract 3.5), e.g. `milestone_3`, `friend_request`.
    #[serde(rename = "type")]
    kind: String,
    title: String,
    content: Option<String>,
    is_read: bool,
    related_id: Option<i64>,
    #[serde(with = "crate::platform::time::utc")]
    created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, user_id, type, title, content, is_read, related_id, created_at";

impl Notification {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            kind: row.get("type"),
            title: row.get("title"),
            content: row.get("content"),
            is_read: row.get("is_read"),
            related_id: row.get("related_id"),
            created_at: row.get("created_at"),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    notifications: Vec<Notification>,
    /// Rows matching the filter (all, or unread only).
    total_count: i64,
    /// Unread rows, whatever the filter.
    unread_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnreadCount {
    unread_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedCount {
    updated_count: i64,
}

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    #[serde(default)]
    skip: i64,
    #[serde(default = "twenty")]
    limit: i64,
    /// Only unread notifications (omitted or `false`: all).
    #[serde(default)]
    unread_only: bool,
}

fn twenty() -> i64 {
    20
}

impl Validate for ListQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("skip", self.skip, 0, None);
        v.range("limit", self.limit, 1, Some(100));
    }
}

/// Newest first. Both counters come from one statement; the page is only fetched when it can
/// hold rows.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = NotificationList), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn list_notifications(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<NotificationList>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let counts = db
        .query_one(
            "select count(*) filter (where not $2 or not is_read) as total_count, \
                    count(*) filter (where not is_read) as unread_count \
             from notifications where user_id = $1",
            &[(&auth.id(), Type::INT8), (&q.unread_only, Type::BOOL)],
        )
        .await?;
    let (total_count, unread_count): (i64, i64) = (counts.get("total_count"), counts.get("unread_count"));
    let notifications: Vec<Notification> = if q.skip < total_count {
        db.query(
            &format!(
                "select {COLUMNS} from notifications where user_id = $1 and (not $2 or not is_read) \
                 order by created_at desc, id desc limit $3 offset $4"
            ),
            &[(&auth.id(), Type::INT8), (&q.unread_only, Type::BOOL), (&q.limit, Type::INT8), (&q.skip, Type::INT8)],
        )
        .await?
        .iter()
        .map(Notification::from_row)
        .collect()
    } else {
        Vec::new()
    };
    Ok(Json(NotificationList { notifications, total_count, unread_count }))
}

/// Polled every 30 s by every page: one count over the user's rows in
/// `notifications_user_created_idx`.
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = UnreadCount), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn get_unread_count(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<UnreadCount>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_one("select count(*) from notifications where user_id = $1 and not is_read", &[(&auth.id(), Type::INT8)])
        .await?;
    Ok(Json(UnreadCount { unread_count: row.get(0) }))
}

#[utoipa::path(get, path = "/api/v1/notifications/{notification_id}", tag = "notifications", security(("bearer" = [])),
    params(("notification_id" = i64, Path)),
    responses((status = 200, body = Notification), (status = 404, description = "Notification not found", body = crate::platform::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn get_notification(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Notification>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_opt(
            &format!("select {COLUMNS} from notifications where id = $1 and user_id = $2"),
            &[(&id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(Json(Notification::from_row(&row)))
}

/// Marks one notification read (already read is fine) and returns it.
#[utoipa::path(patch, path = "/api/v1/notifications/{notification_id}/read", tag = "notifications", security(("bearer" = [])),
    params(("notification_id" = i64, Path)),
    responses((status = 200, body = Notification), (status = 404, description = "Notification not found", body = crate::platform::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn read_notification(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Notification>> {
    let mut db = state.db.writer().await?;
    let row = db
        .query_opt(
            &format!("update notifications set is_read = true where id = $1 and user_id = $2 returning {COLUMNS}"),
            &[(&id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(Json(Notification::from_row(&row)))
}

/// `updated_count` is the number of rows that were unread.
#[utoipa::path(post, path = "/api/v1/notifications/mark-all-read", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = UpdatedCount), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn mark_all_notifications_read(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<UpdatedCount>> {
    let mut db = state.db.writer().await?;
    let updated = db
        .execute(
            "update notifications set is_read = true where user_id = $1 and not is_read",
            &[(&auth.id(), Type::INT8)],
        )
        .await?;
    if updated > 0 {
        state.writes.committed(&mut db, auth.id(), &[]).await?;
    }
    Ok(Json(UpdatedCount { updated_count: updated as i64 }))
}

#[derive(Deserialize, ToSchema)]
struct MarkRead {
    /// At least one id; ids that are unknown or not the caller's are ignored.
    notification_ids: Vec<i64>,
}

impl Validate for MarkRead {
    fn validate(&self, v: &mut Violations) {
        if self.notification_ids.is_empty() {
            v.push(
                "notification_ids",
                "too_short",
                "List should have at least 1 item after validation, not 0".into(),
                json!([]),
                Some(json!({ "field_type": "List", "min_length": 1, "actual_length": 0 })),
            );
        }
    }
}

/// `updated_count` is the number of the caller's rows matched, whether or not they were unread.
#[utoipa::path(post, path = "/api/v1/notifications/mark-read", tag = "notifications", security(("bearer" = [])), request_body = MarkRead,
    responses((status = 200, body = UpdatedCount), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn mark_notifications_read(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<MarkRead>,
) -> ApiResult<Json<UpdatedCount>> {
    let mut db = state.db.writer().await?;
    let updated = db
        .execute(
            "update notifications set is_read = true where user_id = $1 and id = any($2)",
            &[(&auth.id(), Type::INT8), (&body.notification_ids, Type::INT8_ARRAY)],
        )
        .await?;
    if updated > 0 {
        state.writes.committed(&mut db, auth.id(), &[]).await?;
    }
    Ok(Json(UpdatedCount { updated_count: updated as i64 }))
}

#[utoipa::path(delete, path = "/api/v1/notifications/{notification_id}", tag = "notifications", security(("bearer" = [])),
    params(("notification_id" = i64, Path)),
    responses((status = 204), (status = 404, description = "Notification not found", body = crate::platform::error::ErrorBody),
        (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn delete_notification(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let mut db = state.db.writer().await?;
    let deleted = db
        .execute(
            "delete from notifications where id = $1 and user_id = $2",
            &[(&id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(StatusCode::NO_CONTENT)
}
