//! The first level: cached values kept in this process, in front of Redis, for the API's reads.
//!
//! - **Bounded**: a quick_cache store weighed in bytes (`CACHE_LOCAL_MAX_BYTES`, evicting by
//!   its S3-FIFO policy; [`super::store`]), each entry living at most `CACHE_LOCAL_TTL_SECS`
//!   (at least half of it, at random, so that keys filled together do not expire together); it
//!   holds the same stamped envelopes Redis holds, so a reader whose last write is newer than an
//!   entry's stamp skips it (read-your-writes, exactly as in Redis).
//! - **Coherent across instances**: every invalidation (any instance's, any worker's) deletes the
//!   Redis keys and publishes them on one channel, in one pipeline; each API instance listens
//!   on that channel and evicts them here.
//! - **Never trusting a channel it may have missed**: entries are used only while the channel is
//!   subscribed and its heartbeat (a ping each instance publishes every second) has come back
//!   within [`STALE_AFTER`]. Losing it empties this level and bypasses it until it is back.
//! - **Exact across instances where it must be**: a reader that needs every write answered
//!   before it came (the session check, which carries the last-write position) first passes a
//!   fence through the same channel, mostly on a fence lease without waiting ([`super::fence`]).
//! - **No stale fill**: a value read from Redis (or computed and filled) is kept only if no
//!   invalidation of its key arrived since the read began (epochs: each key's last invalidation
//!   is remembered for [`REMEMBER`]; an older read is dropped), so a fill racing a write's
//!   eviction cannot outlive it, while writes to other keys do not stop fills.

use std::{
    collections::{HashMap, VecDeque},
    hash::BuildHasher,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;

use super::{
    Entry,
    fence::Fence,
    store::{self, Held, Store},
};
use crate::platform::redis::Redis;

/// How often each instance pings the channel.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Past this without any message (pings included), the channel is presumed lost.
const STALE_AFTER: Duration = Duration::from_secs(3);
/// The ping's payload: not a key (keys are never empty).
const PING: &str = "";
/// Every this many pings, entries past their TTL are swept out (a read drops one it meets):
/// the size gauges count live entries, within that delay.
const SWEEP_EVERY: u64 = 10;
/// How long each key's last invalidation is remembered (in pings): a fill whose read began
/// longer ago is dropped, whatever it read.
const REMEMBER: usize = 5;

/// The first-level cache of one process.
pub struct Local {
    entries: Store,
    /// How long an entry lives, in milliseconds (`Held::until` counts from `started`).
    ttl_ms: u64,
    /// Bumped by every invalidation received and every loss of the channel.
    epoch: AtomicU64,
    invalidated: Mutex<Invalidated>,
    /// The channel is subscribed.
    subscribed: AtomicBool,
    /// When the last message (of any kind) came, as milliseconds since `started`.
    last_message: AtomicU64,
    started: Instant,
    fence: Fence,
}

/// What a reader saw before reading the next level: the epoch, if this level was in use.
#[derive(Clone, Copy)]
pub struct Snapshot(Option<u64>);

impl Snapshot {
    pub fn in_use(self) -> bool {
        self.0.is_some()
    }
}

impl Local {
    pub fn new(max_bytes: u64, ttl: Duration) -> Arc<Self> {
        let entries = store::new(max_bytes);
        Arc::new(Self {
            entries,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
            epoch: AtomicU64::new(0),
            invalidated: Mutex::default(),
            subscribed: AtomicBool::new(false),
            last_message: AtomicU64::new(0),
            started: Instant::now(),
            fence: Fence::default(),
        })
    }

    /// Whether entries may be used: subscribed, and a message came recently.
    fn live(&self) -> bool {
        self.live_at(self.now_ms())
    }

    fn live_at(&self, now_ms: u64) -> bool {
        let since = now_ms.saturating_sub(self.last_message.load(Ordering::Acquire));
        self.subscribed.load(Ordering::Acquire) && Duration::from_millis(since) < STALE_AFTER
    }

    /// Milliseconds since this level started.
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Taken before reading Redis or computing: an insert is kept only if nothing was
    /// invalidated since.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.live().then(|| self.epoch.load(Ordering::Acquire)))
    }

    /// Once every invalidation published before the call has been applied here (see [`Fence`]):
    /// `false` when this level is not in use or the fence did not come back in time (a channel
    /// lost meanwhile leaves the level bypassed: `get` and `insert` check it).
    pub async fn fenced(&self) -> bool {
        self.live() && self.fence.pass().await
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        let now = self.now_ms();
        if !self.live_at(now) {
            return None;
        }
        let held = self.entries.get(key)?;
        if held.until <= now {
            self.entries.remove_if(key, |held| held.until <= now);
            return None;
        }
        Some(held.entry)
    }

    /// Keeps `entry` for `key` unless an invalidation of it (or a loss of the channel) came since
    /// `snapshot`.
    pub fn insert(&self, key: &str, entry: &Entry, snapshot: Snapshot) {
        self.insert_together(&[(key, entry)], snapshot);
    }

    /// [`Local::insert`] for entries that are only of use together (a session's marker and its
    /// user): they get one lifetime, so one does not expire while the other is held.
    pub fn insert_together(&self, entries: &[(&str, &Entry)], snapshot: Snapshot) {
        let Snapshot(Some(seen)) = snapshot else { return };
        if !self.live() {
            return;
        }
        let until = self.now_ms().saturating_add(self.lifetime_ms());
        for &(key, entry) in entries {
            if self.lock().since(key, seen) {
                continue;
            }
            self.entries.insert(key.to_owned(), Held { entry: entry.clone(), until });
            // An invalidation that slipped in between the check and the insert evicts it again.
            if self.lock().since(key, seen) {
                self.entries.remove(key);
            }
        }
    }

    /// How long an entry filled now lives: somewhere between half the TTL and the whole of it,
    /// at random. Keys filled together (a warm-up, a restart, a burst of logins) would otherwise
    /// expire together, and since each is filled again on its next read, they would keep
    /// expiring together, every TTL, as a burst of reads on Redis.
    fn lifetime_ms(&self) -> u64 {
        // A new `RandomState` has new keys (per thread, bumped on each call): a cheap, unseeded
        // draw, without a system call. Uniform enough for spreading expiries.
        let draw = std::hash::RandomState::new().hash_one(self.ttl_ms);
        let half = self.ttl_ms / 2;
        half + draw % (self.ttl_ms - half + 1)
    }

    /// Evicts `keys` (an invalidation message, or a test).
    pub fn evict(&self, keys: impl IntoIterator<Item = impl AsRef<str>>) {
        let keys: Vec<_> = keys.into_iter().collect();
        {
            let mut invalidated = self.lock();
            let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
            for key in &keys {
                invalidated.mark(key.as_ref(), epoch);
            }
        }
        for key in &keys {
            self.entries.remove(key.as_ref());
        }
    }

    fn lost(&self) {
        self.subscribed.store(false, Ordering::Release);
        {
            let mut invalidated = self.lock();
            let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
            *invalidated = Invalidated { forgotten_below: epoch, ..Invalidated::default() };
        }
        self.entries.clear();
        metrics::gauge!("cache_local_live").set(0.0);
    }

    /// Drops the entries past their TTL.
    fn sweep(&self) {
        let now = self.now_ms();
        self.entries.retain(|_, held| held.until > now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Invalidated> {
        self.invalidated.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn heard(&self) {
        self.last_message.store(self.started.elapsed().as_millis() as u64, Ordering::Release);
    }

    /// Publishes a ping on `channel` every [`PING_EVERY`] (every instance's listener hears it),
    /// and reports this level's size.
    async fn ping(self: Arc<Self>, redis: Redis, channel: String) {
        let mut tick = tokio::time::interval(PING_EVERY);
        for pings in 0u64.. {
            tick.tick().await;
            redis.publish(&channel, PING).await;
            let epoch = self.epoch.load(Ordering::Acquire);
            self.lock().tick(epoch);
            if pings % SWEEP_EVERY == 0 {
                self.sweep();
            }
            metrics::gauge!("cache_local_entries").set(self.entries.len() as f64);
            metrics::gauge!("cache_local_bytes").set(self.entries.weight() as f64);
        }
    }

    /// Listens on `channel` for as long as the process runs: evicts what each message names,
    /// and re-subscribes (with this level emptied meanwhile) when the subscription ends.
    pub async fn listen(self: Arc<Self>, redis: Redis, channel: String) {
        tokio::spawn(self.clone().ping(redis.clone(), channel.clone()));
        let (fences, fence_redis, fence_channel) = (self.clone(), redis.clone(), channel.clone());
        tokio::spawn(async move { fences.fence.run(fence_redis, fence_channel).await });
        loop {
            if let Some(mut messages) = redis.subscribe(&channel).await {
                // Anything inserted before this point was dropped when the channel was lost.
                self.epoch.fetch_add(1, Ordering::AcqRel);
                self.subscribed.store(true, Ordering::Release);
                metrics::gauge!("cache_local_live").set(1.0);
                while let Some(message) = messages.next().await {
                    self.heard();
                    if message != PING && !self.fence.heard(&message) {
                        self.evict(message.split('\n'));
                    }
                }
                tracing::warn!("cache invalidation channel lost: the local cache is bypassed until it is back");
            }
            self.lost();
            tokio::time::sleep(PING_EVERY).await;
        }
    }
}

/// Each key's last invalidation (its key's hash: a collision only drops a fill), for the last
/// [`REMEMBER`] pings.
#[derive(Default)]
struct Invalidated {
    by_key: HashMap<u64, u64>,
    hasher: std::hash::RandomState,
    /// The epoch at each of the last pings, oldest first.
    ticks: VecDeque<u64>,
    /// Reads that began before this epoch cannot be checked any more: dropped.
    forgotten_below: u64,
}

impl Invalidated {
    fn mark(&mut self, key: &str, epoch: u64) {
        self.by_key.insert(self.hasher.hash_one(key), epoch);
    }

    /// Whether `key` was invalidated after a read that began at `seen` (or cannot be told).
    fn since(&self, key: &str, seen: u64) -> bool {
        seen < self.forgotten_below || self.by_key.get(&self.hasher.hash_one(key)).is_some_and(|&at| at > seen)
    }

    /// A ping went by at `epoch`: forgets what is older than [`REMEMBER`] pings.
    fn tick(&mut self, epoch: u64) {
        self.ticks.push_back(epoch);
        if self.ticks.len() > REMEMBER {
            let horizon = self.ticks.pop_front().unwrap_or(0);
            self.by_key.retain(|_, at| *at > horizon);
            self.forgotten_below = self.forgotten_below.max(horizon);
        }
    }
}

#[cfg(test)]
mod tests;
