//! Mental health views (contract 4.8) over the analyses the diary job writes: the latest analysis
//! with its feedback, the radar, the history, the negative-trend check, book picks and feedback on
//! demand. No request calls an LLM (section 8): until the job has stored an analysis' feedback,
//! `fallback_feedback` answers. The weekly and monthly reports live in `api::reports`.

pub mod analyses;
pub mod books;
mod types;

use axum::{
    Router,
    routing::{get, post},
};

pub use crate::data::mental::{MentalFeedback, fallback_feedback};
use analyses::{check_negative_trend, get_current_analysis, get_feedback, get_radar, list_history};
use books::list_book_recommendations;
pub use books::{Book, axis_books, status_books};

use crate::api::state::AppState;

const NO_ANALYSIS: &str = "No mental analysis found. Write a diary first.";
const ANALYSIS_NOT_FOUND: &str = "Mental analysis not found.";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mental/current", get(get_current_analysis))
        .route("/mental/radar", get(get_radar))
        .route("/mental/history", get(list_history))
        .route("/mental/check-negative-trend", get(check_negative_trend))
        // The report endpoints, `/mental/reports/weekly` and `/mental/reports/monthly`, are
        // `api::reports`'s.
        .route("/mental/book-recommendations", get(list_book_recommendations))
        .route("/mental/feedback", post(get_feedback))
}
