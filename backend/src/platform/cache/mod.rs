//! Cache-aside over Redis, used by every cached read, with a first level in the API's own
//! process in front of it ([`local`]).
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
//! - **Two levels** (API instances): a hit in this process's [`Local`] costs no round trip;
//!   invalidations reach every instance over a Redis channel ([`invalidate`]), and without that
//!   channel the first level is not used. The session check, which carries the reader's last
//!   write, reads it after a fence ([`fence`]) that makes it exact across instances.

mod entry;
mod fence;
mod invalidate;
mod local;
mod store;

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

pub use entry::{CachedJson, Decoded, Entry};
pub use fence::LEASE as FENCE_LEASE;
pub use invalidate::answer_after_invalidations;
pub use local::{Local, Snapshot};

use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::OnceCell;

use crate::platform::{
    db::{Db, Lsn, Role},
    error::ApiResult,
    metrics::hot,
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
    /// The first page of the diary list (ten, newest first, unfiltered): the hottest read.
    DiaryPage,
}

impl Cache {
    pub const ALL: [Cache; 8] = [
        Self::Persona,
        Self::Stats,
        Self::Calendar,
        Self::WeeklyInsight,
        Self::DiaryCount,
        Self::Friends,
        Self::FriendsWithPersona,
        Self::DiaryPage,
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
            Self::DiaryPage => "diary_page",
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
            Cache::Stats | Cache::Calendar | Cache::WeeklyInsight | Cache::DiaryCount | Cache::DiaryPage => self.stats,
            Cache::Friends | Cache::FriendsWithPersona => self.friends,
        }
    }
}

/// How long a lease holder may take to recompute before another reader may try.
const LEASE: Duration = Duration::from_secs(3);
/// How long a reader waits for another instance's recomputation before computing itself.
const LEASE_WAIT: Duration = Duration::from_millis(500);

type Flight = Arc<OnceCell<Entry>>;

#[derive(Default)]
struct SingleFlight(Mutex<HashMap<String, Flight>>);

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
    /// The first level, once [`CacheStore::start_local`] ran (API instances only).
    local: OnceLock<Arc<Local>>,
    /// Where invalidations are published, for every instance's first level.
    channel: String,
}

impl CacheStore {
    /// `db`: whose replica's replay position stamps the values read there.
    pub fn new(redis: Redis, db: Db, ttls: CacheTtls, enabled: bool) -> Self {
        let channel = redis.key(format_args!("c:invalidated"));
        Self(Arc::new(StoreInner {
            redis,
            db,
            ttls,
            enabled,
            single_flight: SingleFlight::default(),
            local: OnceLock::new(),
            channel,
        }))
    }

    /// Puts a first level of at most `max_bytes`, entries living at most `ttl`, in front of
    /// Redis, and starts listening for invalidations (an API instance does this at start).
    pub fn start_local(&self, max_bytes: u64, ttl: Duration) {
        if !self.0.enabled || max_bytes == 0 {
            return;
        }
        let local = Local::new(max_bytes, ttl);
        if self.0.local.set(local.clone()).is_ok() {
            for gauge in ["cache_local_live", "cache_local_entries", "cache_local_bytes"] {
                metrics::gauge!(gauge).set(0.0);
            }
            tokio::spawn(local.listen(self.0.redis.clone(), self.0.channel.clone()));
        }
    }

    /// Whether this process's first level is in use (its invalidation channel is live).
    pub fn local_in_use(&self) -> bool {
        self.0.local.get().is_some_and(|local| local.snapshot().in_use())
    }

    /// Whether this process's first level holds `key` (tests, diagnostics).
    pub fn holds_locally(&self, key: &CacheKey) -> bool {
        self.0.local.get().is_some_and(|local| local.get(&self.redis_key(key)).is_some())
    }

    /// Evicts `key` from this process's first level only (tests that plant values in Redis).
    pub fn evict_local(&self, key: &CacheKey) {
        if let Some(local) = self.0.local.get() {
            local.evict([self.redis_key(key)]);
        }
    }

    fn redis_key(&self, key: &CacheKey) -> String {
        self.0.redis.key(format_args!("c:{}:{}", key.cache.name(), key.id))
    }

    /// Cache-aside read: the cached value, or `compute` (run once per key at a time) cached.
    pub async fn cached<T, F, Fut>(&self, key: &CacheKey, min_lsn: Option<Lsn>, compute: F) -> ApiResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Computed<T>>>,
    {
        if !self.0.enabled {
            return Ok(compute().await?.value);
        }
        let json = self.cached_json(key, min_lsn, compute).await?;
        Ok(serde_json::from_slice(&json.0).map_err(anyhow::Error::from)?)
    }

    /// [`CacheStore::cached`] as the value's JSON, for a handler that answers with it as it is:
    /// a hit is neither parsed nor written again.
    pub async fn cached_json<T, F, Fut>(
        &self,
        key: &CacheKey,
        min_lsn: Option<Lsn>,
        compute: F,
    ) -> ApiResult<CachedJson>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Computed<T>>>,
    {
        let name = key.cache.name();
        if !self.0.enabled {
            return Ok(CachedJson::of(&Box::pin(compute()).await?.value)?);
        }
        let redis_key = self.redis_key(key);
        let first = FirstLevel::new(self.0.local.get());
        if let Some(entry) = first.lookup(name, &redis_key, min_lsn) {
            hot::count("cache_requests_total", &[("cache", name), ("result", "hit")], 1);
            return Ok(CachedJson(entry.json));
        }
        // Boxed: the futures of Redis and of the computation stay out of a first-level hit's,
        // which every cached read builds and moves.
        Box::pin(self.below_first_level(key, &redis_key, &first, min_lsn, compute)).await
    }

    /// [`CacheStore::cached_json`] past a first-level miss: Redis, else the computation.
    async fn below_first_level<T, F, Fut>(
        &self,
        key: &CacheKey,
        redis_key: &str,
        first: &FirstLevel<'_>,
        min_lsn: Option<Lsn>,
        compute: F,
    ) -> ApiResult<CachedJson>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Computed<T>>>,
    {
        let name = key.cache.name();
        if let Some(entry) = self.cache_lookup(name, redis_key, min_lsn).await {
            hot::count("cache_requests_total", &[("cache", name), ("result", "hit")], 1);
            first.keep(redis_key, &entry);
            return Ok(CachedJson(entry.json));
        }
        hot::count("cache_requests_total", &[("cache", name), ("result", "miss")], 1);

        // One computation per key in this process; the others await its result.
        let flight = {
            let mut flights = self.0.single_flight.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            flights.entry(redis_key.to_owned()).or_default().clone()
        };
        let mut compute = Some(compute);
        let result = flight.get_or_try_init(|| self.recompute(key, redis_key, first, &mut compute)).await.cloned();
        self.0.single_flight.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(redis_key);
        let entry = result?;
        if let Some(compute) = compute.filter(|_| !entry.fresh_for(min_lsn)) {
            // A value someone else computed, older than this reader's own last write: drop it
            // and compute for this reader (routing sends it to a server that has the write).
            metrics::counter!("cache_requests_total", "cache" => name, "result" => "stale").increment(1);
            invalidate::without_answer_wait(self.invalidate(std::slice::from_ref(key))).await;
            return Ok(CachedJson::of(&compute().await?.value)?);
        }
        Ok(CachedJson(entry.json))
    }

    /// A miss: under a lease, computes the value and fills Redis (and the first level, when the
    /// fill landed); without the lease, waits for the holder's fill first.
    async fn recompute<T, F, Fut>(
        &self,
        key: &CacheKey,
        redis_key: &str,
        first: &FirstLevel<'_>,
        compute: &mut Option<F>,
    ) -> ApiResult<Entry>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Computed<T>>>,
    {
        let lease_key = format!("{redis_key}:lease");
        let token = random::token(8);
        let holds_lease = self.0.redis.set_nx_px(&lease_key, &token, LEASE).await;
        if holds_lease == Some(false)
            && let Some(entry) = self.wait_for_fill(redis_key).await.and_then(Entry::parse)
        {
            first.keep(redis_key, &entry);
            return Ok(entry);
        }
        let started = Instant::now();
        let computed = compute.take().expect("the initialiser runs once")().await?;
        metrics::histogram!("cache_recompute_duration_seconds", "cache" => key.cache.name())
            .record(started.elapsed().as_secs_f64());
        let entry = Entry::of(self.0.db.stamp(computed.role), &computed.value)?;
        if holds_lease == Some(true) {
            let ttl = jitter(self.0.ttls.of(key.cache));
            // Kept in this process only when it landed in Redis: a write since would have taken
            // the lease.
            if self.0.redis.fill_if_leased(redis_key, &lease_key, &token, &entry.envelope(), ttl).await {
                first.keep(redis_key, &entry);
            }
        }
        Ok(entry)
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

    /// The value in Redis, when it is there and fresh enough for this reader.
    async fn cache_lookup(&self, name: &'static str, redis_key: &str, min_lsn: Option<Lsn>) -> Option<Entry> {
        let raw = match self.0.redis.get(redis_key).await {
            Some(raw) => raw?,
            None => {
                metrics::counter!("cache_requests_total", "cache" => name, "result" => "error").increment(1);
                return None;
            }
        };
        Entry::parse(raw).filter(|entry| entry.fresh_for(min_lsn))
    }

    /// This process's first level for a read that is not a cached value (the session check), once
    /// every invalidation published before the call has been applied here; `None` when the level
    /// is not in use or that took too long.
    pub async fn local_fenced(&self) -> Option<&Arc<Local>> {
        let local = self.0.local.get()?;
        local.fenced().await.then_some(local)
    }
}

/// One read's view of the first level, taken before it looks anywhere else.
struct FirstLevel<'a> {
    local: Option<&'a Arc<Local>>,
    snapshot: Option<local::Snapshot>,
}

impl<'a> FirstLevel<'a> {
    fn new(local: Option<&'a Arc<Local>>) -> Self {
        Self { local, snapshot: local.map(|l| l.snapshot()) }
    }

    /// The value held here, fresh enough for this reader; each lookup counted by its result.
    fn lookup(&self, name: &'static str, redis_key: &str, min_lsn: Option<Lsn>) -> Option<Entry> {
        let local = self.local?;
        let found = local.get(redis_key).filter(|entry| entry.fresh_for(min_lsn));
        let result = match (&found, self.snapshot.is_some_and(|s| s.in_use())) {
            (Some(_), _) => "hit",
            (None, true) => "miss",
            (None, false) => "bypass",
        };
        hot::count("cache_local_requests_total", &[("cache", name), ("result", result)], 1);
        found
    }

    /// Keeps `entry`, read from Redis or filled there, unless something was invalidated since.
    fn keep(&self, redis_key: &str, entry: &Entry) {
        if let (Some(local), Some(snapshot)) = (self.local, self.snapshot) {
            local.insert(redis_key, entry, snapshot);
        }
    }
}

/// ±10 % so keys filled together do not all expire together.
fn jitter(ttl: Duration) -> Duration {
    let mut byte = [0u8; 1];
    getrandom::fill(&mut byte).expect("OS randomness");
    let factor = 0.9 + f64::from(byte[0]) / 255.0 * 0.2;
    ttl.mul_f64(factor)
}
