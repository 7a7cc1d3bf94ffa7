//! Personas (contract 4.4). Generation runs in the worker; the frontend's calls still return
//! `{persona, message}` by waiting for the job (bounded), or get 202 + `Location` with
//! `Prefer: respond-async`. A friend's persona is visible to accepted friends only, and only
//! when public. The own persona is cached (1 h) and invalidated on every change, together with
//! the friends' lists that show it.

pub mod generate;
pub mod handlers;
pub mod types;

use axum::{
    Router,
    routing::{get, post, put},
};

pub use generate::{Outcome, run_job};

use crate::api::state::AppState;

/// Diaries needed before a persona can be generated from them.
pub const MIN_DIARIES: i64 = 7;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/personas/status", get(handlers::get_status))
        .route("/personas/me", get(handlers::get_my_persona).put(handlers::update_my_persona))
        .route("/personas/me/customize", put(handlers::customize_my_persona))
        .route("/personas/generate", post(generate::generate_persona))
        .route("/personas/regenerate", post(generate::regenerate_persona))
        .route("/personas/{user_id}", get(handlers::get_friend_persona))
}
