//! Schema migrations (sqlx, top-level `migrations/`), always over a *direct* connection to the
//! primary: sqlx takes a session-level advisory lock, which transaction pooling would orphan.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

pub async fn run(direct_url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(direct_url).await.context("connecting to the primary for migrations")?;
    MIGRATOR.run(&mut conn).await.context("running migrations")?;
    conn.close().await.ok();
    Ok(())
}
