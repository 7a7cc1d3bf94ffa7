//! The personality quiz (contract 4.9): five questions whose answers seed a temporary persona,
//! the persona's level, and level upgrades (3 diaries to `basic`, 7 to `complete`), all
//! generation running in the worker.

pub mod levels;
pub mod questions;
pub mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::state::AppState;

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(questions::list_questions))
        .routes(routes!(questions::submit_quiz))
        .routes(routes!(levels::get_persona_level))
        .routes(routes!(levels::upgrade_persona))
}
