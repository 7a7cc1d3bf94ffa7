//! Read-your-writes and cache invalidation in one call, which every write path makes after its
//! commit: [`Writes::committed`] records the primary's WAL position as the user's last write (in
//! this process and in Redis, so the user's next reads on any instance wait for a replica that
//! has it, or go to the primary), deletes the cached values the write changed and tells every
//! instance's first level, which drops its copies of both (one Redis round trip).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::platform::{
    cache::{CacheKey, CacheStore},
    db::{self, Conn, Lsn},
    redis::Redis,
};

/// How long a write steers its author's reads: past this, the replica has either replayed it or
/// been taken out of rotation for lagging (`REPLICA_MAX_LAG_MS` is far shorter).
pub const RECENT_WRITE_TTL: Duration = Duration::from_secs(300);

/// The write side of read-your-writes. Cheap to clone.
#[derive(Clone)]
pub struct Writes(Arc<Inner>);

struct Inner {
    redis: Redis,
    cache: CacheStore,
    recent: RecentWrites,
}

impl Writes {
    pub fn new(redis: Redis, cache: CacheStore) -> Self {
        Self(Arc::new(Inner { redis, cache, recent: RecentWrites::default() }))
    }

    /// After `user_id`'s write committed on `conn` (the primary): remember its position and
    /// invalidate `changed`. The one call every write path makes.
    pub async fn committed(&self, conn: &mut Conn, user_id: i64, changed: &[CacheKey]) -> db::Result<()> {
        let lsn = conn.wal_position().await?;
        self.0.recent.put(user_id, lsn);
        self.0.cache.written(&self.lsn_key(user_id), lsn, RECENT_WRITE_TTL, changed).await;
        Ok(())
    }

    /// The Redis key holding `user_id`'s last write position (read with the session, in one
    /// round trip).
    pub fn lsn_key(&self, user_id: i64) -> String {
        self.0.redis.key(format_args!("lsn:{user_id}"))
    }

    /// `user_id`'s last write as this process saw it, for when Redis did not answer.
    pub fn local(&self, user_id: i64) -> Option<Lsn> {
        self.0.recent.get(user_id)
    }
}

/// Each user's last write position, kept in-process as well as in Redis, so read-your-writes
/// still holds on this instance while Redis is down.
#[derive(Default)]
struct RecentWrites(Mutex<HashMap<i64, (Lsn, Instant)>>);

impl RecentWrites {
    fn put(&self, user_id: i64, lsn: Lsn) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (_, at)| now.duration_since(*at) < RECENT_WRITE_TTL);
        }
        let entry = map.entry(user_id).or_insert((lsn, now));
        *entry = (entry.0.max(lsn), now);
    }

    fn get(&self, user_id: i64) -> Option<Lsn> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&user_id).filter(|(_, at)| at.elapsed() < RECENT_WRITE_TTL).map(|(lsn, _)| *lsn)
    }
}
