//! One Redis pub/sub connection per process, shared by every subscriber (each open chat stream),
//! instead of a connection per stream: thousands of open streams no longer exhaust Redis's
//! clients. A channel is subscribed on the shared connection when its first listener comes;
//! channels left without listeners are unsubscribed in a sweep that runs, like every subscribe,
//! under the connection's lock (so an unsubscribe can never overtake a new subscribe). A lost
//! connection ends every subscription (the chat relay then settles from Postgres), and the next
//! subscriber connects again.

use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures_util::{Stream, StreamExt};
use redis::{RedisError, RedisResult, aio::PubSubSink};
use tokio::sync::mpsc;

/// How often channels without listeners are unsubscribed.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

type Listeners = HashMap<String, Vec<(u64, mpsc::UnboundedSender<String>)>>;

pub struct Hub {
    client: redis::Client,
    timeout: Duration,
    connection: tokio::sync::Mutex<Connection>,
    listeners: Arc<Mutex<Listeners>>,
    next_id: AtomicU64,
}

/// The shared connection's command half and what it is subscribed to.
#[derive(Default)]
struct Connection {
    sink: Option<PubSubSink>,
    subscribed: HashSet<String>,
    swept: Option<Instant>,
}

fn lock(listeners: &Mutex<Listeners>) -> std::sync::MutexGuard<'_, Listeners> {
    listeners.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn io_error(what: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::Io, what))
}

impl Hub {
    pub fn new(client: redis::Client, timeout: Duration) -> Self {
        Self {
            client,
            timeout,
            connection: tokio::sync::Mutex::default(),
            listeners: Arc::default(),
            next_id: AtomicU64::new(0),
        }
    }

    /// The payloads published on `channel` from now on; `Err` when Redis cannot be reached.
    pub async fn subscribe(&self, channel: &str) -> RedisResult<Subscription> {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut conn = self.connection.lock().await;
        let bound = self.timeout * 4;
        if conn.sink.is_none() {
            *conn = Connection { sink: Some(self.connect(bound).await?), ..Connection::default() };
        }
        self.sweep(&mut conn, bound).await;
        lock(&self.listeners).entry(channel.to_owned()).or_default().push((id, tx));
        if !conn.subscribed.contains(channel) {
            let sink = conn.sink.as_mut().expect("connected above");
            if !matches!(tokio::time::timeout(bound, sink.subscribe(channel)).await, Ok(Ok(()))) {
                // The connection is unusable: forget it, ending every subscription on it.
                *conn = Connection::default();
                lock(&self.listeners).clear();
                return Err(io_error("pub/sub subscribe failed"));
            }
            conn.subscribed.insert(channel.to_owned());
        }
        metrics::gauge!("redis_pubsub_listeners").increment(1.0);
        Ok(Subscription { rx, channel: channel.to_owned(), id, listeners: self.listeners.clone() })
    }

    /// Unsubscribes the channels nobody listens to any more (at most every [`SWEEP_EVERY`]).
    async fn sweep(&self, conn: &mut Connection, bound: Duration) {
        if conn.swept.is_some_and(|t| t.elapsed() < SWEEP_EVERY) {
            return;
        }
        conn.swept = Some(Instant::now());
        let idle: Vec<String> = {
            let listeners = lock(&self.listeners);
            conn.subscribed.iter().filter(|c| !listeners.contains_key(*c)).cloned().collect()
        };
        if idle.is_empty() {
            return;
        }
        let sink = conn.sink.as_mut().expect("connected");
        if matches!(tokio::time::timeout(bound, sink.unsubscribe(&idle)).await, Ok(Ok(()))) {
            for channel in &idle {
                conn.subscribed.remove(channel);
            }
        }
    }

    /// A new shared connection, and the task that hands its messages to the listeners.
    async fn connect(&self, bound: Duration) -> RedisResult<PubSubSink> {
        let pubsub = tokio::time::timeout(bound, self.client.get_async_pubsub())
            .await
            .map_err(|_| io_error("pub/sub connect timed out"))??;
        metrics::counter!("redis_pubsub_connections_total").increment(1);
        let (sink, mut stream) = pubsub.split();
        let listeners = self.listeners.clone();
        tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                let Ok(payload) = message.get_payload::<String>() else { continue };
                if let Some(list) = lock(&listeners).get_mut(message.get_channel_name()) {
                    list.retain(|(_, tx)| tx.send(payload.clone()).is_ok());
                }
            }
            // The connection ended: every listener's stream ends with it.
            lock(&listeners).clear();
        });
        Ok(sink)
    }

    /// Channels subscribed on the shared connection right now (tests, metrics).
    pub async fn subscribed(&self) -> usize {
        self.connection.lock().await.subscribed.len()
    }
}

/// One listener's messages; dropping it stops listening.
pub struct Subscription {
    rx: mpsc::UnboundedReceiver<String>,
    channel: String,
    id: u64,
    listeners: Arc<Mutex<Listeners>>,
}

impl Stream for Subscription {
    type Item = String;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("redis_pubsub_listeners").decrement(1.0);
        let mut listeners = lock(&self.listeners);
        if let Some(list) = listeners.get_mut(&self.channel) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                listeners.remove(&self.channel);
            }
        }
    }
}
