//! Weekly and monthly mental reports (contract 4.8). A report is per period; it is built by the
//! schedule at the period's end and on demand here, in the worker. A stored report is served
//! while it covers every analysis of the period; once a newer analysis exists, the next read
//! rebuilds it (the job key names the newest analysis time, so concurrent reads share one job).

pub mod handlers;
pub mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::state::AppState, platform::http::timeout};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    // Both wait for the report job.
    OpenApiRouter::new()
        .routes(routes!(handlers::get_weekly_report))
        .routes(routes!(handlers::get_monthly_report))
        .route_layer(timeout::waiting())
}
