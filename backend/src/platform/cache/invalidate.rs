//! Invalidation: after a write commits, the values it changed leave Redis and every instance's
//! first level (each told over one channel, this one at once).

use std::time::Duration;

use super::{CacheKey, CacheStore};
use crate::platform::db::Lsn;

impl CacheStore {
    /// Deletes values and their leases, after the write that changed them committed, and tells
    /// every instance's first level, in the same round trip.
    pub async fn invalidate(&self, keys: &[CacheKey]) {
        let (deleted, announced) = self.invalidation(keys);
        self.evict_here(&announced);
        self.0.redis.del_and_publish(&deleted, &self.0.channel, &announced.join("\n")).await;
        self.evict_here(&announced);
    }

    /// After a user's write committed at `lsn`: raises the user's last-write mark (`mark_key`,
    /// living `ttl`) to it, deletes the `changed` values and tells every instance's first level
    /// (the values and the mark), in one round trip and in that order.
    pub async fn written(&self, mark_key: &str, lsn: Lsn, ttl: Duration, changed: &[CacheKey]) {
        let (deleted, mut announced) = self.invalidation(changed);
        announced.push(mark_key.to_owned());
        self.evict_here(&announced);
        let message = announced.join("\n");
        self.0.redis.set_max_del_publish(mark_key, lsn.0, ttl, &deleted, &self.0.channel, &message).await;
        // Again once Redis has it: a read here that began before and saw the old state may have
        // kept it since the first eviction (its epoch check only sees the eviction after it).
        self.evict_here(&announced);
    }

    /// Tells every instance's first level that `redis_keys` (written in Redis just before) changed.
    pub async fn announce(&self, redis_keys: &[String]) {
        self.evict_here(redis_keys);
        self.0.redis.publish(&self.0.channel, &redis_keys.join("\n")).await;
        self.evict_here(redis_keys);
    }

    /// The Redis keys an invalidation of `keys` deletes (values and leases) and announces.
    fn invalidation(&self, keys: &[CacheKey]) -> (Vec<String>, Vec<String>) {
        let announced: Vec<String> = keys.iter().map(|key| self.redis_key(key)).collect();
        let deleted = announced.iter().flat_map(|k| [format!("{k}:lease"), k.clone()]).collect();
        (deleted, announced)
    }

    /// This instance's own first level at once; the others when the message reaches them.
    fn evict_here(&self, redis_keys: &[String]) {
        if let Some(local) = self.0.local.get() {
            local.evict(redis_keys);
        }
    }
}
