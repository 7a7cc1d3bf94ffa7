//! Liveness and readiness. `/health` answers `{"status": "healthy"}`; `/health/ready` checks the
//! primary, the replica and Redis, and is 503 only when the primary (without which nothing
//! works) is down: a down replica or Redis degrades the service but does not stop it. It also
//! names the LLM provider in use (`llm_provider`).

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::{
    api::state::AppState,
    platform::db::{Executor, ReplicaHealth, replica},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/health/live", get(health)).route("/health/ready", get(ready))
}

/// Liveness: the process answers.
#[tracing::instrument(level = "debug", skip_all)]
async fn health() -> Json<Value> {
    Json(json!({ "status": "healthy" }))
}

/// Readiness: the primary, the replica (reachable, and in use for reads) and Redis.
#[tracing::instrument(level = "debug", skip_all)]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    replica::check(&state.db, &state.settings).await;
    let primary = match state.db.writer().await {
        Ok(mut conn) => conn.fetch_value::<i32>("select 1 as value", &[]).await.is_ok(),
        Err(_) => false,
    };
    let replicas = state.db.replicas();
    // The first replica in use (else the first) stands for "replica", the shape clients know;
    // "replicas" lists each.
    let shown = replicas.iter().find(|r| r.health.is_usable()).or(replicas.first()).map(|r| &r.health);
    let default = ReplicaHealth::default();
    let health = shown.unwrap_or(&default);
    let redis = state.redis.ping().await;
    let status = if primary { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let word = |ok: bool| if ok { "up" } else { "down" };
    (
        status,
        Json(json!({
            "status": if primary && health.is_usable() && redis { "ready" } else if primary { "degraded" } else { "unavailable" },
            "checks": {
                "primary": word(primary),
                "replica": {
                    "status": word(health.is_reachable()),
                    "in_use": health.is_usable(),
                    "lag_bytes": health.lag_bytes(),
                    "lag_seconds": health.lag().as_secs_f64(),
                },
                "replicas": replicas.iter().map(|r| json!({
                    "name": r.name,
                    "status": word(r.health.is_reachable()),
                    "in_use": r.health.is_usable(),
                    "lag_bytes": r.health.lag_bytes(),
                    "lag_seconds": r.health.lag().as_secs_f64(),
                })).collect::<Vec<_>>(),
                "redis": word(redis),
            },
            // Which LLM the settings call (`dev`: the development double's canned answers).
            "llm_provider": state.settings.llm.provider.as_str(),
        })),
    )
}
