//! Running statements: a pooled connection ([`Conn`]) or a transaction on one ([`Tx`]), both
//! behind [`Executor`], so a data helper takes either and every statement gets the query
//! timeout, the error mapping and typed rows.

use std::{future::Future, time::Duration};

use deadpool_postgres::{GenericClient, Object};
use tokio_postgres::{Row, types::ToSql, types::Type};

use super::{Db, Error, FromRow, Lsn, Param, Result, Role, Value, error::is_connection_failure};

/// Runs statements (unnamed, or named with `DB_NAMED_STATEMENTS`) and decodes their rows. Implemented by [`Conn`] and [`Tx`]; data
/// helpers are generic over it (`async fn insert_diary(db: &mut impl Executor, ..)`), so the
/// caller decides whether they share a transaction.
pub trait Executor: Send {
    /// The statement's rows, bounded by the query timeout.
    fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> impl Future<Output = Result<Vec<Row>>> + Send;

    /// Runs a statement that returns no rows; the number of rows it affected.
    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> impl Future<Output = Result<u64>> + Send;

    /// Every row, decoded.
    fn fetch_all<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Vec<T>>> + Send {
        async move { self.rows(sql, params).await?.iter().map(decode).collect() }
    }

    /// The first row, if any, decoded.
    fn fetch_opt<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move { self.rows(sql, params).await?.first().map(decode).transpose() }
    }

    /// Exactly one row, decoded; any other count is an error.
    fn fetch_one<T: FromRow + Send>(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> impl Future<Output = Result<T>> + Send {
        async move {
            let rows = self.rows(sql, params).await?;
            match rows.as_slice() {
                [row] => decode(row),
                _ => Err(Error::RowCount(rows.len())),
            }
        }
    }

    /// The one row's `value` column (`select count(*) as value ..`).
    fn fetch_value<T>(&mut self, sql: &str, params: &[Param<'_>]) -> impl Future<Output = Result<T>> + Send
    where
        T: for<'a> tokio_postgres::types::FromSql<'a> + Send,
    {
        async move { Ok(self.fetch_one::<Value<T>>(sql, params).await?.0) }
    }
}

fn decode<T: FromRow>(row: &Row) -> Result<T> {
    T::from_row(row).map_err(Error::Decode)
}

/// A pooled connection or a transaction on one: runs a statement unnamed (parsed and planned on
/// every call) or, with `DB_NAMED_STATEMENTS`, named and cached on its server connection.
trait Statements: GenericClient {
    fn unnamed(&self) -> &impl tokio_postgres::GenericClient;

    async fn rows_of(&self, named: bool, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, tokio_postgres::Error> {
        if !named {
            return tokio_postgres::GenericClient::query_typed(self.unnamed(), sql, params).await;
        }
        let statement = self.prepare_typed_cached(sql, &types(params)).await?;
        GenericClient::query(self, &statement, &values(params)).await
    }

    async fn execute_of(&self, named: bool, sql: &str, params: &[Param<'_>]) -> Result<u64, tokio_postgres::Error> {
        if !named {
            return tokio_postgres::GenericClient::execute_typed(self.unnamed(), sql, params).await;
        }
        let statement = self.prepare_typed_cached(sql, &types(params)).await?;
        GenericClient::execute(self, &statement, &values(params)).await
    }
}

impl Statements for Object {
    fn unnamed(&self) -> &impl tokio_postgres::GenericClient {
        &***self
    }
}

impl Statements for deadpool_postgres::Transaction<'_> {
    fn unnamed(&self) -> &impl tokio_postgres::GenericClient {
        &**self
    }
}

fn types(params: &[Param<'_>]) -> Vec<Type> {
    params.iter().map(|(_, ty)| ty.clone()).collect()
}

fn values<'a>(params: &'a [Param<'_>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|(value, _)| *value).collect()
}

async fn bounded<T>(timeout: Duration, call: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::Timeout(timeout)),
    }
}

/// A pooled connection whose statements are bounded by the query timeout, and (on a
/// replica) retried once on the primary when they fail.
pub struct Conn {
    client: Object,
    role: Role,
    db: Db,
    /// On a replica behind a service that may hide several: the reader's last write, which each
    /// statement checks the server has replayed, in the statement's own transaction.
    verify: Option<Lsn>,
}

/// Whether the server answering has replayed `$1` (a primary has everything).
const REPLAYED: &str = "select coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, true) as value";

impl Conn {
    pub(super) fn new(client: Object, role: Role, db: Db) -> Self {
        Self { client, role, db, verify: None }
    }

    pub(super) fn verifying(mut self, verify: Option<Lsn>) -> Self {
        self.verify = verify;
        self
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Starts a transaction: the caller owns it, so a write and what it triggers commit together.
    /// Its statements keep the query timeout; it runs on the primary.
    pub async fn transaction(&mut self) -> Result<Tx<'_>> {
        debug_assert_eq!(self.role, Role::Primary, "transactions write, so they run on the primary");
        let timeout = self.db.query_timeout();
        let tx = bounded(timeout, self.client.transaction()).await?;
        Ok(Tx { tx, timeout, named: self.db.named_statements() })
    }

    /// The primary's WAL insert position, read after a commit: once the replica has replayed up to
    /// here, it has that commit.
    pub async fn wal_position(&mut self) -> Result<Lsn> {
        let text: String = self.fetch_value("select pg_current_wal_insert_lsn()::text as value", &[]).await?;
        Lsn::parse(&text).ok_or(Error::RowCount(0))
    }

    async fn fail_over(&mut self, why: &str) -> Result<()> {
        tracing::warn!(why, "replica read failed, retrying on the primary");
        if let Role::Replica(i) = self.role {
            self.db.replicas()[i].health.mark_down();
        }
        metrics::counter!("db_reads_total", "role" => "primary", "reason" => "replica_error").increment(1);
        self.switch_to_primary(true).await
    }

    /// Continues on the primary; the replica connection is discarded when it failed (its state
    /// is unknown), else pooled again.
    async fn switch_to_primary(&mut self, discard: bool) -> Result<()> {
        let primary = self.db.writer().await?;
        let replica = std::mem::replace(&mut self.client, primary.client);
        if discard {
            let _ = Object::take(replica);
        }
        self.role = Role::Primary;
        self.verify = None;
        Ok(())
    }

    /// The statement and the replay check in one transaction (so PgBouncer keeps them on one
    /// server), pipelined: the rows when that server has replayed `lsn`, else `None`.
    async fn verified(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
        lsn: Lsn,
    ) -> std::result::Result<Option<Vec<Row>>, tokio_postgres::Error> {
        let lsn = lsn.to_string();
        let tx = self.client.transaction().await?;
        let check: [Param<'_>; 1] = [(&lsn, tokio_postgres::types::Type::TEXT)];
        let named = self.db.named_statements();
        let (replayed, rows) = tokio::try_join!(tx.rows_of(named, REPLAYED, &check), tx.rows_of(named, sql, params))?;
        tx.commit().await?;
        let replayed = replayed.first().and_then(|r| r.try_get::<_, bool>("value").ok()).unwrap_or(false);
        Ok(replayed.then_some(rows))
    }

    async fn replica_rows(&mut self, sql: &str, params: &[Param<'_>]) -> std::result::Result<Vec<Row>, ReplicaMiss> {
        let timeout = self.db.query_timeout();
        let verify = self.verify;
        let read = async {
            match verify {
                Some(lsn) => self.verified(sql, params, lsn).await,
                None => self.client.rows_of(self.db.named_statements(), sql, params).await.map(Some),
            }
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok(Some(rows))) => Ok(rows),
            Ok(Ok(None)) => Err(ReplicaMiss::Behind),
            Ok(Err(err)) if is_connection_failure(&err) => {
                Err(ReplicaMiss::Failed(format!("replica query failed: {err}")))
            }
            Ok(Err(err)) => Err(ReplicaMiss::Error(err.into())),
            Err(_) => Err(ReplicaMiss::Failed("replica query timed out".into())),
        }
    }
}

/// Why a replica read gave no rows.
enum ReplicaMiss {
    /// The server had not replayed the reader's last write (checked in the read itself).
    Behind,
    /// The server failed or timed out: it leaves the rotation.
    Failed(String),
    /// The statement itself failed (the primary would fail it too).
    Error(Error),
}

impl Executor for Conn {
    async fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        if let Role::Replica(_) = self.role {
            match self.replica_rows(sql, params).await {
                Ok(rows) => return Ok(rows),
                Err(ReplicaMiss::Error(err)) => return Err(err),
                Err(ReplicaMiss::Failed(why)) => self.fail_over(&why).await?,
                Err(ReplicaMiss::Behind) => {
                    metrics::counter!("db_reads_total", "role" => "primary", "reason" => "read_your_writes_checked")
                        .increment(1);
                    self.switch_to_primary(false).await?;
                }
            }
        }
        bounded(self.db.query_timeout(), self.client.rows_of(self.db.named_statements(), sql, params)).await
    }

    /// Runs a statement on the primary; writes are never retried.
    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        debug_assert_eq!(self.role, Role::Primary, "writes go to the primary");
        bounded(self.db.query_timeout(), self.client.execute_of(self.db.named_statements(), sql, params)).await
    }
}

/// A transaction on the primary: statements bounded by the query timeout like any other;
/// dropped without [`Tx::commit`], it rolls back.
pub struct Tx<'a> {
    tx: deadpool_postgres::Transaction<'a>,
    timeout: Duration,
    named: bool,
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<()> {
        bounded(self.timeout, self.tx.commit()).await
    }
}

impl Executor for Tx<'_> {
    async fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        bounded(self.timeout, self.tx.rows_of(self.named, sql, params)).await
    }

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        bounded(self.timeout, self.tx.execute_of(self.named, sql, params)).await
    }
}
