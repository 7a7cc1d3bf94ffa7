//! Postgres access: a write pool (primary) and a read pool per replica (`DATABASE_READ_URLS`), all
//! through PgBouncer in transaction mode, so every statement is an *unnamed* one (`query_typed`),
//! which PgBouncer 1.18 and newer versions alike multiplex safely. With `DB_NAMED_STATEMENTS`
//! (PgBouncer >= 1.21 with `max_prepared_statements`, or a direct connection) each statement is
//! prepared once per connection and reused, which saves its parse and plan on every call.
//!
//! Routing reads: a replica is used when it is healthy (reachable, lag within bounds) and, for a
//! user who wrote recently, has replayed that user's last write (the primary's WAL insert position
//! after the commit, compared to that replica's replay position); reads rotate over the replicas
//! that qualify. With none, the read goes to the primary. A replica query that fails or times out
//! is retried once on the primary, and that replica is marked down until the monitor sees it
//! healthy again.
//!
//! Behind one read URL that hides several replicas (CloudNativePG's `-ro` service), the monitor's
//! reading may come from another server than the next read: with `DATABASE_READ_VERIFY_LSN` a
//! recent writer's reads check the replay position inside their own transaction instead
//! ([`Conn`]), and fall back to the primary when it is behind.
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

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, types::ToSql, types::Type};

pub use conn::{Conn, Executor, Tx};
pub use error::{Error, Result};
pub use ids::IdBlock;
pub use replica::{Lsn, Replica, ReplicaHealth};
pub use row::{FromRow, Value};

use crate::platform::settings::Settings;

/// A typed parameter: the value and its Postgres type, as `query_typed` needs.
pub type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// Where a connection goes: the primary, or the replica at this index of [`Db::replicas`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica(usize),
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Replica(_) => "replica",
        }
    }
}

#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    write: Pool,
    replicas: Vec<Replica>,
    /// Where the next read's rotation over the replicas starts.
    next: AtomicUsize,
    /// `DATABASE_READ_VERIFY_LSN`: recent writers' replica reads check the replay position.
    verify_lsn: bool,
    /// `DB_NAMED_STATEMENTS`: statements prepared once per connection ([`Conn`]).
    named: bool,
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
        let replicas = settings
            .database_read_urls
            .iter()
            .enumerate()
            .map(|(i, url)| -> anyhow::Result<Replica> {
                // Leaked once per replica and process: a `'static` label costs no allocation per read.
                let name: &'static str = Box::leak(replica_name(url.expose(), i).into_boxed_str());
                Ok(Replica { name, pool: pool(url.expose())?, health: Default::default() })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            inner: Arc::new(DbInner {
                write: pool(settings.database_url.expose())?,
                replicas,
                next: AtomicUsize::new(0),
                verify_lsn: settings.database_read_verify_lsn,
                named: settings.db_named_statements,
                query_timeout: settings.db_query_timeout,
            }),
        })
    }

    pub fn replicas(&self) -> &[Replica] {
        &self.inner.replicas
    }

    pub fn pool(&self, role: Role) -> &Pool {
        match role {
            Role::Primary => &self.inner.write,
            Role::Replica(i) => &self.inner.replicas[i].pool,
        }
    }

    /// The WAL position a value read through `role` is known to include: everything on the
    /// primary; on a replica, its last replay position (none when the read URL may hide several
    /// servers, where the monitor's reading may be another server's).
    pub fn stamp(&self, role: Role) -> u64 {
        match role {
            Role::Primary => u64::MAX,
            Role::Replica(_) if self.inner.verify_lsn => 0,
            Role::Replica(i) => self.inner.replicas[i].health.replay_lsn().0,
        }
    }

    /// A connection to the primary, for writes and for reads that must see everything.
    pub async fn writer(&self) -> Result<Conn> {
        self.connect(Role::Primary).await
    }

    /// A connection for reads: a healthy replica that has replayed `min_lsn` (the reader's own
    /// last write), in rotation, else the primary.
    pub async fn reader(&self, min_lsn: Option<Lsn>) -> Result<Conn> {
        let replicas = &self.inner.replicas;
        // Behind a service that hides its servers the check happens in the read itself.
        let (route_lsn, verify) = if self.inner.verify_lsn { (None, min_lsn) } else { (min_lsn, None) };
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut reason = "replica_unhealthy";
        for i in (0..replicas.len()).map(|k| (start + k) % replicas.len()) {
            let replica = &replicas[i];
            if let Err(why) = replica.health.route(route_lsn) {
                if why == "read_your_writes" {
                    reason = why;
                }
                continue;
            }
            match tokio::time::timeout(self.inner.query_timeout, replica.pool.get()).await {
                Ok(Ok(client)) => {
                    metrics::counter!("db_reads_total", "role" => "replica", "reason" => "healthy", "replica" => replica.name)
                        .increment(1);
                    return Ok(Conn::new(client, Role::Replica(i), self.clone()).verifying(verify));
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, replica = %replica.name, "replica pool unavailable");
                }
                Err(_) => tracing::warn!(replica = %replica.name, "replica pool timed out"),
            }
            replica.health.mark_down();
            reason = "replica_error";
        }
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

    fn named_statements(&self) -> bool {
        self.inner.named
    }
}

/// A replica's label: its host and port (no credentials), else its position in the list.
fn replica_name(url: &str, index: usize) -> String {
    let config: Option<tokio_postgres::Config> = url.parse().ok();
    let host = config.as_ref().and_then(|c| {
        c.get_hosts().first().map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
    });
    let port = config.as_ref().and_then(|c| c.get_ports().first().copied());
    match (host, port) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host,
        _ => format!("replica-{index}"),
    }
}
