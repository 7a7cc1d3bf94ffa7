//! Diaries: one per user per date, written within today-3..today (UTC), owner-scoped (contract
//! 4.3). Another user's diary is indistinguishable from a missing one (404).

pub mod access;
pub mod create;
pub mod handlers;
pub mod insights;
pub mod prompts;
pub mod search;
pub mod types;
pub mod weekly;

use utoipa_axum::{router::OpenApiRouter, routes};

/// New diaries' ids, reserved ahead (the application state holds one block).
pub use crate::data::diaries::id_block;
use crate::{api::state::AppState, platform::http::timeout};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_diaries, create::create_diary))
        .routes(routes!(handlers::count_diaries))
        .routes(routes!(search::search_diaries))
        .routes(routes!(access::get_access_log))
        .routes(routes!(insights::get_stats))
        .routes(routes!(insights::get_calendar))
        .routes(routes!(weekly::get_weekly_insight))
        .routes(routes!(prompts::get_prompt_suggestions))
        .routes(routes!(handlers::get_diary, handlers::update_diary, handlers::delete_diary))
        .route_layer(timeout::short())
}
