//! Subscriptions (contract 4.10): a mock upgrade (no payment provider yet; the table has room
//! for one), cancellation with a grace period until expiry, lazy expiry, and what the plan
//! allows (the limits themselves live in `data::subscriptions`).

pub mod handlers;
pub mod types;

use axum::{
    Router,
    routing::{get, post},
};

use crate::api::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/subscriptions/status", get(handlers::get_status))
        .route("/subscriptions/usage", get(handlers::get_usage))
        .route("/subscriptions/plans", get(handlers::list_plans))
        .route("/subscriptions/upgrade", post(handlers::upgrade))
        .route("/subscriptions/cancel", post(handlers::cancel))
        .route("/subscriptions/me", get(handlers::get_mine))
}
