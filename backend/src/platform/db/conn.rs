//! Running statements: a pooled connection ([`Conn`]) or a transaction on one ([`Tx`]), both
//! behind [`Executor`], so a data helper takes either and every statement gets the query
//! timeout, the error mapping and typed rows.

use std::{future::Future, time::Duration};

use deadpool_postgres::Object;
use tokio_postgres::Row;

use super::{Db, Error, FromRow, Lsn, Param, Result, Role, Value, error::is_connection_failure};

/// Runs unnamed statements and decodes their rows. Implemented by [`Conn`] and [`Tx`]; data
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

async fn bounded<T>(timeout: Duration, call: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::Timeout(timeout)),
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
    pub(super) fn new(client: Object, role: Role, db: Db) -> Self {
        Self { client, role, db }
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
        Ok(Tx { tx, timeout })
    }

    /// The primary's WAL insert position, read after a commit: once the replica has replayed up to
    /// here, it has that commit.
    pub async fn wal_position(&mut self) -> Result<Lsn> {
        let text: String = self.fetch_value("select pg_current_wal_insert_lsn()::text as value", &[]).await?;
        Lsn::parse(&text).ok_or(Error::RowCount(0))
    }

    async fn fail_over(&mut self, why: &str) -> Result<()> {
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

impl Executor for Conn {
    async fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        let timeout = self.db.query_timeout();
        match tokio::time::timeout(timeout, self.client.query_typed(sql, params)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(err)) if self.role == Role::Replica && is_connection_failure(&err) => {
                self.fail_over(&format!("replica query failed: {err}")).await?;
                bounded(timeout, self.client.query_typed(sql, params)).await
            }
            Ok(Err(err)) => Err(err.into()),
            Err(_) if self.role == Role::Replica => {
                self.fail_over("replica query timed out").await?;
                bounded(timeout, self.client.query_typed(sql, params)).await
            }
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Runs a statement on the primary; writes are never retried.
    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        debug_assert_eq!(self.role, Role::Primary, "writes go to the primary");
        bounded(self.db.query_timeout(), self.client.execute_typed(sql, params)).await
    }
}

/// A transaction on the primary: statements bounded by the query timeout like any other;
/// dropped without [`Tx::commit`], it rolls back.
pub struct Tx<'a> {
    tx: deadpool_postgres::Transaction<'a>,
    timeout: Duration,
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<()> {
        bounded(self.timeout, self.tx.commit()).await
    }
}

impl Executor for Tx<'_> {
    async fn rows(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>> {
        bounded(self.timeout, self.tx.query_typed(sql, params)).await
    }

    async fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
        bounded(self.timeout, self.tx.execute_typed(sql, params)).await
    }
}
