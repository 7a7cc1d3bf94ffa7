//! Subscriptions (contract 4.10): a mock upgrade (no payment provider yet; the table has room
//! for one), cancellation with a grace period until expiry, lazy expiry, and what the plan
//! allows (the limits themselves live in `data::subscriptions`).

pub mod budget;
pub mod handlers;
pub mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::state::AppState, platform::http::timeout};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::get_status))
        .routes(routes!(handlers::get_usage))
        .routes(routes!(handlers::list_plans))
        .routes(routes!(handlers::upgrade))
        .routes(routes!(handlers::cancel))
        .routes(routes!(handlers::get_mine))
        .route_layer(timeout::short())
}
