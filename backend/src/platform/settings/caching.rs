//! The caches' settings: Redis entries' time to live per family, and the first level each API
//! process keeps in front of Redis.

use std::time::Duration;

use super::check::Env;

/// The cached reads' time to live, by family.
#[derive(Clone, Debug)]
pub struct CacheTtls {
    pub persona: Duration,
    pub stats: Duration,
    pub friends: Duration,
}

impl Default for CacheTtls {
    fn default() -> Self {
        Self { persona: Duration::from_secs(3600), stats: Duration::from_secs(600), friends: Duration::from_secs(300) }
    }
}

impl CacheTtls {
    pub(super) fn read(env: &mut Env<'_>) -> Self {
        Self {
            persona: Duration::from_secs(env.parse_or("CACHE_TTL_PERSONA_SECS", 3600)),
            stats: Duration::from_secs(env.parse_or("CACHE_TTL_STATS_SECS", 600)),
            friends: Duration::from_secs(env.parse_or("CACHE_TTL_FRIENDS_SECS", 300)),
        }
    }
}

/// The first cache level in each API process: its size in bytes (0: none) and how long an
/// entry may live there at most.
#[derive(Clone, Debug)]
pub struct LocalCache {
    pub max_bytes: u64,
    pub ttl: Duration,
}

impl Default for LocalCache {
    fn default() -> Self {
        Self { max_bytes: 64 * 1024 * 1024, ttl: Duration::from_secs(60) }
    }
}

impl LocalCache {
    pub(super) fn read(env: &mut Env<'_>) -> Self {
        let default = Self::default();
        Self {
            max_bytes: env.parse_or("CACHE_LOCAL_MAX_BYTES", default.max_bytes),
            ttl: Duration::from_secs(env.parse_or("CACHE_LOCAL_TTL_SECS", default.ttl.as_secs())),
        }
    }
}
