//! What a running job has to work with: the database, Redis, the cache, the write log, the LLM
//! client and the settings. The worker builds it from the settings alone; jobs share nothing
//! with the HTTP side but the platform and data layers.

use anyhow::Context as _;
use tokio::task::JoinHandle;

use crate::{
    llm::Llm,
    platform::{cache::CacheStore, core::Core, db::Db, redis::Redis, settings::Settings, writes::Writes},
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
        // First: it installs the TLS provider the LLM client needs.
        let (Core { db, redis, cache, writes }, monitor) = Core::start(settings).await?;
        let llm = Llm::new(settings.llm.clone()).context("LLM client")?;
        Ok((Self { db, redis, cache, writes, llm, settings: settings.clone() }, monitor))
    }
}
