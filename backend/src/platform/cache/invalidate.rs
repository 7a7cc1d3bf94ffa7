//! Invalidation: after a write commits, the values it changed leave Redis and every instance's
//! first level (each told over one channel, this one at once). The write answers a whole fence
//! lease after its invalidation was published ([`super::fence`]).

use std::{cell::Cell, time::Duration};

use tokio::time::Instant;

use super::{CacheKey, CacheStore, fence};
use crate::platform::db::Lsn;

tokio::task_local! {
    /// When the request running in this scope may answer: a fence lease after the last
    /// invalidation it published.
    static ANSWER_AFTER: Cell<Option<Instant>>;
}

/// Runs a request's handler, then holds its answer until a whole fence lease has passed since the
/// last invalidation it published: its database connections are back in their pools meanwhile.
/// Invalidations outside such a scope (a job, a response's stream) wait where they are.
pub async fn answer_after_invalidations<F: Future>(handler: F) -> F::Output {
    ANSWER_AFTER
        .scope(Cell::new(None), async {
            let output = handler.await;
            if let Some(until) = ANSWER_AFTER.with(Cell::get) {
                tokio::time::sleep_until(until).await;
            }
            output
        })
        .await
}

/// Runs `invalidating` without holding anyone's answer: for a cleanup that is not a write (a
/// cached value found older than its reader's own write).
pub(super) async fn without_answer_wait<F: Future>(invalidating: F) -> F::Output {
    ANSWER_AFTER.scope(Cell::new(None), invalidating).await
}

/// What the writer waits beyond the lease: the two sides count it on different clocks.
const CLOCK_MARGIN: Duration = Duration::from_millis(1);

/// Once an invalidation was published: this request answers (or, outside a request, this call
/// returns) a fence lease later.
async fn wait_out_fence_lease() {
    let until = Instant::now() + fence::LEASE + CLOCK_MARGIN;
    if ANSWER_AFTER.try_with(|after| after.set(Some(until))).is_err() {
        tokio::time::sleep_until(until).await;
    }
}

impl CacheStore {
    /// Deletes values and their leases, after the write that changed them committed, and tells
    /// every instance's first level, in the same round trip.
    pub async fn invalidate(&self, keys: &[CacheKey]) {
        let (deleted, announced) = self.invalidation(keys);
        let message = announced.join("\n");
        self.evicting(&announced, self.0.redis.del_and_publish(&deleted, &self.0.channel, &message)).await;
    }

    /// After a user's write committed at `lsn`: raises the user's last-write mark (`mark_key`,
    /// living `ttl`) to it, deletes the `changed` values and tells every instance's first level
    /// (the values and the mark), in one round trip and in that order.
    pub async fn written(&self, mark_key: &str, lsn: Lsn, ttl: Duration, changed: &[CacheKey]) {
        let (deleted, mut announced) = self.invalidation(changed);
        announced.push(mark_key.to_owned());
        let message = announced.join("\n");
        let redis = &self.0.redis;
        self.evicting(&announced, redis.set_max_del_publish(mark_key, lsn.0, ttl, &deleted, &self.0.channel, &message))
            .await;
    }

    /// Tells every instance's first level that `redis_keys` (written in Redis just before) changed.
    pub async fn announce(&self, redis_keys: &[String]) {
        let message = redis_keys.join("\n");
        self.evicting(redis_keys, self.0.redis.publish(&self.0.channel, &message)).await;
    }

    /// Runs `publishing` (the Redis side of an invalidation of `redis_keys`) with this instance's
    /// own first level evicted at once, and again once Redis has it: a read here that began
    /// before and saw the old state may have kept it since the first eviction. Then the answer
    /// waits out the fence lease, so that every instance's readers that come after it hold a lease
    /// taken after the publish; also when the publish failed, counted from the failure (a publish
    /// that times out here and runs in Redis later than that is not covered; nor is a handler
    /// dropped while publishing, by its time limit or a panic).
    async fn evicting(&self, redis_keys: &[String], publishing: impl Future<Output = bool>) {
        let local = self.0.local.get();
        if let Some(local) = local {
            local.evict(redis_keys);
        }
        publishing.await;
        if let Some(local) = local {
            local.evict(redis_keys);
        }
        wait_out_fence_lease().await;
    }

    /// The Redis keys an invalidation of `keys` deletes (values and leases) and announces.
    fn invalidation(&self, keys: &[CacheKey]) -> (Vec<String>, Vec<String>) {
        let announced: Vec<String> = keys.iter().map(|key| self.redis_key(key)).collect();
        let deleted = announced.iter().flat_map(|k| [format!("{k}:lease"), k.clone()]).collect();
        (deleted, announced)
    }
}
