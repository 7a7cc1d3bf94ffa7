//! Notifications: the owner's inbox rows, their counters and read marks, and [`insert`], the one
//! place that writes a plain notification (friend requests, persona and report notices).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::platform::db::{self, Executor};

// A notification as stored and as served (a plain comment: a doc comment would change its OpenAPI
// schema).
#[derive(Debug, Serialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    /// NotificationType (contract 3.5), e.g. `milestone_3`, `friend_request`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub content: Option<String>,
    pub is_read: bool,
    pub related_id: Option<i64>,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
}

crate::from_row!(Notification { id, user_id, kind, title, content, is_read, related_id, created_at });

const COLUMNS: &str = "id, user_id, type as kind, title, content, is_read, related_id, created_at";

/// Sends `user_id` a notification of `kind` (a NotificationType).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, kind = kind))]
pub async fn insert(db: &mut impl Executor, user_id: i64, kind: &str, title: &str, content: &str) -> db::Result<()> {
    db.execute(
        "insert into notifications (user_id, type, title, content) values ($1, $2, $3, $4)",
        &[(&user_id, Type::INT8), (&kind, Type::TEXT), (&title, Type::VARCHAR), (&content, Type::TEXT)],
    )
    .await?;
    Ok(())
}

/// The user's notification counters.
pub struct Counts {
    /// Rows matching the filter (all, or unread only).
    pub total_count: i64,
    /// Unread rows, whatever the filter.
    pub unread_count: i64,
}

crate::from_row!(Counts { total_count, unread_count });

/// Both counters in one statement.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn counts(db: &mut impl Executor, user_id: i64, unread_only: bool) -> db::Result<Counts> {
    db.fetch_one(
        "select count(*) filter (where not $2 or not is_read) as total_count, \
                count(*) filter (where not is_read) as unread_count \
         from notifications where user_id = $1",
        &[(&user_id, Type::INT8), (&unread_only, Type::BOOL)],
    )
    .await
}

/// A page of the user's notifications (unread ones only, if asked), newest first.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn list(
    db: &mut impl Executor,
    user_id: i64,
    unread_only: bool,
    limit: i64,
    skip: i64,
) -> db::Result<Vec<Notification>> {
    db.fetch_all(
        &format!(
            "select {COLUMNS} from notifications where user_id = $1 and (not $2 or not is_read) \
             order by created_at desc, id desc limit $3 offset $4"
        ),
        &[(&user_id, Type::INT8), (&unread_only, Type::BOOL), (&limit, Type::INT8), (&skip, Type::INT8)],
    )
    .await
}

/// The user's unread notifications: one count over `notifications_user_unread_idx`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn unread_count(db: &mut impl Executor, user_id: i64) -> db::Result<i64> {
    db.fetch_value(
        "select count(*) as value from notifications where user_id = $1 and not is_read",
        &[(&user_id, Type::INT8)],
    )
    .await
}

/// The user's notification `id`, if it exists and is theirs.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, notification_id = id))]
pub async fn get(db: &mut impl Executor, user_id: i64, id: i64) -> db::Result<Option<Notification>> {
    db.fetch_opt(
        &format!("select {COLUMNS} from notifications where id = $1 and user_id = $2"),
        &[(&id, Type::INT8), (&user_id, Type::INT8)],
    )
    .await
}

/// Marks the user's notification `id` read (already read is fine); it, or `None` if not theirs.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, notification_id = id))]
pub async fn mark_read(db: &mut impl Executor, user_id: i64, id: i64) -> db::Result<Option<Notification>> {
    db.fetch_opt(
        &format!("update notifications set is_read = true where id = $1 and user_id = $2 returning {COLUMNS}"),
        &[(&id, Type::INT8), (&user_id, Type::INT8)],
    )
    .await
}

/// Marks every unread notification of the user read; how many there were.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn mark_all_read(db: &mut impl Executor, user_id: i64) -> db::Result<u64> {
    db.execute("update notifications set is_read = true where user_id = $1 and not is_read", &[(&user_id, Type::INT8)])
        .await
}

/// Marks the user's notifications among `ids` read; how many of them are the user's (read
/// before or not). Unknown ids and other users' are ignored.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn mark_many_read(db: &mut impl Executor, user_id: i64, ids: &[i64]) -> db::Result<u64> {
    db.execute(
        "update notifications set is_read = true where user_id = $1 and id = any($2)",
        &[(&user_id, Type::INT8), (&ids, Type::INT8_ARRAY)],
    )
    .await
}

/// Deletes the user's notification `id`; whether it was theirs.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, notification_id = id))]
pub async fn delete(db: &mut impl Executor, user_id: i64, id: i64) -> db::Result<bool> {
    let deleted = db
        .execute(
            "delete from notifications where id = $1 and user_id = $2",
            &[(&id, Type::INT8), (&user_id, Type::INT8)],
        )
        .await?;
    Ok(deleted > 0)
}
