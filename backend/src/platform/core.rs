//! The connections every process builds from its settings alike (the API, the worker and the
//! operator commands): the database pools, Redis, the cache and the write log, plus the replica
//! monitor the read routing depends on.

use anyhow::Context as _;
use tokio::task::JoinHandle;

use crate::platform::{
    cache::CacheStore,
    db::{self, Db},
    redis::Redis,
    settings::Settings,
    writes::Writes,
};

pub struct Core {
    pub db: Db,
    pub redis: Redis,
    pub cache: CacheStore,
    pub writes: Writes,
}

impl Core {
    /// Builds the clients, takes one replica reading (so the first reads already route
    /// correctly) and starts the replica monitor; its handle is returned (dropping it leaves the
    /// monitor running).
    pub async fn start(settings: &Settings) -> anyhow::Result<(Self, JoinHandle<()>)> {
        // rustls needs one process-wide crypto provider (ring: no C toolchain needed to build it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = Db::new(settings).context("database pools")?;
        let redis = Redis::new(settings).context("redis client")?;
        let cache = CacheStore::new(redis.clone(), db.clone(), settings.cache_ttls.clone(), settings.cache_enabled);
        let writes = Writes::new(redis.clone(), cache.clone());
        db::replica::check(&db, settings).await;
        let monitor = tokio::spawn(db::replica::monitor(db.clone(), settings.clone()));
        Ok((Self { db, redis, cache, writes }, monitor))
    }
}
