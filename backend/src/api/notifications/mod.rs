//! Notifications (contract 4.7): the owner's inbox, its counters and read marks. Rows are written
//! elsewhere (diary milestones, friend requests, persona upgrades). Another user's notification
//! is indistinguishable from a missing one (404).

pub mod handlers;
pub mod read_marks;
pub mod types;

use axum::{
    Router,
    routing::{get, patch, post},
};

use crate::api::state::AppState;

/// Static segments win over `{notification_id}` in axum's router, so `unread-count`,
/// `mark-all-read` and `mark-read` never reach the id routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notifications", get(handlers::list_notifications))
        .route("/notifications/unread-count", get(handlers::get_unread_count))
        .route("/notifications/mark-all-read", post(read_marks::mark_all_notifications_read))
        .route("/notifications/mark-read", post(read_marks::mark_notifications_read))
        .route(
            "/notifications/{notification_id}",
            get(handlers::get_notification).delete(handlers::delete_notification),
        )
        .route("/notifications/{notification_id}/read", patch(read_marks::read_notification))
}
