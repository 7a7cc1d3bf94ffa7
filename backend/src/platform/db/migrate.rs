//! Schema migrations (sqlx, top-level `migrations/`), always over a *direct* connection to the
//! primary: sqlx takes a session-level advisory lock, which transaction pooling would orphan.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Two indexes apalis-postgres 1.0.0's migrations leave on `apalis.jobs` beside the ones that
/// replaced them: `lidx` repeats `idx_apalis_jobs_lock_by` (lock_by) and `unique_job_id` repeats
/// the primary key (id). Every job insert (three per diary) maintained both for nothing. After
/// apalis's setup, which never runs a migration twice, so they stay gone; idempotent.
pub const TRIM_QUEUE_INDEXES: &str = "drop index if exists apalis.lidx; drop index if exists apalis.unique_job_id;";

pub async fn run(direct_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(direct_url).await.context("connecting to the primary for migrations")?;
    MIGRATOR.run(&mut conn).await.context("running migrations")?;
    conn.close().await.ok();
    // The job queue's own schema (`apalis.*`), also over the direct connection.
    let pool = apalis_postgres::PgPool::connect(direct_url).await.context("connecting for the job queue schema")?;
    apalis_postgres::PostgresStorage::setup(&pool).await.context("job queue schema")?;
    sqlx::raw_sql(TRIM_QUEUE_INDEXES).execute(&pool).await.context("trimming the job queue's indexes")?;
    pool.close().await;
    Ok(())
}
