//! The personality quiz (contract 4.9): five questions whose answers seed a temporary persona,
//! the persona's level, and level upgrades (3 diaries to `basic`, 7 to `complete`), all
//! generation running in the worker.

pub mod levels;
pub mod questions;
pub mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::state::AppState, platform::http::timeout};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(questions::list_questions))
        .routes(routes!(levels::get_persona_level))
        .route_layer(timeout::short())
        // These wait for the persona job.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(questions::submit_quiz))
                .routes(routes!(levels::upgrade_persona))
                .route_layer(timeout::waiting()),
        )
}
