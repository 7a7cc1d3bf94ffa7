//! How many reply streams each user holds open on this API instance: at most
//! [`MAX_PER_USER`], so one user cannot hold thousands of connections (and the database polls
//! that back a stream while Redis is away). Above it, a new stream is refused with 429 before
//! anything is stored or enqueued.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::platform::error::ApiError;

/// Open streams per user and API instance (tabs, a re-attach while the old one times out).
pub const MAX_PER_USER: usize = 5;

#[derive(Clone, Default)]
pub struct OpenStreams(Arc<Mutex<HashMap<i64, usize>>>);

impl OpenStreams {
    /// A slot for one more stream of `user_id`, held until dropped; 429 when they hold the most.
    pub fn open(&self, user_id: i64) -> Result<StreamSlot, ApiError> {
        let mut open = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(user_id).or_default();
        if *count >= MAX_PER_USER {
            metrics::counter!("chat_streams_refused_total").increment(1);
            return Err(ApiError::too_many("Too many requests. Please try again later."));
        }
        *count += 1;
        Ok(StreamSlot { streams: self.clone(), user_id })
    }
}

/// One open stream; dropping it (the stream ended, or its client left) frees the slot.
pub struct StreamSlot {
    streams: OpenStreams,
    user_id: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_cap_and_a_closed_stream_frees_its_slot() {
        let streams = OpenStreams::default();
        let mut held: Vec<StreamSlot> = (0..MAX_PER_USER).map(|_| streams.open(1).unwrap()).collect();
        assert!(matches!(streams.open(1), Err(ApiError::TooManyRequests(_))));
        assert!(streams.open(2).is_ok(), "other users are not affected");
        held.pop();
        assert!(streams.open(1).is_ok());
    }
}
