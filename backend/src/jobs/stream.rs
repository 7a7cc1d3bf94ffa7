//! Reply streams between the worker and whichever API instance holds the client's connection.
//! Each event is appended to a Redis list (the replay log) and published on a channel; a reader
//! subscribes first, then replays the log, then follows the channel, skipping sequence numbers it
//! has seen. So a reader that attaches late, or on another instance, misses nothing, and a
//! reader never depends on which instance enqueued the job.

use std::{collections::VecDeque, time::Duration};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use crate::{data::chats::ChatMessage, platform::redis::Redis};

/// How long a finished stream's log is kept for late readers.
const LOG_TTL: Duration = Duration::from_secs(600);

/// An event of a reply stream (contract 4.6.1): `user_message`, `chunk`…, then `done` or `error`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The user's message, stored (sent by the API first, never published).
    UserMessage { message: ChatMessage },
    /// A piece of the reply's text, as the model streams it.
    Chunk { content: String },
    /// The stored reply: the stream's last event.
    Done { message: ChatMessage },
    /// Why there is no reply: the stream's last event.
    Error { content: String },
}

impl Event {
    /// Whether the stream ends with this event.
    pub fn ends_stream(&self) -> bool {
        matches!(self, Self::Done { .. } | Self::Error { .. })
    }

    /// The event as one line of JSON, with the keys of every object in alphabetical order: the
    /// encoding clients have always received (a `serde_json::Value` keeps its keys sorted).
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an event serializes: plain fields, string keys")
    }
}

fn channel(redis: &Redis, stream_id: i64) -> String {
    redis.key(format_args!("stream:{stream_id}"))
}

/// The worker's end of one stream: publishes events numbered from 1, in order (0 is the API's
/// `user_message` event, which only the API sends).
#[derive(Clone)]
pub struct Publisher {
    redis: Redis,
    stream_id: i64,
    next_seq: u64,
}

impl Publisher {
    pub fn new(redis: Redis, stream_id: i64) -> Self {
        Self { redis, stream_id, next_seq: 1 }
    }

    /// Publishes `event` as the stream's next one (best effort: Redis down loses it, and the
    /// reader then settles from Postgres).
    pub async fn publish(&mut self, event: &Event) {
        let mut value = event.to_value();
        value["seq"] = self.next_seq.into();
        self.next_seq += 1;
        let channel = channel(&self.redis, self.stream_id);
        self.redis.append_and_publish(&format!("{channel}:log"), &channel, &value.to_string(), LOG_TTL).await;
    }
}

/// A reader's view: events in order, each once.
pub struct Reader {
    next_seq: u64,
    backlog: VecDeque<(u64, Event)>,
    live: futures_util::stream::BoxStream<'static, String>,
}

impl Reader {
    /// Subscribes, then loads the log (skipping unreadable entries). `None` when Redis is
    /// unavailable.
    pub async fn open(redis: &Redis, stream_id: i64) -> Option<Self> {
        let channel = channel(redis, stream_id);
        let live = redis.subscribe(&channel).await?;
        let log = redis.lrange(&format!("{channel}:log")).await?;
        let backlog = log.iter().filter_map(|raw| decode(raw)).collect();
        Some(Self { next_seq: 0, backlog, live })
    }

    /// The next unseen event, waiting at most `idle` for it; `None` when none came in time, the
    /// subscription ended or a live event was unreadable.
    pub async fn next(&mut self, idle: Duration) -> Option<Event> {
        loop {
            let (seq, event) = match self.backlog.pop_front() {
                Some(numbered) => numbered,
                None => {
                    let raw = tokio::time::timeout(idle, self.live.next()).await.ok()??;
                    decode(&raw)?
                }
            };
            if seq >= self.next_seq {
                self.next_seq = seq + 1;
                return Some(event);
            }
        }
    }
}

/// A published event and its sequence number (0 when it has none).
fn decode(raw: &str) -> Option<(u64, Event)> {
    let value: serde_json::Value = serde_json::from_str(raw).ok()?;
    let seq = value["seq"].as_u64().unwrap_or(0);
    Some((seq, serde_json::from_value(value).ok()?))
}
