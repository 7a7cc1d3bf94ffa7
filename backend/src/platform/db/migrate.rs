//! Schema migrations (sqlx, top-level `migrations/`), always over a *direct* connection to the
//! primary: sqlx takes a session-level advisory lock, which transaction pooling would orphan.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub async fn run(direct_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(direct_url).await.context("connecting to the primary for migrations")?;
    MIGRATOR.run(&mut conn).await.context("running migrations")?;
    conn.close().await.ok();
    // The job queue's own schema (`apalis.*`), also over the direct connection.
    let pool = apalis_postgres::PgPool::connect(direct_url).await.context("connecting for the job queue schema")?;
    apalis_postgres::PostgresStorage::setup(&pool).await.context("job queue schema")?;
    pool.close().await;
    Ok(())
}
