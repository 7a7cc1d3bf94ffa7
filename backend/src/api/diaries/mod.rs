//! Diaries: one per user per date, written within today-3..today (UTC), owner-scoped (contract
//! 4.3). Another user's diary is indistinguishable from a missing one (404).

pub mod create;
pub mod handlers;
pub mod insights;
pub mod prompts;
pub mod types;
pub mod weekly;

use axum::{Router, routing::get};

use crate::api::state::AppState;
/// New diaries' ids, reserved ahead (the application state holds one block).
pub use crate::data::diaries::id_block;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/diaries", get(handlers::list_diaries).post(create::create_diary))
        .route("/diaries/count", get(handlers::count_diaries))
        .route("/diaries/stats", get(insights::get_stats))
        .route("/diaries/calendar", get(insights::get_calendar))
        .route("/diaries/weekly-insight", get(weekly::get_weekly_insight))
        .route("/diaries/prompt-suggestions", get(prompts::get_prompt_suggestions))
        .route(
            "/diaries/{diary_id}",
            get(handlers::get_diary).patch(handlers::update_diary).delete(handlers::delete_diary),
        )
}
