//! Notifications (contract 4.7): the owner's inbox, its counters and read marks. Rows are written
//! elsewhere (diary milestones, friend requests, persona upgrades). Another user's notification
//! is indistinguishable from a missing one (404).

pub mod handlers;
pub mod read_marks;
pub mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::state::AppState, platform::http::timeout};

/// Static segments win over `{notification_id}` in axum's router, so `unread-count`,
/// `mark-all-read` and `mark-read` never reach the id routes.
/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_notifications))
        .routes(routes!(handlers::get_unread_count))
        .routes(routes!(read_marks::mark_all_notifications_read))
        .routes(routes!(read_marks::mark_notifications_read))
        .routes(routes!(handlers::get_notification, handlers::delete_notification))
        .routes(routes!(read_marks::read_notification))
        .route_layer(timeout::short())
}
