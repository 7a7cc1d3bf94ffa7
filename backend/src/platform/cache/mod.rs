//! Cache-aside over Redis, used by every cached read.
//!
//! - **Typed keys** (`CacheKey`) under the app's versioned prefix; JSON values; TTLs from settings,
//!   with ±10 % jitter so keys filled together do not expire together.
//! - **Leases** (Facebook's memcache paper): a miss takes a short lease (`SET NX PX`); only the
//!   lease holder recomputes and fills, and the fill succeeds only if the lease still stands.
//!   Invalidation deletes value *and* lease, so a fill computed before a write committed can
//!   never land after that write's invalidation. The lease also makes other instances wait for
//!   the one recomputation instead of stampeding the database.
//! - **Single flight** inside the process: concurrent misses on one key share one computation.
//! - **Read-your-writes**: a value is stamped with the WAL position its snapshot is known to
//!   include; a reader whose last write is newer treats it as a miss and recomputes (on the
//!   primary, via the normal routing).
//! - **Redis down or slow**: every call degrades to computing from Postgres (bounded by the Redis
//!   timeout and back-off in `crate::platform::redis`).

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::OnceCell;

use crate::platform::{
    db::{Db, Lsn, Role},
    error::ApiResult,
    random,
    redis::Redis,
    settings::CacheTtls,
};

/// The caches, each with its own TTL and metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    Persona,
    Stats,
    Calendar,
    WeeklyInsight,
    DiaryCount,
    Friends,
    FriendsWithPersona,
}

impl Cache {
    pub const ALL: [Cache; 7] = [
        Self::Persona,
        Self::Stats,
        Self::Calendar,
        Self::WeeklyInsight,
        Self::DiaryCount,
        Self::Friends,
        Self::FriendsWithPersona,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Persona => "persona",
            Self::Stats => "stats",
            Self::Calendar => "calendar",
            Self::WeeklyInsight => "weekly_insight",
            Self::DiaryCount => "diary_count",
            Self::Friends => "friends",
            Self::FriendsWithPersona => "friends_with_persona",
        }
    }
}

/// A cache key: which cache, and the rest of the key (usually the user id).
#[derive(Clone, Debug)]
pub struct CacheKey {
    pub cache: Cache,
    pub id: String,
}

impl CacheKey {
    pub fn new(cache: Cache, id: impl std::fmt::Display) -> Self {
        Self { cache, id: id.to_string() }
    }
}

trait TtlOf {
    fn of(&self, cache: Cache) -> Duration;
}

impl TtlOf for CacheTtls {
    fn of(&self, cache: Cache) -> Duration {
        match cache {
            Cache::Persona => self.persona,
            Cache::Stats | Cache::Calendar | Cache::WeeklyInsight | Cache::DiaryCount => self.stats,
            Cache::Friends | Cache::FriendsWithPersona => self.friends,
        }
    }
}

/// How long a lease holder may take to recompute before another reader may try.
const LEASE: Duration = Duration::from_secs(3);
/// How long a reader waits for another instance's recomputation before computing itself.
const LEASE_WAIT: Duration = Duration::from_millis(500);

type Flight = Arc<OnceCell<String>>;

#[derive(Default)]
struct SingleFlight(Mutex<HashMap<String, Flight>>);

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope<T> {
    /// The WAL position the value is known to include (`u64::MAX`: read from the primary).
    l: u64,
    v: T,
}

/// The value that computing produced and the role it was read from.
pub struct Computed<T> {
    pub value: T,
    pub role: Role,
}

/// The cache-aside store: Redis, this process's single flights and the TTLs. Cheap to clone.
#[derive(Clone)]
pub struct CacheStore(Arc<StoreInner>);

struct StoreInner {
    redis: Redis,
    db: Db,
    ttls: CacheTtls,
    enabled: bool,
    single_flight: SingleFlight,
}

impl CacheStore {
    /// `db`: whose replica's replay position stamps the values read there.
    pub fn new(redis: Redis, db: Db, ttls: CacheTtls, enabled: bool) -> Self {
        Self(Arc::new(StoreInner { redis, db, ttls, enabled, single_flight: SingleFlight::default() }))
    }

    /// Cache-aside read: the cached value, or `compute` (run once per key at a time) cached.
    pub async fn cached<T, F, Fut>(&self, key: &CacheKey, min_lsn: Option<Lsn>, compute: F) -> ApiResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Computed<T>>>,
    {
        let name = key.cache.name();
        if !self.0.enabled {
            return Ok(compute().await?.value);
        }
        let redis_key = self.0.redis.key(format_args!("c:{name}:{}", key.id));
        let lease_key = format!("{redis_key}:lease");
        if let Some(value) = self.cache_lookup::<T>(name, &redis_key, min_lsn).await {
            metrics::counter!("cache_requests_total", "cache" => name, "result" => "hit").increment(1);
            return Ok(value);
        }
        metrics::counter!("cache_requests_total", "cache" => name, "result" => "miss").increment(1);

        // One computation per key in this process; the others await its result.
        let flight = {
            let mut flights = self.0.single_flight.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            flights.entry(redis_key.clone()).or_default().clone()
        };
        let mut compute = Some(compute);
        let result = flight
            .get_or_try_init(|| async {
                let token = random::token(8);
                let holds_lease = self.0.redis.set_nx_px(&lease_key, &token, LEASE).await;
                if holds_lease == Some(false)
                    && let Some(raw) = self.wait_for_fill(&redis_key).await
                {
                    return Ok(raw);
                }
                let started = Instant::now();
                let computed = compute.take().expect("the initialiser runs once")().await?;
                metrics::histogram!("cache_recompute_duration_seconds", "cache" => name)
                    .record(started.elapsed().as_secs_f64());
                let raw = self.encode(&computed)?;
                if holds_lease == Some(true) {
                    let ttl = jitter(self.0.ttls.of(key.cache));
                    self.0.redis.fill_if_leased(&redis_key, &lease_key, &token, &raw, ttl).await;
                }
                Ok::<_, crate::platform::error::ApiError>(raw)
            })
            .await
            .cloned();
        self.0.single_flight.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&redis_key);
        let raw = result?;
        let envelope: Envelope<T> = serde_json::from_str(&raw).map_err(anyhow::Error::from)?;
        if let Some(compute) = compute.filter(|_| min_lsn.is_some_and(|lsn| envelope.l < lsn.0)) {
            // A value someone else computed, older than this reader's own last write: drop it
            // and compute for this reader (routing sends it to a server that has the write).
            metrics::counter!("cache_requests_total", "cache" => name, "result" => "stale").increment(1);
            self.invalidate(std::slice::from_ref(key)).await;
            return Ok(compute().await?.value);
        }
        Ok(envelope.v)
    }

    /// Another instance holds the lease and is recomputing: its fill, if it lands in time.
    async fn wait_for_fill(&self, redis_key: &str) -> Option<String> {
        let deadline = Instant::now() + LEASE_WAIT;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(raw) = self.0.redis.get(redis_key).await.flatten() {
                return Some(raw);
            }
        }
        None
    }

    /// A computed value in its envelope, stamped with the WAL position its read is known to
    /// include (everything, when read on the primary).
    fn encode<T: Serialize>(&self, computed: &Computed<T>) -> ApiResult<String> {
        let stamp = self.0.db.stamp(computed.role);
        Ok(serde_json::to_string(&Envelope { l: stamp, v: &computed.value }).map_err(anyhow::Error::from)?)
    }

    async fn cache_lookup<T: DeserializeOwned>(
        &self,
        name: &'static str,
        redis_key: &str,
        min_lsn: Option<Lsn>,
    ) -> Option<T> {
        let raw = match self.0.redis.get(redis_key).await {
            Some(raw) => raw?,
            None => {
                metrics::counter!("cache_requests_total", "cache" => name, "result" => "error").increment(1);
                return None;
            }
        };
        let envelope: Envelope<T> = serde_json::from_str(&raw).ok()?;
        if min_lsn.is_some_and(|lsn| envelope.l < lsn.0) {
            return None;
        }
        Some(envelope.v)
    }

    /// Deletes values and their leases, after the write that changed them committed.
    pub async fn invalidate(&self, keys: &[CacheKey]) {
        let mut redis_keys = Vec::with_capacity(keys.len() * 2);
        for key in keys {
            let k = self.0.redis.key(format_args!("c:{}:{}", key.cache.name(), key.id));
            redis_keys.push(format!("{k}:lease"));
            redis_keys.push(k);
        }
        self.0.redis.del(&redis_keys).await;
    }
}

/// ±10 % so keys filled together do not all expire together.
fn jitter(ttl: Duration) -> Duration {
    let mut byte = [0u8; 1];
    getrandom::fill(&mut byte).expect("OS randomness");
    let factor = 0.9 + f64::from(byte[0]) / 255.0 * 0.2;
    ttl.mul_f64(factor)
}
