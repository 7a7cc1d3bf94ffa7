//! Reply streams between the worker and whichever API instance holds the client's connection.
//! Each event is appended to a Redis list (the replay log) and published on a channel; a reader
//! subscribes first, then replays the log, then follows the channel, skipping sequence numbers it
//! has seen. So a reader that attaches late, or on another instance, misses nothing, and a
//! reader never depends on which instance enqueued the job.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::platform::redis::Redis;

/// How long a finished stream's log is kept for late readers.
const LOG_TTL: Duration = Duration::from_secs(600);

pub fn channel(redis: &Redis, stream_id: i64) -> String {
    redis.key(format_args!("stream:{stream_id}"))
}

/// Publishes event number `seq` (worker side).
pub async fn publish(redis: &Redis, stream_id: i64, seq: u64, mut event: Value) {
    event["seq"] = json!(seq);
    let channel = channel(redis, stream_id);
    redis.append_and_publish(&format!("{channel}:log"), &channel, &event.to_string(), LOG_TTL).await;
}

/// A reader's view: events in order, each once.
pub struct Reader {
    next_seq: u64,
    backlog: std::collections::VecDeque<Value>,
    live: Option<futures_util::stream::BoxStream<'static, String>>,
}

impl Reader {
    /// Subscribes, then loads the log. `None` when Redis is unavailable.
    pub async fn open(redis: &Redis, stream_id: i64) -> Option<Self> {
        let channel = channel(redis, stream_id);
        let live = redis.subscribe(&channel).await?;
        let log = redis.lrange(&format!("{channel}:log")).await?;
        let backlog = log.iter().filter_map(|e| serde_json::from_str(e).ok()).collect();
        Some(Self { next_seq: 0, backlog, live: Some(live) })
    }

    /// The next unseen event, waiting at most `idle` for it.
    pub async fn next(&mut self, idle: Duration) -> Option<Value> {
        loop {
            let event = match self.backlog.pop_front() {
                Some(event) => event,
                None => {
                    let live = self.live.as_mut()?;
                    let raw = tokio::time::timeout(idle, live.next()).await.ok()??;
                    serde_json::from_str(&raw).ok()?
                }
            };
            let seq = event["seq"].as_u64().unwrap_or(0);
            if seq >= self.next_seq {
                self.next_seq = seq + 1;
                return Some(event);
            }
        }
    }
}
