//! Postgres access: a write pool (primary) and a read pool (replica), both through PgBouncer in
//! transaction mode, so every statement is an *unnamed* one (`query_typed`), which PgBouncer 1.18
//! and newer versions alike multiplex safely.
//!
//! Routing reads: the replica is used when it is healthy (reachable, lag within bounds) and, for a
//! user who wrote recently, has replayed that user's last write (the primary's WAL insert position
//! after the commit, compared to the replica's replay position). Otherwise the read goes to the
//! primary. A replica query that fails or times out is retried once on the primary, and the replica
//! is marked down until the monitor sees it healthy again.
//!
//! Every statement of the app goes through [`Executor`] (the replica monitor alone reads its pool
//! directly: its reading must not fail over) (a pooled [`Conn`] or a [`Tx`]): bounded by the query
//! timeout, errors as [`Error`], rows as [`FromRow`] types read by column name.

mod conn;
mod error;
mod ids;
pub mod migrate;
pub mod replica;
mod row;

use std::{sync::Arc, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, types::ToSql, types::Type};

pub use conn::{Conn, Executor, Tx};
pub use error::{Error, Result};
pub use ids::IdBlock;
pub use replica::{Lsn, ReplicaHealth};
pub use row::{FromRow, Value};

use crate::platform::settings::Settings;

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
    pub async fn writer(&self) -> Result<Conn> {
        self.connect(Role::Primary).await
    }

    /// A connection for reads: the replica when it is healthy and has replayed `min_lsn` (the
    /// reader's own last write), else the primary.
    pub async fn reader(&self, min_lsn: Option<Lsn>) -> Result<Conn> {
        let reason = match self.inner.replica.route(min_lsn) {
            Ok(()) => {
                match tokio::time::timeout(self.inner.query_timeout, self.inner.read.get()).await {
                    Ok(Ok(client)) => {
                        metrics::counter!("db_reads_total", "role" => "replica", "reason" => "healthy").increment(1);
                        return Ok(Conn::new(client, Role::Replica, self.clone()));
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

    async fn connect(&self, role: Role) -> Result<Conn> {
        let client = self.pool(role).get().await?;
        Ok(Conn::new(client, role, self.clone()))
    }

    fn query_timeout(&self) -> Duration {
        self.inner.query_timeout
    }
}
