//! Users: the four `/users` endpoints, and the cached copy of a user that sessions read.

pub mod handlers;
mod types;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::state::AppState,
    data::users::User,
    platform::{http::timeout, redis::Redis},
};

/// The routes with their OpenAPI operations: each path, handler and document entry is written
/// once, on the handler (`#[utoipa::path]`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::get_me, handlers::update_me))
        .routes(routes!(handlers::search_users))
        .routes(routes!(handlers::get_user))
        .route_layer(timeout::short())
}

/// The Redis key of the user's cached row (read with the session, in one round trip). A change
/// to the row deletes it and then calls `Writes::committed`, whose announcement drops every
/// instance's in-process copy (kept with the user's last-write position).
pub fn cache_key(redis: &Redis, user_id: i64) -> String {
    redis.key(format_args!("user:{user_id}"))
}

/// Caches the user's row for as long as a session lives.
pub async fn cache_user(state: &AppState, user: &User) {
    if let Ok(json) = serde_json::to_string(user) {
        state.redis.set_ex(&cache_key(&state.redis, user.id), &json, state.settings.session_ttl).await;
    }
}
