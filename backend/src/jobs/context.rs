//! What a running job has to work with: the database, Redis, the cache, the write log, the LLM
//! client and the settings. The worker builds it from the settings alone; jobs share nothing
//! with the HTTP side but the platform and data layers.

use anyhow::Context as _;
use tokio::task::JoinHandle;

use crate::{
    llm::Llm,
    platform::{
        cache::CacheStore,
        db::{self, Db},
        redis::Redis,
        settings::Settings,
        writes::Writes,
    },
};

pub struct Context {
    pub db: Db,
    pub redis: Redis,
    pub cache: CacheStore,
    /// Every job that writes for a user reports its commit here (read-your-writes and
    /// invalidation), as the API's writes do.
    pub writes: Writes,
    pub llm: Llm,
    pub settings: Settings,
}

impl Context {
    /// Connects everything a job needs, and starts the replica monitor that the database's read
    /// routing depends on (its handle is returned; dropping it leaves the monitor running).
    pub async fn build(settings: &Settings) -> anyhow::Result<(Self, JoinHandle<()>)> {
        // rustls needs one process-wide crypto provider (ring: no C toolchain needed to build it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = Db::new(settings).context("database pools")?;
        let redis = Redis::new(settings).context("redis client")?;
        let cache = CacheStore::new(redis.clone(), db.clone(), settings.cache_ttls.clone(), settings.cache_enabled);
        let writes = Writes::new(redis.clone(), cache.clone());
        let llm = Llm::new(settings.llm.clone()).context("LLM client")?;
        // One reading before taking jobs, so their first reads already route correctly.
        db::replica::check(&db, settings).await;
        let monitor = tokio::spawn(db::replica::monitor(db.clone(), settings.clone()));
        Ok((Self { db, redis, cache, writes, llm, settings: settings.clone() }, monitor))
    }
}
