//! Friends (contract 4.5): requests, answers, removal, the friend lists (plain and with personas)
//! and recommendations. One `friendships` row per pair whichever way it was asked, so a
//! re-request after a rejection reuses that row. Strangers' e-mail addresses are masked;
//! recommendations are bounded.

pub mod lists;
pub mod requests;
pub mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::state::AppState, platform::http::timeout};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(lists::list_friends))
        .routes(routes!(requests::send_request))
        .routes(routes!(requests::list_received))
        .routes(routes!(requests::list_sent))
        .routes(routes!(requests::respond_to_request))
        .routes(routes!(lists::list_friends_with_persona))
        .routes(routes!(lists::list_recommendations))
        .routes(routes!(lists::delete_friend))
        .route_layer(timeout::short())
}
