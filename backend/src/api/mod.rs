//! The HTTP API: one module per resource, each with its `router()`, merged here so the whole
//! route table reads in one place.

use utoipa_axum::router::OpenApiRouter;

use state::AppState;

pub mod auth;
pub mod chats;
pub mod diaries;
pub mod friends;
pub mod health;
pub mod jobs;
pub mod mental;
pub mod notifications;
pub mod openapi_extras;
pub mod personas;
pub mod quiz;
pub mod reports;
pub mod state;
pub mod subscriptions;
pub mod users;

/// Every resource's routes and their OpenAPI operations (paths are absolute: `/api/v1/..`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(diaries::router())
        .merge(friends::router())
        .merge(subscriptions::router())
        .merge(personas::router())
        .merge(quiz::router())
        .merge(chats::router())
        .merge(jobs::router())
        .merge(reports::router())
        .merge(notifications::router())
        .merge(mental::router())
}
