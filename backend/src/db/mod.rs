//! Postgres access: a write pool (primary) and a read pool (replica), both through PgBouncer in
//! transaction mode, so every statement is an *unnamed* one (`query_typed`), which PgBouncer 1.18
//! and newer versions alike multiplex safely.
//!
//! Routing reads: the replica is used when it is healthy (reachable, lag within bounds) and, for a
//! user who wrote recently, has replayed that user's last write (the primary's WAL insert position
//! after the commit, compared to the replica's replay position). Otherwise the read goes to the
//! primary. A replica query that fails or times out is retried once on the primary, and the replica
//! is marked down until the monitor sees it healthy again.

pub mod migrate;
pub mod replica;

use std::{sync::Arc, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row, types::ToSql, types::Type};

pub use replica::{Lsn, ReplicaHealth};

use crate::{error::ApiResult, settings::Settings};

/// A typed parameter: the value and its Postgres type, as `query_typed` needs.
pub type Param<'a> = (&'a (dyn ToSql + Sync), Type);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Replica => "replica",
        }
    }
}

/// Each user's last write position, kept in-process as well as in Redis, so read-your-writes
/// still holds on this instance while Redis is down.
#[derive(Default)]
pub struct RecentWrites(std::sync::Mutex<std::collections::HashMap<i64, (Lsn, std::time::Instant)>>);

impl RecentWrites {
    pub fn put(&self, user_id: i64, lsn: Lsn) {
        let mut map = self.0.lock().expect("recent writes lock");
        let now = std::time::Instant::now();
        if map.len() > 100_000 {
            map.retain(|_, (_, at)| now.duration_since(*at) < crate::auth::session::RECENT_WRITE_TTL);
        }
        let entry = map.entry(user_id).or_insert((lsn, now));
        *entry = (entry.0.max(lsn), now);
    }

    pub fn get(&self, user_id: i64) -> Option<Lsn> {
        let map = self.0.lock().expect("recent writes lock");
        map.get(&user_id).filter(|(_, at)| at.elapsed() < crate::auth::session::RECENT_WRITE_TTL).map(|(lsn, _)| *lsn)
    }
}

#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    write: Pool,
    read: Pool,
    replica: ReplicaHealth,
    query_timeout: Duration,
}

impl Db {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let pool = |url: &str| -> anyhow::Result<Pool> {
            let mut config: tokio_postgres::Config = url.parse()?;
            config.connect_timeout(settings.db_connect_timeout);
            config.application_name("dearme");
            let manager =
                Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
            Ok(Pool::builder(manager)
                .max_size(settings.db_pool_size)
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(settings.db_connect_timeout))
                .create_timeout(Some(settings.db_connect_timeout))
                .recycle_timeout(Some(settings.db_connect_timeout))
                .build()?)
        };
        Ok(Self {
            inner: Arc::new(DbInner {
                write: pool(settings.database_url.expose())?,
                read: pool(settings.database_read_url.expose())?,
                replica: ReplicaHealth::default(),
                query_timeout: settings.db_query_timeout,
            }),
        })
    }

    pub fn replica(&self) -> &ReplicaHealth {
        &self.inner.replica
    }

    pub fn pool(&self, role: Role) -> &Pool {
        match role {
            Role::Primary => &self.inner.write,
            Role::Replica => &self.inner.read,
        }
    }

    /// A connection to the primary, for writes and for reads that must see everything.
    pub async fn writer(&self) -> ApiResult<Conn> {
        self.connect(Role::Primary).await
    }

    /// A connection for reads: the replica when it is healthy and has replayed `min_lsn` (the
    /// reader's own last write), else the primary.
    pub async fn reader(&self, min_lsn: Option<Lsn>) -> ApiResult<Conn> {
        let reason = match self.inner.replica.route(min_lsn) {
            Ok(()) => {
                match tokio::time::timeout(self.inner.query_timeout, self.inner.read.get()).await {
                    Ok(Ok(client)) => {
                        metrics::counter!("db_reads_total", "role" => "replica", "reason" => "healthy").increment(1);
                        return Ok(Conn { client, role: Role::Replica, db: self.clone() });
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "replica pool unavailable, reading from the primary");
                    }
                    Err(_) => tracing::warn!("replica pool timed out, reading from the primary"),
                }
                self.inner.replica.mark_down();
                "replica_error"
            }
            Err(reason) => reason,
        };
        metrics::counter!("db_reads_total", "role" => "primary", "reason" => reason).increment(1);
        self.writer().await
    }

    async fn connect(&self, role: Role) -> ApiResult<Conn> {
        let client = self.pool(role).get().await?;
        Ok(Conn { client, role, db: self.clone() })
    }

    fn query_timeout(&self) -> Duration {
        self.inner.query_timeout
    }
}

/// Whether an error means "this server is unreachable", as opposed to "this query is wrong":
/// a broken socket, or a connection-class error, which is how PgBouncer reports a dead server
/// (SQLSTATE class 08, e.g. 08P01 "server login has been failing") or a shutting-down one (57P0x).
fn is_connection_failure(err: &tokio_postgres::Error) -> bool {
    match err.as_db_error() {
        None => true,
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08") || code.starts_with("57P0")
        }
    }
}

/// A pooled connection whose statements are unnamed, bounded by the query timeout, and (on the
/// replica) retried once on the primary when they fail.
pub struct Conn {
    client: Object,
    role: Role,
    db: Db,
}

impl Conn {
    pub fn role(&self) -> Role {
        self.role
    }

    /// The underlying client, for helpers generic over `GenericClient` (e.g. job enqueueing
    /// outside a transaction). Statements on it must be unnamed (`*_typed`) too.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    pub async fn query(&mut self, sql: &str, params: &[Param<'_>]) -> ApiResult<Vec<Row>> {
        let timeout = self.db.query_timeout();
        match tokio::time::timeout(timeout, self.client.query_typed(sql, params)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(err)) if self.role == Role::Replica && is_connection_failure(&err) => {
                self.fail_over(&format!("replica query failed: {err}")).await?;
                Ok(self.client.query_typed(sql, params).await?)
            }
            Ok(Err(err)) => Err(err.into()),
            Err(_) if self.role == Role::Replica => {
                self.fail_over("replica query timed out").await?;
                Ok(self.client.query_typed(sql, params).await?)
            }
            Err(_) => Err(crate::error::ApiError::Unavailable("database query timed out".into())),
        }
    }

    pub async fn query_one(&mut self, sql: &str, params: &[Param<'_>]) -> ApiResult<Row> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            1 => Ok(rows.remove(0)),
            n => Err(anyhow::anyhow!("expected one row, got {n}").into()),
        }
    }

    pub async fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> ApiResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a statement on the primary; writes are never retried.
    pub async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> ApiResult<u64> {
        debug_assert_eq!(self.role, Role::Primary, "writes go to the primary");
        let timeout = self.db.query_timeout();
        match tokio::time::timeout(timeout, self.client.execute_typed(sql, params)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(crate::error::ApiError::Unavailable("database statement timed out".into())),
        }
    }

    /// Starts a transaction: the caller owns it, so a write and what it triggers commit together.
    pub async fn transaction(&mut self) -> ApiResult<deadpool_postgres::Transaction<'_>> {
        Ok(self.client.transaction().await?)
    }

    /// The primary's WAL insert position, read after a commit: once the replica has replayed up to
    /// here, it has that commit.
    pub async fn wal_position(&mut self) -> ApiResult<Lsn> {
        let row = self.query_one("select pg_current_wal_insert_lsn()::text", &[]).await?;
        Lsn::parse(row.get(0)).ok_or_else(|| anyhow::anyhow!("unparsable LSN").into())
    }

    async fn fail_over(&mut self, why: &str) -> ApiResult<()> {
        tracing::warn!(why, "replica read failed, retrying on the primary");
        self.db.replica().mark_down();
        metrics::counter!("db_reads_total", "role" => "primary", "reason" => "replica_error").increment(1);
        let primary = self.db.writer().await?;
        // The replica connection's state is unknown after a failure: drop it instead of pooling it.
        let failed = std::mem::replace(&mut self.client, primary.client);
        let _ = Object::take(failed);
        self.role = Role::Primary;
        Ok(())
    }
}

/// Ids reserved from a table's identity sequence a block at a time (one round trip per block), so
/// a write knows its row's id before the statement that inserts it, and can embed it in what that
/// statement writes alongside (a job's payload, say). Ids are unique, not gap-free: a process
/// that exits drops the rest of its block.
pub struct IdBlock {
    /// Returns a block of fresh ids, one per row.
    reserve_sql: &'static str,
    ids: std::sync::Mutex<Vec<i64>>,
}

impl IdBlock {
    pub const fn new(reserve_sql: &'static str) -> Self {
        Self { reserve_sql, ids: std::sync::Mutex::new(Vec::new()) }
    }

    pub async fn next(&self, db: &Db) -> ApiResult<i64> {
        if let Some(id) = self.lock().pop() {
            return Ok(id);
        }
        let rows = db.writer().await?.query(self.reserve_sql, &[]).await?;
        // Handed out from the end: reversed, so a process's ids ascend.
        let mut ids: Vec<i64> = rows.iter().rev().map(|row| row.get(0)).collect();
        let id = ids.pop().ok_or_else(|| anyhow::anyhow!("id reservation returned no rows"))?;
        self.lock().extend(ids);
        Ok(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<i64>> {
        // The guarded Vec is valid whatever a panicking holder did.
        self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
