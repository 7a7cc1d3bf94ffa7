//! Credentials kept server-side: sessions (what a bearer token names) and the one-time e-mail
//! tokens of verification and password reset (stored as hashes only).

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::users::{COLUMNS_U, User};
use crate::platform::db::{self, Executor, Value};

/// The user of a live session (`session_id` of `user_id`, neither revoked nor expired).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn user(db: &mut impl Executor, session_id: &str, user_id: i64) -> db::Result<Option<User>> {
    let sql = format!(
        "select {COLUMNS_U} from sessions s join users u on u.id = s.user_id \
         where s.id = $1 and s.user_id = $2 and s.revoked_at is null and s.expires_at > now()"
    );
    db.fetch_opt(&sql, &[(&session_id, Type::TEXT), (&user_id, Type::INT8)]).await
}

/// Records a new session.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn insert(
    db: &mut impl Executor,
    session_id: &str,
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> db::Result<()> {
    db.execute(
        "insert into sessions (id, user_id, expires_at) values ($1, $2, $3)",
        &[(&session_id, Type::TEXT), (&user_id, Type::INT8), (&expires_at, Type::TIMESTAMPTZ)],
    )
    .await?;
    Ok(())
}

/// Revokes `user_id`'s live sessions (only `only`, when given); the ids revoked.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn revoke(db: &mut impl Executor, user_id: i64, only: Option<&str>) -> db::Result<Vec<String>> {
    let ids: Vec<Value<String>> = db
        .fetch_all(
            "update sessions set revoked_at = now() \
             where user_id = $1 and revoked_at is null and ($2::text is null or id = $2) returning id as value",
            &[(&user_id, Type::INT8), (&only, Type::TEXT)],
        )
        .await?;
    Ok(ids.into_iter().map(|Value(id)| id).collect())
}

/// Whether the account was sent a `purpose` token within the last minute.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn token_sent_recently(db: &mut impl Executor, user_id: i64, purpose: &str) -> db::Result<bool> {
    db.fetch_value(
        "select exists (select 1 from email_tokens where user_id = $1 and purpose = $2 \
         and created_at > now() - interval '1 minute') as value",
        &[(&user_id, Type::INT8), (&purpose, Type::TEXT)],
    )
    .await
}

/// Stores a one-time token by its hash.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn insert_token(
    db: &mut impl Executor,
    token_hash: &str,
    user_id: i64,
    purpose: &str,
    expires_at: DateTime<Utc>,
) -> db::Result<()> {
    db.execute(
        "insert into email_tokens (token_hash, user_id, purpose, expires_at) values ($1, $2, $3, $4)",
        &[(&token_hash, Type::TEXT), (&user_id, Type::INT8), (&purpose, Type::TEXT), (&expires_at, Type::TIMESTAMPTZ)],
    )
    .await?;
    Ok(())
}

/// Whether a token is known, unused and unexpired.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn token_is_valid(db: &mut impl Executor, token_hash: &str, purpose: &str) -> db::Result<bool> {
    db.fetch_value(
        "select exists (select 1 from email_tokens where token_hash = $1 and purpose = $2 \
                and used_at is null and expires_at > now()) as value",
        &[(&token_hash, Type::TEXT), (&purpose, Type::TEXT)],
    )
    .await
}

/// Marks a valid token used; its account, or `None` if it is unknown, used or expired.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn consume_token(db: &mut impl Executor, token_hash: &str, purpose: &str) -> db::Result<Option<i64>> {
    let user: Option<Value<i64>> = db
        .fetch_opt(
            "update email_tokens set used_at = now() \
             where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now() returning user_id as value",
            &[(&token_hash, Type::TEXT), (&purpose, Type::TEXT)],
        )
        .await?;
    Ok(user.map(|Value(id)| id))
}
