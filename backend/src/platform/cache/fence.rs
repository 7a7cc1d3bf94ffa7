//! The fence that makes the first level exact across instances for the session check.
//!
//! A write's invalidation is published before the write answers; a request that comes after it
//! (on any instance) must not be served from memory the invalidation has not reached yet. So a
//! reader that needs that guarantee waits for a *fence*: a message this instance publishes on the
//! invalidation channel after the reader arrived. Redis delivers a connection's messages in the
//! order it executed the publishes, and one task reads them in that order, so once the fence
//! comes back every invalidation published before it has been applied here.
//!
//! One fence is in flight at a time and covers every reader that arrived before it was sent;
//! readers arriving meanwhile wait for the next. Under load, one publish serves many requests
//! instead of a Redis read per request.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tokio::sync::{Notify, watch};

use crate::platform::{random, redis::Redis};

/// How long a reader waits for its fence before it reads Redis instead.
const FENCE_WAIT: Duration = Duration::from_millis(100);
/// Starts a fence's payload; keys never do (they start with the app's prefix).
const MARK: char = '\u{1}';

pub struct Fence {
    /// This instance's fences, among every instance's on the shared channel.
    prefix: String,
    /// The last fence sent (counted before its publish is issued).
    sent: AtomicU64,
    /// The newest fence a reader waits for.
    wanted: AtomicU64,
    /// The newest fence settled, and whether it came back (or was lost: not published, or not
    /// back within [`FENCE_WAIT`]). Fences settle in order, one at a time.
    settled: watch::Sender<(u64, bool)>,
    wake: Notify,
}

impl Default for Fence {
    fn default() -> Self {
        Self {
            prefix: format!("{MARK}{}:", random::token(8)),
            sent: AtomicU64::new(0),
            wanted: AtomicU64::new(0),
            settled: watch::Sender::new((0, true)),
            wake: Notify::new(),
        }
    }
}

impl Fence {
    /// Waits until every invalidation published before this call has been applied here; `false`
    /// when the fence was lost (after at most [`FENCE_WAIT`] and a Redis timeout).
    pub async fn pass(&self) -> bool {
        // A fence counted as sent may have been published before this reader came: the next one.
        let need = self.sent.load(Ordering::Acquire) + 1;
        self.wanted.fetch_max(need, Ordering::AcqRel);
        self.wake.notify_one();
        let mut settled = self.settled.subscribe();
        // A later fence settled instead counts only if it came back (it was sent after this one).
        matches!(settled.wait_for(|&(seq, _)| seq >= need).await.as_deref(), Ok(&(_, true)))
    }

    /// Whether `message` is a fence (any instance's); this instance's own settle as come back.
    pub fn heard(&self, message: &str) -> bool {
        if !message.starts_with(MARK) {
            return false;
        }
        if let Some(seq) = message.strip_prefix(&self.prefix).and_then(|seq| seq.parse::<u64>().ok()) {
            self.settle(seq, true);
        }
        true
    }

    fn settle(&self, seq: u64, back: bool) {
        self.settled.send_if_modified(|settled| {
            let newer = seq > settled.0;
            if newer {
                *settled = (seq, back);
            }
            newer
        });
    }

    /// Sends fences for as long as the process runs, one at a time, whenever a reader waits;
    /// settles each as lost when it is not back within [`FENCE_WAIT`].
    pub async fn run(&self, redis: Redis, channel: String) {
        let mut settled = self.settled.subscribe();
        loop {
            let woken = self.wake.notified();
            let sent = self.sent.load(Ordering::Acquire);
            if self.wanted.load(Ordering::Acquire) <= sent {
                woken.await;
                continue;
            }
            let seq = sent + 1;
            self.sent.store(seq, Ordering::Release);
            let back = redis.publish(&channel, &format!("{}{seq}", self.prefix)).await
                && tokio::time::timeout(FENCE_WAIT, settled.wait_for(|&(got, _)| got >= seq)).await.is_ok();
            if !back {
                self.settle(seq, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_instances_fences_count_and_keys_are_not_fences() {
        let (mine, other) = (Fence::default(), Fence::default());
        assert!(!mine.heard("dearme:v1:c:persona:1"));
        assert!(!mine.heard(""));
        assert!(mine.heard(&format!("{}7", other.prefix)), "another instance's fence is a fence");
        assert_eq!(*mine.settled.borrow(), (0, true), "but not this instance's");
        assert!(mine.heard(&format!("{}7", mine.prefix)));
        assert!(mine.heard(&format!("{}5", mine.prefix)));
        assert_eq!(*mine.settled.borrow(), (7, true), "never goes back");
    }

    #[tokio::test]
    async fn a_reader_waits_for_a_fence_sent_after_it_came() {
        let fence = Fence::default();
        fence.sent.store(3, Ordering::Release);
        fence.heard(&format!("{}3", fence.prefix));
        let reader = fence.pass();
        tokio::pin!(reader);
        assert!(futures_util::poll!(reader.as_mut()).is_pending(), "fence 3 may predate the reader");
        assert_eq!(fence.wanted.load(Ordering::Acquire), 4);
        fence.heard(&format!("{}4", fence.prefix));
        assert!(reader.await);
    }

    #[tokio::test]
    async fn a_lost_fence_lets_its_readers_go_unanswered() {
        let fence = Fence::default();
        let reader = fence.pass();
        tokio::pin!(reader);
        assert!(futures_util::poll!(reader.as_mut()).is_pending());
        fence.settle(1, false);
        assert!(!reader.await);
        // A reader of fence 2 whose fence was overtaken by a lost fence 3 does not pass either.
        fence.sent.store(1, Ordering::Release);
        let reader = fence.pass();
        tokio::pin!(reader);
        assert!(futures_util::poll!(reader.as_mut()).is_pending());
        fence.settle(3, false);
        assert!(!reader.await);
    }
}
