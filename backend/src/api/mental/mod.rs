//! Mental health views (contract 4.8) over the analyses the diary job writes: the latest analysis
//! with its feedback, the radar, the history, the negative-trend check, book picks and feedback on
//! demand. No request calls an LLM (section 8): until the job has stored an analysis' feedback,
//! `fallback_feedback` answers. The weekly and monthly reports live in `api::reports`.

pub mod analyses;
pub mod books;
mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use crate::data::mental::{MentalFeedback, fallback_feedback};
pub use books::{Book, axis_books, status_books};

use crate::{api::state::AppState, platform::http::timeout};

const NO_ANALYSIS: &str = "No mental analysis found. Write a diary first.";
const ANALYSIS_NOT_FOUND: &str = "Mental analysis not found.";

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(analyses::get_current_analysis))
        .routes(routes!(analyses::get_radar))
        .routes(routes!(analyses::list_history))
        .routes(routes!(analyses::check_negative_trend))
        .routes(routes!(books::list_book_recommendations))
        .routes(routes!(analyses::get_feedback))
        .route_layer(timeout::short())
}
