//! Revocations this instance made but could not tombstone in Redis (a failed or timed-out
//! write). Until the tombstone lands, this instance refuses those sessions itself, and a
//! background task keeps writing the tombstone. Other instances trust their Redis session marker
//! at most [`MARKER_TTL`](super::session::MARKER_TTL) before they check Postgres, where the
//! revocation is recorded first; so a lost tombstone keeps a revoked session usable nowhere for
//! longer than that, and never on the instance that revoked it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Clone, Default)]
pub struct Revoked(Arc<Mutex<HashMap<String, Instant>>>);

impl Revoked {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers `session_id` as revoked for `ttl`.
    pub fn add(&self, session_id: &str, ttl: Duration) {
        let now = Instant::now();
        let mut map = self.map();
        map.retain(|_, until| *until > now);
        map.insert(session_id.to_owned(), now + ttl);
    }

    /// Forgets `session_id` (its tombstone is in Redis now).
    pub fn settled(&self, session_id: &str) {
        self.map().remove(session_id);
    }

    /// Whether this instance knows `session_id` is revoked. The common case (nothing pending)
    /// costs one uncontended lock.
    pub fn contains(&self, session_id: &str) -> bool {
        let map = self.map();
        !map.is_empty() && map.get(session_id).is_some_and(|until| *until > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_revocation_is_known_until_it_settles_or_expires() {
        let revoked = Revoked::default();
        assert!(!revoked.contains("a"));
        revoked.add("a", Duration::from_secs(60));
        revoked.add("b", Duration::ZERO);
        assert!(revoked.contains("a"));
        assert!(!revoked.contains("b"), "expired");
        revoked.settled("a");
        assert!(!revoked.contains("a"));
    }
}
