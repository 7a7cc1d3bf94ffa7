//! Personas (contract 4.4). Generation runs in the worker; the frontend's calls still return
//! `{persona, message}` by waiting for the job (bounded), or get 202 + `Location` with
//! `Prefer: respond-async`. A friend's persona is visible to accepted friends only, and only
//! when public. The own persona is cached (1 h) and invalidated on every change, together with
//! the friends' lists that show it.

pub mod generate;
pub mod handlers;
pub mod types;

pub use generate::{Outcome, run_job};

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::state::AppState, platform::http::timeout};

/// Diaries needed before a persona can be generated from them.
pub const MIN_DIARIES: i64 = 7;

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::get_status))
        .routes(routes!(handlers::get_my_persona, handlers::update_my_persona))
        .routes(routes!(handlers::customize_my_persona))
        .routes(routes!(handlers::get_friend_persona))
        .route_layer(timeout::short())
        // These wait for the persona job.
        .merge(
            OpenApiRouter::new()
                .routes(routes!(generate::generate_persona))
                .routes(routes!(generate::regenerate_persona))
                .route_layer(timeout::waiting()),
        )
}
