//! Friends (contract 4.5): requests, answers, removal, the friend lists (plain and with personas)
//! and recommendations. One `friendships` row per pair whichever way it was asked, so a
//! re-request after a rejection reuses that row. Strangers' e-mail addresses are masked;
//! recommendations are bounded.

pub mod lists;
pub mod requests;
pub mod types;

use axum::{
    Router,
    routing::{delete, get, patch, post},
};

use crate::api::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/friends", get(lists::list_friends))
        .route("/friends/request", post(requests::send_request))
        .route("/friends/requests/received", get(requests::list_received))
        .route("/friends/requests/sent", get(requests::list_sent))
        .route("/friends/requests/{friendship_id}", patch(requests::respond_to_request))
        .route("/friends/with-persona", get(lists::list_friends_with_persona))
        .route("/friends/recommendations", get(lists::list_recommendations))
        .route("/friends/{friend_id}", delete(lists::delete_friend))
}
