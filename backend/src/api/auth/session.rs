//! Server-side sessions and the `AuthUser` extractor.
//!
//! A request authenticates from this process's first cache level when it holds the session (no
//! round trip; exact across instances through the level's fence), else with one Redis round
//! trip: `MGET` of the session marker, the cached user and the user's last-write position (for
//! read-your-writes). A revocation is announced to every instance's first level. On a miss, or
//! with Redis down, the session is checked in Postgres (on the primary: a session is often
//! seconds old) and the cache refilled. Revoking writes a tombstone rather than deleting, and
//! refills use `SET NX` semantics through the tombstone check, so a refill racing a logout cannot
//! resurrect a session. A session held in the first level is trusted for at most its TTL
//! (`CACHE_LOCAL_TTL_SECS`) beyond the Redis marker it was read from.

use std::{
    borrow::Cow,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{extract::FromRequestParts, http::request::Parts};
use chrono::{DateTime, Utc};

use super::{
    jwt,
    verified::{self, Verified},
};
use crate::{
    api::{state::AppState, users},
    data::{sessions, users::User},
    platform::{
        cache::{Decoded, Entry, Local, Snapshot},
        db::{Executor, Lsn},
        error::{ApiError, ApiResult},
        metrics::hot,
    },
};

const VALID: &str = "1";
const REVOKED: &str = "revoked";
/// How long a "valid" session marker is trusted before Postgres is asked again: the bound on how
/// long a revoked session stays usable on another instance if its Redis tombstone was lost.
pub const MARKER_TTL: Duration = Duration::from_secs(300);

/// The authenticated caller.
pub struct AuthUser {
    /// Shared with this process's first level, which keeps it decoded.
    pub user: Arc<User>,
    pub session_id: String,
    /// The caller's last write; reads must see at least this.
    pub min_lsn: Option<Lsn>,
}

impl AuthUser {
    pub fn id(&self) -> i64 {
        self.user.id
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        const NOT_AUTHENTICATED: ApiError = ApiError::Unauthorized("Not authenticated");
        const INVALID: ApiError = ApiError::Unauthorized("Could not validate credentials");
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or(NOT_AUTHENTICATED)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or(NOT_AUTHENTICATED)?;
        let claims = verified::decode(token, &state.jwt, Utc::now().timestamp()).ok_or(INVALID)?;
        let user_id = claims.user_id;

        if state.revoked.contains(&claims.session_id) {
            return Err(INVALID);
        }
        // The user's own key is needed only on a first-level miss.
        let keys = [session_key(state, &claims.session_id), state.writes.lsn_key(user_id)];
        let Cached { marker, user, lsn } = cached(state, &keys, user_id).await;
        if marker.as_deref() == Some(REVOKED) {
            return Err(INVALID);
        }
        let user = match (marker, user) {
            (Some(_), Some(user)) => user,
            // Boxed, as the Redis read in `cached` is: the futures of a miss stay out of the
            // future every request builds and moves.
            _ => Box::pin(from_postgres(state, &claims, &keys[0])).await?.ok_or(INVALID)?,
        };
        if !user.is_active {
            return Err(ApiError::bad_request("Inactive user"));
        }
        let min_lsn = lsn.or_else(|| state.writes.local(user_id));
        crate::platform::activity::record(&state.redis, user_id);
        // The request's log lines (docs/logging.md) learn who is asking.
        crate::platform::telemetry::record_user(user_id);
        Ok(Self { user, session_id: claims.session_id, min_lsn })
    }
}

/// The session's user from Postgres (`None`: no such session, or revoked or expired), and the
/// session's marker and user put back in Redis.
async fn from_postgres(state: &AppState, claims: &Verified, marker_key: &str) -> ApiResult<Option<Arc<User>>> {
    let mut db = state.db.writer().await?;
    let Some(user) = sessions::user(&mut db, &claims.session_id, claims.user_id).await? else {
        return Ok(None);
    };
    let user = Arc::new(user);
    let ttl = Duration::from_secs(u64::try_from(claims.exp - Utc::now().timestamp()).unwrap_or(1));
    let ttl = ttl.min(state.settings.session_ttl).min(MARKER_TTL);
    state.redis.set_nx_ex(marker_key, VALID, ttl).await;
    users::cache_user(state, &user).await;
    Ok(Some(user))
}

/// Creates a session for `user_id` and returns its signed token.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn create(state: &AppState, db: &mut impl Executor, user_id: i64) -> ApiResult<String> {
    let session_id = super::random_token(16);
    let ttl = state.settings.session_ttl;
    let expires_at: DateTime<Utc> = Utc::now() + ttl;
    sessions::insert(db, &session_id, user_id, expires_at).await?;
    state.redis.set_ex(&session_key(state, &session_id), VALID, ttl.min(MARKER_TTL)).await;
    let claims = jwt::Claims {
        sub: user_id.to_string(),
        sid: session_id,
        iat: Utc::now().timestamp(),
        exp: expires_at.timestamp(),
    };
    Ok(jwt::encode(&claims, &state.jwt))
}

/// Revokes sessions in Postgres (the truth) and tombstones them in Redis.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn revoke(state: &AppState, db: &mut impl Executor, user_id: i64, only: Option<&str>) -> ApiResult<()> {
    for id in sessions::revoke(db, user_id, only).await? {
        let key = session_key(state, &id);
        if state.redis.set_ex(&key, REVOKED, state.settings.session_ttl).await {
            state.cache.announce(std::slice::from_ref(&key)).await;
        } else {
            // Never silently: this instance refuses the session itself, and the tombstone is
            // written as soon as Redis takes it (`revoked`).
            tracing::warn!(user_id, "session tombstone not written; refusing it locally and retrying");
            metrics::counter!("session_tombstone_retries_total").increment(1);
            state.revoked.add(&id, MARKER_TTL);
            tokio::spawn(tombstone_later(state.clone(), key, id));
        }
    }
    Ok(())
}

/// Writes a tombstone Redis refused, with backoff, for as long as a marker may live.
async fn tombstone_later(state: AppState, key: String, session_id: String) {
    let deadline = Instant::now() + MARKER_TTL;
    let mut wait = Duration::from_millis(200);
    while Instant::now() < deadline {
        tokio::time::sleep(wait).await;
        if state.redis.set_ex(&key, REVOKED, state.settings.session_ttl).await {
            state.cache.announce(std::slice::from_ref(&key)).await;
            state.revoked.settled(&session_id);
            return;
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// What Redis holds for a session: its marker, the cached user (when it is `user_id`'s) and the
/// user's last-write position.
struct Cached {
    marker: Option<Cow<'static, str>>,
    user: Option<Arc<User>>,
    lsn: Option<Lsn>,
}

/// The session's marker, user and last write (`keys`: the marker's and the last write's): from
/// this process's first level when it holds them (after the fence: every write answered before
/// this request has reached it), else from Redis in one `MGET`, kept here when the session is
/// valid (the user decoded, so a hit parses nothing).
async fn cached(state: &AppState, keys: &[String; 2], user_id: i64) -> Cached {
    // The first level with its snapshot, taken before looking: a fill from Redis is kept only if
    // nothing was invalidated since.
    let local = state.cache.local_fenced().await.map(|local| (local, local.snapshot()));
    // The user's row and last write are kept together, under the last-write key: every change to
    // the row is followed by `Writes::committed`, which announces that key.
    if let Some((local, _)) = local
        && let (Some(_), Some(held)) = (local.get(&keys[0]), local.get(&keys[1]))
        && let Some(user) =
            held.decoded.get::<User>().filter(|user| user.id == user_id).or_else(|| parse(&held.json, user_id))
    {
        hot::count("cache_local_requests_total", &[("cache", "session"), ("result", "hit")], 1);
        return Cached {
            marker: Some(Cow::Borrowed(VALID)),
            user: Some(user),
            lsn: (held.stamp > 0).then_some(Lsn(held.stamp)),
        };
    }
    let result = if local.is_some() { "miss" } else { "bypass" };
    hot::count("cache_local_requests_total", &[("cache", "session"), ("result", result)], 1);
    Box::pin(from_redis(state, local, keys, user_id)).await
}

/// `user_id`'s user from its cached JSON, if it is that user's.
fn parse(json: &[u8], user_id: i64) -> Option<Arc<User>> {
    serde_json::from_slice::<User>(json).ok().filter(|user| user.id == user_id).map(Arc::new)
}

/// [`cached`] from Redis, kept in the first level (`local`, with its snapshot from before the
/// lookup) when the session is valid.
async fn from_redis(
    state: &AppState,
    local: Option<(&Arc<Local>, Snapshot)>,
    keys: &[String; 2],
    user_id: i64,
) -> Cached {
    let keys = [keys[0].clone(), users::cache_key(&state.redis, user_id), keys[1].clone()];
    let Some([marker, user_json, lsn]) = state.redis.mget(&keys).await.and_then(|v| <[_; 3]>::try_from(v).ok()) else {
        return Cached { marker: None, user: None, lsn: None };
    };
    let lsn = lsn.and_then(|l| l.parse().ok()).map(Lsn);
    let user = user_json.as_deref().and_then(|json| parse(json.as_bytes(), user_id));
    if let (Some((local, snapshot)), Some(VALID), Some(json), Some(user)) = (local, marker.as_deref(), user_json, &user)
    {
        let valid = Entry { stamp: 0, json: VALID.into(), decoded: Decoded::default() };
        let held = Entry { stamp: lsn.map_or(0, |l| l.0), json: json.into(), decoded: Decoded::of(user.clone()) };
        local.insert_together(&[(&keys[0], &valid), (&keys[2], &held)], snapshot);
    }
    Cached { marker: marker.map(Cow::Owned), user, lsn }
}

fn session_key(state: &AppState, session_id: &str) -> String {
    state.redis.key(format_args!("sess:{session_id}"))
}
