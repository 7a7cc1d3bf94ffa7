//! Redis access that never takes the service down: every command is bounded by a timeout, and
//! after a failure Redis is skipped for a short back-off, so requests fall back to Postgres at
//! full speed instead of each waiting for a dead server. The connection is made lazily and
//! re-made after failures, so the API also starts while Redis is down.
//!
//! Every key is prefixed (`dearme:v1:` by default): a version for cache-format changes and a
//! namespace per app (tests give each app its own).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use redis::{AsyncCommands, aio::ConnectionManager, aio::ConnectionManagerConfig};

use crate::platform::settings::Settings;

/// Raises `KEYS[1]` to `ARGV[1]` unless it holds more, and (re)sets its TTL to `ARGV[2]` seconds.
const SET_MAX: &str = "local cur = tonumber(redis.call('GET', KEYS[1]) or '0') \
                       if tonumber(ARGV[1]) > cur then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) \
                       else redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 1";

/// How long Redis is skipped after a failed command.
const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// The one pub/sub connection of the process.
    hub: super::pubsub::Hub,
    prefix: String,
    timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    conn: Option<ConnectionManager>,
    down_until: Option<Instant>,
}

impl Redis {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Self {
            inner: Arc::new(Inner {
                client: redis::Client::open(settings.redis_url.expose())?,
                hub: super::pubsub::Hub::new(redis::Client::open(settings.redis_url.expose())?, settings.redis_timeout),
                prefix: settings.redis_prefix.clone(),
                timeout: settings.redis_timeout,
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// `<prefix>:<parts>`, in one allocation (`format!` guesses small and grows: on every
    /// request's session keys).
    pub fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        use std::fmt::Write;
        let mut key = String::with_capacity(self.inner.prefix.len() + 1 + 48);
        key.push_str(&self.inner.prefix);
        key.push(':');
        key.write_fmt(parts).expect("a String takes any text");
        key
    }

    /// The connection, or `None` while Redis is backing off.
    async fn conn(&self) -> Option<ConnectionManager> {
        {
            let state = self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if state.down_until.is_some_and(|t| Instant::now() < t) {
                return None;
            }
            if let Some(conn) = &state.conn {
                return Some(conn.clone());
            }
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.inner.timeout))
            .set_response_timeout(Some(self.inner.timeout))
            .set_number_of_retries(1);
        match tokio::time::timeout(self.inner.timeout * 4, self.inner.client.get_connection_manager_with_config(config))
            .await
        {
            Ok(Ok(conn)) => {
                self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).conn = Some(conn.clone());
                Some(conn)
            }
            Ok(Err(err)) => {
                self.failed(&err.to_string());
                None
            }
            Err(_) => {
                self.failed("connect timed out");
                None
            }
        }
    }

    fn failed(&self, why: &str) {
        tracing::warn!(why, "redis unavailable; falling back to postgres for {BACKOFF:?}");
        metrics::counter!("redis_errors_total").increment(1);
        let mut state = self.inner.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.down_until = Some(Instant::now() + BACKOFF);
        state.conn = None;
    }

    /// Runs one command with the timeout; `None` when Redis is down, slow or failing.
    async fn run<T, F, Fut>(&self, command: &'static str, f: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.conn().await?;
        let started = Instant::now();
        let result = tokio::time::timeout(self.inner.timeout, f(conn)).await;
        metrics::histogram!("redis_command_duration_seconds", "command" => command)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.failed(&err.to_string());
                None
            }
            Err(_) => {
                self.failed("command timed out");
                None
            }
        }
    }

    pub async fn mget(&self, keys: &[String]) -> Option<Vec<Option<String>>> {
        let keys = keys.to_vec();
        self.run("mget", |mut c| async move { redis::cmd("MGET").arg(&keys).query_async(&mut c).await }).await
    }

    pub async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> bool {
        let secs = ttl.as_secs().max(1);
        self.run("set", |mut c| async move { c.set_ex::<_, _, ()>(key, value, secs).await }).await.is_some()
    }

    /// `None` when Redis is unavailable; `Some(None)` when the key is absent.
    pub async fn get(&self, key: &str) -> Option<Option<String>> {
        self.run("get", |mut c| async move { c.get::<_, Option<String>>(key).await }).await
    }

    /// A lease: `Some(true)` if taken, `Some(false)` if someone holds it, `None` if Redis is down.
    pub async fn set_nx_px(&self, key: &str, token: &str, ttl: Duration) -> Option<bool> {
        self.set_nx(key, token, "PX", u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)).await
    }

    /// Stores `value` only while `lease_key` still holds `token`, then releases the lease.
    pub async fn fill_if_leased(&self, key: &str, lease_key: &str, token: &str, value: &str, ttl: Duration) -> bool {
        const SCRIPT: &str = "if redis.call('GET', KEYS[2]) == ARGV[1] then \
                                redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) redis.call('DEL', KEYS[2]) return 1 \
                              end return 0";
        let secs = ttl.as_secs().max(1);
        self.run("fill", |mut c| async move {
            redis::Script::new(SCRIPT)
                .key(key)
                .key(lease_key)
                .arg(token)
                .arg(value)
                .arg(secs)
                .invoke_async::<i64>(&mut c)
                .await
        })
        .await
            == Some(1)
    }

    /// Sets a key only if it does not exist (a refill must not overwrite a tombstone).
    pub async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> bool {
        self.set_nx(key, value, "EX", ttl.as_secs().max(1)).await.is_some()
    }

    /// `SET key value NX <unit> <amount>`: whether it was set, `None` if Redis is down.
    async fn set_nx(&self, key: &str, value: &str, unit: &'static str, amount: u64) -> Option<bool> {
        self.run("set", |mut c| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("NX")
                .arg(unit)
                .arg(amount)
                .query_async::<Option<String>>(&mut c)
                .await
        })
        .await
        .map(|reply| reply.is_some())
    }

    /// Raises `key` to `value` unless it holds more (a monotonic high-water mark, living `ttl`),
    /// then deletes `keys` and publishes `payload` on `channel`: one round trip, in that order.
    pub async fn set_max_del_publish(
        &self,
        key: &str,
        value: u64,
        ttl: Duration,
        keys: &[String],
        channel: &str,
        payload: &str,
    ) -> bool {
        let secs = ttl.as_secs().max(1);
        let keys = keys.to_vec();
        self.run("set_max", |mut c| async move {
            let mut pipe = redis::pipe();
            // EVAL rather than EVALSHA: nothing to reload after a Redis restart.
            pipe.cmd("EVAL").arg(SET_MAX).arg(1).arg(key).arg(value).arg(secs).ignore();
            if !keys.is_empty() {
                pipe.del(&keys).ignore();
            }
            pipe.publish(channel, payload).ignore().query_async::<()>(&mut c).await
        })
        .await
        .is_some()
    }

    /// Adds `member` to the HyperLogLog `key` (a distinct count), which expires `ttl` later.
    pub async fn pfadd_ex(&self, key: &str, member: &str, ttl: Duration) -> bool {
        let secs = ttl.as_secs().max(1) as i64;
        self.run("pfadd", |mut c| async move {
            redis::pipe().pfadd(key, member).ignore().expire(key, secs).ignore().query_async::<()>(&mut c).await
        })
        .await
        .is_some()
    }

    /// The distinct count of the HyperLogLog `key` (0 when there is none).
    pub async fn pfcount(&self, key: &str) -> Option<u64> {
        self.run("pfcount", |mut c| async move { c.pfcount::<_, u64>(key).await }).await
    }

    pub async fn del(&self, keys: &[String]) -> bool {
        if keys.is_empty() {
            return true;
        }
        let keys = keys.to_vec();
        self.run("del", |mut c| async move { c.del::<_, ()>(&keys).await }).await.is_some()
    }

    /// Increments a counter that expires `ttl` after its first increment (a fixed window).
    pub async fn incr_window(&self, key: &str, ttl: Duration) -> Option<i64> {
        let secs = ttl.as_secs().max(1);
        self.run("incr", |mut c| async move {
            let (count,): (i64,) =
                redis::pipe().incr(key, 1).expire(key, secs as i64).arg("NX").ignore().query_async(&mut c).await?;
            Ok(count)
        })
        .await
    }

    /// Appends `payload` to the list `log` (refreshing its TTL) and publishes it on `channel`.
    pub async fn append_and_publish(&self, log: &str, channel: &str, payload: &str, ttl: Duration) -> bool {
        let secs = ttl.as_secs().max(1) as i64;
        self.run("publish", |mut c| async move {
            redis::pipe()
                .rpush(log, payload)
                .ignore()
                .expire(log, secs)
                .ignore()
                .publish(channel, payload)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
        .is_some()
    }

    /// Publishes `payload` on `channel`.
    pub async fn publish(&self, channel: &str, payload: &str) -> bool {
        self.run("publish", |mut c| async move { c.publish::<_, _, ()>(channel, payload).await }).await.is_some()
    }

    /// Deletes `keys` and publishes `payload` on `channel`, in one round trip (in that order).
    pub async fn del_and_publish(&self, keys: &[String], channel: &str, payload: &str) -> bool {
        let keys = keys.to_vec();
        self.run("del", |mut c| async move {
            redis::pipe().del(&keys).ignore().publish(channel, payload).ignore().query_async::<()>(&mut c).await
        })
        .await
        .is_some()
    }

    pub async fn lrange(&self, key: &str) -> Option<Vec<String>> {
        self.run("lrange", |mut c| async move { c.lrange::<_, Vec<String>>(key, 0, -1).await }).await
    }

    /// The messages' payloads on `channel`, through the process's one shared pub/sub
    /// connection (`pubsub::Hub`); `None` when Redis cannot be reached.
    pub async fn subscribe(&self, channel: &str) -> Option<futures_util::stream::BoxStream<'static, String>> {
        use futures_util::StreamExt;
        match self.inner.hub.subscribe(channel).await {
            Ok(subscription) => Some(subscription.boxed()),
            Err(err) => {
                self.failed(&err.to_string());
                None
            }
        }
    }

    /// Channels subscribed on the shared pub/sub connection.
    pub async fn subscribed_channels(&self) -> usize {
        self.inner.hub.subscribed().await
    }

    pub async fn ping(&self) -> bool {
        self.run("ping", |mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await }).await.is_some()
    }
}
