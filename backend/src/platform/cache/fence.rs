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
    pin::pin,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tokio::sync::Notify;

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
    /// The newest fence settled, shifted left by one, with the low bit set when it came back (it
    /// was lost otherwise: not published, or not back within [`FENCE_WAIT`]). Fences settle in
    /// order, one at a time.
    settled: AtomicU64,
    /// Who waits for a fence, by the fence's parity. While fence `n` is in flight a reader needs
    /// `n` or `n + 1`, so settling `n` wakes only those that now pass: a reader is woken once.
    settling: [Notify; 2],
    /// Wakes the sender when a reader wants a fence.
    wake: Notify,
}

impl Default for Fence {
    fn default() -> Self {
        Self {
            prefix: format!("{MARK}{}:", random::token(8)),
            sent: AtomicU64::new(0),
            wanted: AtomicU64::new(0),
            settled: AtomicU64::new(1),
            settling: [Notify::new(), Notify::new()],
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
        // A later fence settled instead counts only if it came back (it was sent after this one).
        self.settled_at_least(need).await.1
    }

    /// The newest fence settled and whether it came back, once it is `seq` or later.
    async fn settled_at_least(&self, seq: u64) -> (u64, bool) {
        loop {
            let mut settling = pin!(self.settling[(seq % 2) as usize].notified());
            // Registered before the check: a settle between the check and the wait still wakes.
            settling.as_mut().enable();
            let settled = self.settled();
            if settled.0 >= seq {
                return settled;
            }
            settling.await;
        }
    }

    fn settled(&self) -> (u64, bool) {
        let settled = self.settled.load(Ordering::Acquire);
        (settled >> 1, settled & 1 == 1)
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
        let packed = seq << 1 | u64::from(back);
        let Ok(before) = self
            .settled
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |settled| (seq > settled >> 1).then_some(packed))
        else {
            return;
        };
        self.settling[(seq % 2) as usize].notify_waiters();
        // Fences settle one at a time; should one be skipped, its readers are woken too.
        if seq > (before >> 1) + 1 {
            self.settling[((seq + 1) % 2) as usize].notify_waiters();
        }
    }

    /// Sends fences for as long as the process runs, one at a time, whenever a reader waits;
    /// settles each as lost when it is not back within [`FENCE_WAIT`].
    pub async fn run(&self, redis: Redis, channel: String) {
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
                && tokio::time::timeout(FENCE_WAIT, self.settled_at_least(seq)).await.is_ok();
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
        assert_eq!(mine.settled(), (0, true), "but not this instance's");
        assert!(mine.heard(&format!("{}7", mine.prefix)));
        assert!(mine.heard(&format!("{}5", mine.prefix)));
        assert_eq!(mine.settled(), (7, true), "never goes back");
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

    #[test]
    fn settling_a_fence_wakes_only_the_readers_it_lets_pass() {
        struct Wakes(AtomicU64);
        impl std::task::Wake for Wakes {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, Ordering::AcqRel);
            }
        }
        let wakes = std::sync::Arc::new(Wakes(AtomicU64::new(0)));
        let waker = std::task::Waker::from(wakes.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let fence = Fence::default();
        fence.sent.store(1, Ordering::Release);
        let mut reader = pin!(fence.pass());
        assert!(reader.as_mut().poll(&mut cx).is_pending(), "it needs fence 2");
        fence.heard(&format!("{}1", fence.prefix));
        assert_eq!(wakes.0.load(Ordering::Acquire), 0, "fence 1 does not let it pass: not woken");
        fence.heard(&format!("{}2", fence.prefix));
        assert_eq!(wakes.0.load(Ordering::Acquire), 1);
        assert_eq!(reader.poll(&mut cx), std::task::Poll::Ready(true));
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
