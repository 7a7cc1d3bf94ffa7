//! Users: the `User` row every authenticated request carries, and the account SQL (sign-up,
//! credentials, verification, password, profile, search).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::platform::db::{self, Executor};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub username: String,
    pub profile_image: Option<String>,
    pub rag_context_level: Option<String>,
    pub is_active: bool,
    pub email_verified: bool,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
}

crate::from_row!(User { id, email, username, profile_image, rag_context_level, is_active, email_verified, created_at });

/// The columns of [`User`].
pub const COLUMNS: &str =
    "id, email, username, profile_image, rag_context_level, is_active, email_verified, created_at";
/// The same columns qualified with `u.` for joins.
pub const COLUMNS_U: &str =
    "u.id, u.email, u.username, u.profile_image, u.rag_context_level, u.is_active, u.email_verified, u.created_at";

impl User {
    /// This user as another user sees them: the e-mail address is masked (contract section 8).
    pub fn public(mut self) -> Self {
        self.email = mask_email(&self.email);
        self
    }
}

/// `kim@example.com` -> `k***@e***`: recognisable to its owner, useless to a harvester.
pub fn mask_email(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    format!("{}***@{}***", first(local), first(domain))
}

/// What a login checks, in the contract's order: the password, then active, then verified.
pub struct Credentials {
    pub id: i64,
    pub password_hash: String,
    pub is_active: bool,
    pub email_verified: bool,
}

crate::from_row!(Credentials { id, password_hash, is_active, email_verified });

/// Where an account's mail goes.
pub struct Recipient {
    pub id: i64,
    pub email: String,
}

crate::from_row!(Recipient { id, email });

/// A new account; its id. A taken e-mail or username is a constraint error.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(
    db: &mut impl Executor,
    email: &str,
    username: &str,
    password_hash: &str,
    email_verified: bool,
) -> db::Result<i64> {
    db.fetch_value(
        "insert into users (email, username, password_hash, email_verified) values ($1, $2, $3, $4) returning id as value",
        &[(&email, Type::TEXT), (&username, Type::TEXT), (&password_hash, Type::TEXT), (&email_verified, Type::BOOL)],
    )
    .await
}

/// The login facts of the account with this e-mail (case-insensitively), if any.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn credentials(db: &mut impl Executor, email: &str) -> db::Result<Option<Credentials>> {
    db.fetch_opt(
        "select id, password_hash, is_active, email_verified from users where lower(email) = lower($1)",
        &[(&email, Type::TEXT)],
    )
    .await
}

/// The account with this e-mail that still has to verify it.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn unverified_by_email(db: &mut impl Executor, email: &str) -> db::Result<Option<Recipient>> {
    db.fetch_opt(
        "select id, email from users where lower(email) = lower($1) and not email_verified",
        &[(&email, Type::TEXT)],
    )
    .await
}

/// The active account with this e-mail.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn active_by_email(db: &mut impl Executor, email: &str) -> db::Result<Option<Recipient>> {
    db.fetch_opt("select id, email from users where lower(email) = lower($1) and is_active", &[(&email, Type::TEXT)])
        .await
}

/// Marks the account's e-mail verified.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn mark_verified(db: &mut impl Executor, user_id: i64) -> db::Result<()> {
    db.execute("update users set email_verified = true, updated_at = now() where id = $1", &[(&user_id, Type::INT8)])
        .await?;
    Ok(())
}

/// An account an operator marked verified (`dearme users verify`).
pub struct Verification {
    pub id: i64,
    pub email: String,
    /// It already was verified: nothing changed.
    pub was_verified: bool,
}

crate::from_row!(Verification { id, email, was_verified });

/// Marks the account with this e-mail (case-insensitively) verified; `None` without one.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn verify_by_email(db: &mut impl Executor, email: &str) -> db::Result<Option<Verification>> {
    db.fetch_opt(
        "with old as (select id, email_verified from users where lower(email) = lower($1) for update) \
         update users u set email_verified = true, \
         updated_at = case when old.email_verified then u.updated_at else now() end \
         from old where u.id = old.id returning u.id, u.email, old.email_verified as was_verified",
        &[(&email, Type::TEXT)],
    )
    .await
}

/// Replaces the account's password hash.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn set_password(db: &mut impl Executor, user_id: i64, password_hash: &str) -> db::Result<()> {
    db.execute(
        "update users set password_hash = $2, updated_at = now() where id = $1",
        &[(&user_id, Type::INT8), (&password_hash, Type::TEXT)],
    )
    .await?;
    Ok(())
}

/// The user with this id, if any.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn find(db: &mut impl Executor, user_id: i64) -> db::Result<Option<User>> {
    db.fetch_opt(&format!("select {COLUMNS} from users where id = $1"), &[(&user_id, Type::INT8)]).await
}

/// Up to 20 active users, by username, whose username contains `fragment` (taken literally:
/// LIKE's wildcards are escaped), other than `user_id`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn search(db: &mut impl Executor, user_id: i64, fragment: &str) -> db::Result<Vec<User>> {
    let pattern = format!("%{}%", fragment.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let sql = format!(
        "select {COLUMNS} from users where username ilike $1 and id <> $2 and is_active order by username limit 20"
    );
    db.fetch_all(&sql, &[(&pattern, Type::TEXT), (&user_id, Type::INT8)]).await
}

/// A profile change: each field given replaces the stored one; `profile_image: Some(None)`
/// clears the image.
pub struct ProfileChange<'a> {
    pub username: Option<&'a str>,
    pub profile_image: Option<Option<&'a str>>,
    pub rag_context_level: Option<&'a str>,
}

/// Applies `change` to the user; the updated user.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn update_profile(db: &mut impl Executor, user_id: i64, change: &ProfileChange<'_>) -> db::Result<User> {
    let sql = format!(
        "update users set username = coalesce($2, username), \
         profile_image = case when $3 then $4 else profile_image end, \
         rag_context_level = coalesce($5, rag_context_level), updated_at = now() \
         where id = $1 returning {COLUMNS}"
    );
    let image_given = change.profile_image.is_some();
    let image = change.profile_image.flatten();
    db.fetch_one(
        &sql,
        &[
            (&user_id, Type::INT8),
            (&change.username, Type::TEXT),
            (&image_given, Type::BOOL),
            (&image, Type::TEXT),
            (&change.rag_context_level, Type::TEXT),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn masked_email_keeps_only_first_letters() {
        assert_eq!(super::mask_email("kim@example.com"), "k***@e***");
        assert_eq!(super::mask_email("odd"), "o***@***");
    }
}
