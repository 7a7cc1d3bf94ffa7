//! Fixed-window rate limits on the auth endpoints, keyed by endpoint and real client address.
//! Counters live in Redis so every API instance shares them, and each instance counts in memory
//! too: a request is over the limit when either count is. While Redis is down or slow the limits
//! hold per instance, which is still a limit.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{
    api::state::AppState,
    platform::error::{ApiError, ApiResult},
    platform::http::client_ip::client_ip,
};

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct RateLimiter {
    local: Mutex<HashMap<String, (i64, Instant)>>,
}

impl RateLimiter {
    fn count_locally(&self, key: &str) -> i64 {
        let mut map = self.local.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if map.len() > 10_000 {
            map.retain(|_, (_, started)| now.duration_since(*started) < WINDOW);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
        entry.0
    }
}

/// The real client address (see `http::client_ip`); unknown only for in-process calls.
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(client_ip(parts, &state.settings.trusted_proxies)))
    }
}

/// Counts one request against `limit` per minute for this endpoint and client.
pub async fn check(state: &AppState, endpoint: &str, limit: i64, ip: &ClientIp) -> ApiResult<()> {
    if !state.settings.rate_limit_enabled {
        return Ok(());
    }
    let ip = ip.0.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let window = chrono::Utc::now().timestamp() / WINDOW.as_secs() as i64;
    let key = state.redis.key(format_args!("rl:{endpoint}:{ip}:{window}"));
    // Counted here too, always: a Redis call that times out under load (its count lost to the
    // shared one) must not reopen this instance's own budget.
    let local = state.rate_limiter.count_locally(&key);
    let count = state.redis.incr_window(&key, WINDOW).await.map_or(local, |shared| shared.max(local));
    if count > limit {
        metrics::counter!("http_rate_limited_total", "endpoint" => endpoint.to_owned()).increment(1);
        return Err(ApiError::too_many("Too many requests. Please try again later."));
    }
    Ok(())
}
