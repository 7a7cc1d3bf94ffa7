//! The personality quiz (contract 4.9): five questions whose answers seed a temporary persona,
//! the persona's level, and level upgrades (3 diaries to `basic`, 7 to `complete`), all
//! generation running in the worker.

pub mod levels;
pub mod questions;
pub mod types;

use axum::{
    Router,
    routing::{get, post},
};

use crate::api::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/quiz/questions", get(questions::list_questions))
        .route("/quiz/submit", post(questions::submit_quiz))
        .route("/quiz/persona-level", get(levels::get_persona_level))
        .route("/quiz/upgrade-persona", post(levels::upgrade_persona))
}
