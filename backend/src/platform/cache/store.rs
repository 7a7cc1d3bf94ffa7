//! The first level's store: quick_cache (S3-FIFO, sharded read locks, no per-read bookkeeping),
//! weighed in bytes, each entry with its own expiry (checked by [`super::Local`] on read).

use super::Entry;

/// The store of one process's first level.
pub type Store = quick_cache::sync::Cache<String, Held, Weigh, foldhash::fast::RandomState>;

/// The smallest shard: the store refuses an entry heavier than one shard.
const SHARD_MIN_BYTES: u64 = 1 << 20;

/// An entry as the level keeps it: until when (milliseconds from `Local::started`).
#[derive(Clone)]
pub struct Held {
    pub entry: Entry,
    pub until: u64,
}

/// Weighs each entry in bytes: its key, its JSON, a decoded copy (counted as about the size of
/// its JSON again) and the bookkeeping around them.
#[derive(Clone)]
pub struct Weigh;

impl quick_cache::Weighter<String, Held> for Weigh {
    fn weight(&self, key: &String, held: &Held) -> u64 {
        let json = held.entry.json.len();
        let decoded = if held.entry.decoded.is_some() { json + 64 } else { 0 };
        (key.len() + json + 96 + decoded) as u64
    }
}

/// A store of at most `max_bytes`. Its bytes are split into shards, at most 4 per core and each
/// at least [`SHARD_MIN_BYTES`] (one shard below that), so an entry as large as the biggest
/// cached value always fits.
pub fn new(max_bytes: u64) -> Store {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let shards = usize::try_from(max_bytes / SHARD_MIN_BYTES).unwrap_or(usize::MAX).clamp(1, 4 * cores);
    let options = quick_cache::OptionsBuilder::new()
        // An entry's weight is a few hundred bytes: the estimate only sizes the tables.
        .estimated_items_capacity(usize::try_from(max_bytes / 256).unwrap_or(usize::MAX).max(16))
        .weight_capacity(max_bytes)
        // A power of two at or below the count above (the store rounds up).
        .shards(1 << shards.ilog2())
        .build()
        .expect("a weight capacity is set");
    Store::with_options(options, Weigh, foldhash::fast::RandomState::default(), Default::default())
}
