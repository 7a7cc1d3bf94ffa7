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
//!
//! Most readers do not wait at all: a fence that came back is a **lease** (not the fill leases
//! of [`super`]) for [`LEASE`] from when it was sent, and every write waits [`LEASE`] after
//! publishing its invalidation before it answers ([`super::invalidate`]). A reader within a lease
//! arrived after the write answered, so more than [`LEASE`] after the invalidation's publish, so
//! after the publish of the fence whose lease it holds: the invalidation came back before that
//! fence. Only durations are compared, each on one process's monotonic clock. While readers keep
//! coming the lease is renewed every [`RENEW_EVERY`]; a reader that finds it expired (idle, or a
//! fence slower than the lease) waits for a fence as above.

use std::{
    pin::pin,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use crate::platform::{metrics::hot, random, redis::Redis};

/// How long a reader waits for its fence before it reads Redis instead.
const FENCE_WAIT: Duration = Duration::from_millis(100);
/// How long a fence that came back lets readers pass without waiting, from when it was sent; and
/// how long every write waits after publishing its invalidation. At 10 ms a fifth of the readers
/// still waited under the bench's load (a fence's round trip on saturated cores takes
/// milliseconds); at 25 ms, 1 %.
pub const LEASE: Duration = Duration::from_millis(25);
/// How often the lease is renewed while readers come.
const RENEW_EVERY: Duration = Duration::from_micros(6250);
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
    /// Clock of `sent_at` and `lease_until`, in nanoseconds since this instant.
    born: Instant,
    /// When each fence was sent (before its publish was issued), by its parity: a late fence's
    /// check below never reads the time of the one sent after it.
    sent_at: [AtomicU64; 2],
    /// Until when readers pass without waiting.
    lease_until: AtomicU64,
    /// A reader passed on the lease since the last fence was sent: renew it.
    leased: AtomicBool,
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
            born: Instant::now(),
            sent_at: [AtomicU64::new(0), AtomicU64::new(0)],
            lease_until: AtomicU64::new(0),
            leased: AtomicBool::new(false),
        }
    }
}

impl Fence {
    /// Waits until every invalidation published before this call has been applied here; `false`
    /// when the fence was lost (after at most [`FENCE_WAIT`] and a Redis timeout).
    pub async fn pass(&self) -> bool {
        if self.now() < self.lease_until.load(Ordering::Acquire) {
            if !self.leased.load(Ordering::Relaxed) {
                self.leased.store(true, Ordering::Relaxed);
                self.wake.notify_one();
            }
            hot::count("cache_local_fence_total", &[("result", "lease")], 1);
            return true;
        }
        // A fence counted as sent may have been published before this reader came: the next one.
        let need = self.sent.load(Ordering::Acquire) + 1;
        self.wanted.fetch_max(need, Ordering::AcqRel);
        self.wake.notify_one();
        // A later fence settled instead counts only if it came back (it was sent after this one).
        let back = self.settled_at_least(need).await.1;
        hot::count("cache_local_fence_total", &[("result", if back { "waited" } else { "lost" })], 1);
        back
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

    fn now(&self) -> u64 {
        self.born.elapsed().as_nanos() as u64
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
        // Only the fence in flight grants a lease (one settled as lost may still come back
        // while the next is being sent): checked before and after reading its time, which is
        // written before the fence counts as sent (sequentially consistent, both sides).
        if back && seq == self.sent.load(Ordering::SeqCst) {
            let sent_at = self.sent_at[(seq % 2) as usize].load(Ordering::SeqCst);
            if seq == self.sent.load(Ordering::SeqCst) {
                // Before the readers are woken: they pass, and so may the next ones, at once.
                self.lease_until.fetch_max(sent_at + LEASE.as_nanos() as u64, Ordering::AcqRel);
            }
        }
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

    /// Sends fences for as long as the process runs, one at a time: at once when a reader waits,
    /// every [`RENEW_EVERY`] while readers pass on the lease; settles each as lost when it is not
    /// back within [`FENCE_WAIT`].
    pub async fn run(&self, redis: Redis, channel: String) {
        let mut last_sent = Instant::now();
        loop {
            let woken = self.wake.notified();
            let sent = self.sent.load(Ordering::Acquire);
            if self.wanted.load(Ordering::Acquire) <= sent {
                if !self.leased.load(Ordering::Relaxed) {
                    woken.await;
                    continue;
                }
                // Only renewing: paced, unless a reader starts waiting meanwhile (a wake-up left
                // by a reader passing on the lease while the last fence was out is not one).
                tokio::select! {
                    () = tokio::time::sleep_until((last_sent + RENEW_EVERY).into()) => {}
                    () = woken => if self.wanted.load(Ordering::Acquire) <= sent {
                        continue;
                    }
                }
            }
            let seq = sent + 1;
            self.leased.store(false, Ordering::Relaxed);
            last_sent = Instant::now();
            self.sent_at[(seq % 2) as usize].store(self.now(), Ordering::SeqCst);
            self.sent.store(seq, Ordering::SeqCst);
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
        fence.lease_until.store(0, Ordering::Release); // Its lease over.
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

    #[test]
    fn a_fence_back_lets_readers_pass_at_once_until_its_lease_ends() {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let fence = Fence::default();
        fence.sent_at[1].store(fence.now(), Ordering::Release);
        fence.sent.store(1, Ordering::Release);
        fence.heard(&format!("{}1", fence.prefix));
        assert_eq!(pin!(fence.pass()).poll(&mut cx), std::task::Poll::Ready(true), "within the lease");
        assert!(fence.leased.load(Ordering::Relaxed), "a reader on the lease has it renewed");
        std::thread::sleep(LEASE);
        assert!(pin!(fence.pass()).poll(&mut cx).is_pending(), "past it, a reader waits for a fence");
    }

    #[test]
    fn only_the_fence_in_flight_coming_back_grants_a_lease() {
        let fence = Fence::default();
        // Fence 1 was settled as lost (not back in time); fence 2 is in flight.
        fence.sent.store(2, Ordering::Release);
        fence.heard(&format!("{}1", fence.prefix));
        assert_eq!(fence.lease_until.load(Ordering::Acquire), 0, "fence 1 came back too late");
        fence.settle(2, false);
        assert_eq!(fence.lease_until.load(Ordering::Acquire), 0, "a lost fence grants none");
        fence.sent.store(3, Ordering::Release);
        fence.heard(&format!("{}3", fence.prefix));
        assert!(fence.lease_until.load(Ordering::Acquire) > 0);
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
