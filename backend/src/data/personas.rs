//! Personas: one per user, written by the persona job (from the user's diaries or quiz answers),
//! renamed, hidden and customised through the API, and shown to accepted friends when public.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::types::{FromSql, Json, Type};
use utoipa::ToSchema;

use crate::{
    data::{
        diaries::{Audience, DiaryText},
        friends,
    },
    platform::{
        cache::{Cache, CacheKey},
        db::{self, Executor, FromRow},
    },
};

/// The persona's customization: stored sparse (only the keys a user set), always served with all
/// four keys.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Customization {
    pub speaking_style_tone: Option<String>,
    pub speaking_style_emoji: Option<bool>,
    pub personality_traits_override: Option<Vec<String>>,
    pub custom_greeting: Option<String>,
}

/// Read strictly from the `jsonb` column (a customize call returns what it just merged); a persona
/// read goes through `Lenient`.
impl<'a> FromSql<'a> for Customization {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Json::<Self>::from_sql(ty, raw)?.0)
    }

    fn accepts(ty: &Type) -> bool {
        <Json<Self> as FromSql>::accepts(ty)
    }
}

/// A persona as stored, served and cached.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Persona {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub personality: String,
    pub traits: Option<Vec<String>>,
    pub speaking_style: Option<String>,
    pub avatar_url: Option<String>,
    pub is_public: bool,
    pub customization: Option<Customization>,
    /// `temporary` | `basic` | `complete`
    pub level: String,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    pub updated_at: DateTime<Utc>,
}

impl FromRow for Persona {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            personality: row.try_get("personality")?,
            traits: row.try_get("traits")?,
            speaking_style: row.try_get("speaking_style")?,
            avatar_url: row.try_get("avatar_url")?,
            is_public: row.try_get("is_public")?,
            customization: row.try_get::<_, Lenient>("customization")?.0,
            level: row.try_get("level")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A persona's stored customization, read leniently: null, or an object of another shape (no
/// write of ours stores one, but the column is plain `jsonb`), is served as `null`, never an error.
struct Lenient(Option<Customization>);

impl<'a> FromSql<'a> for Lenient {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(serde_json::from_value(Json::<Value>::from_sql(ty, raw)?.0).ok()))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(None))
    }

    fn accepts(ty: &Type) -> bool {
        <Json<Value> as FromSql>::accepts(ty)
    }
}

const COLUMNS: &str = "id, user_id, name::text as name, personality, traits, speaking_style, avatar_url, is_public, \
                       customization, level, created_at, updated_at";

/// The user's persona, if they have one.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn find(db: &mut impl Executor, user_id: i64) -> db::Result<Option<Persona>> {
    db.fetch_opt(&format!("select {COLUMNS} from personas where user_id = $1"), &[(&user_id, Type::INT8)]).await
}

/// Renames the user's persona and/or changes its visibility (`None` keeps a field); the updated
/// persona, or `None` if the user has none.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn update(
    db: &mut impl Executor,
    user_id: i64,
    name: Option<&str>,
    is_public: Option<bool>,
) -> db::Result<Option<Persona>> {
    let sql = format!(
        "update personas set name = coalesce($2, name), is_public = coalesce($3, is_public), updated_at = now() \
         where user_id = $1 returning {COLUMNS}"
    );
    db.fetch_opt(&sql, &[(&user_id, Type::INT8), (&name, Type::VARCHAR), (&is_public, Type::BOOL)]).await
}

/// A persona's customization after a change.
#[derive(Serialize, ToSchema)]
pub struct Customized {
    pub id: i64,
    pub customization: Customization,
    #[serde(with = "crate::platform::time::utc")]
    pub updated_at: DateTime<Utc>,
}

crate::from_row!(Customized { id, customization, updated_at });

/// Merges `patch` (a JSON object) into the user's persona's customization: the keys it has
/// overwrite the stored ones, the others stay. The result, or `None` if the user has no persona.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn customize(db: &mut impl Executor, user_id: i64, patch: &Value) -> db::Result<Option<Customized>> {
    db.fetch_opt(
        "update personas set customization = coalesce(customization, '{}'::jsonb) || $2, updated_at = now() \
         where user_id = $1 returning id, customization, updated_at",
        &[(&user_id, Type::INT8), (patch, Type::JSONB)],
    )
    .await
}

/// A persona's content as the persona job generated it.
pub struct NewPersona<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub personality: &'a str,
    pub traits: &'a [String],
    pub speaking_style: Option<&'a str>,
    /// `temporary` | `basic` | `complete`
    pub level: &'a str,
}

impl NewPersona<'_> {
    fn params(&self) -> [db::Param<'_>; 6] {
        [
            (&self.user_id, Type::INT8),
            (&self.name, Type::VARCHAR),
            (&self.personality, Type::TEXT),
            (&self.traits, Type::TEXT_ARRAY),
            (&self.speaking_style, Type::TEXT),
            (&self.level, Type::TEXT),
        ]
    }
}

/// Stores the user's first persona; the persona's id. If the user already has one (a concurrent
/// duplicate job), that one is kept unchanged and its id returned.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = persona.user_id))]
pub async fn insert_first(db: &mut impl Executor, persona: &NewPersona<'_>) -> db::Result<i64> {
    db.fetch_value(
        "insert into personas (user_id, name, personality, traits, speaking_style, level) \
         values ($1, $2, $3, $4, $5, $6) \
         on conflict (user_id) do update set updated_at = personas.updated_at \
         returning id as value",
        &persona.params(),
    )
    .await
}

/// Replaces the content and level of the user's persona (creating it if there is none): the same
/// row, so its id, chats, customization and visibility are kept. The persona's id.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = persona.user_id))]
pub async fn replace_content(db: &mut impl Executor, persona: &NewPersona<'_>) -> db::Result<i64> {
    db.fetch_value(
        "insert into personas (user_id, name, personality, traits, speaking_style, level) \
         values ($1, $2, $3, $4, $5, $6) \
         on conflict (user_id) do update set name = excluded.name, personality = excluded.personality, \
             traits = excluded.traits, speaking_style = excluded.speaking_style, level = excluded.level, \
             updated_at = now() \
         returning id as value",
        &persona.params(),
    )
    .await
}

/// The user's persona level (`None` without a persona) and how many diaries they have written.
pub struct LevelProgress {
    pub level: Option<String>,
    pub diary_count: i64,
}

crate::from_row!(LevelProgress { level, diary_count });

/// The user's persona level and diary count, in one round trip.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn level_progress(db: &mut impl Executor, user_id: i64) -> db::Result<LevelProgress> {
    db.fetch_one(
        "select (select level from personas where user_id = $1) as level, \
                (select count(*) from diaries where user_id = $1) as diary_count",
        &[(&user_id, Type::INT8)],
    )
    .await
}

/// The user's latest `limit` diaries that `audience` may read, newest first: what a persona is
/// built from and remembers. `private` ones never come back.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn latest_diaries(
    db: &mut impl Executor,
    user_id: i64,
    limit: i64,
    audience: Audience,
) -> db::Result<Vec<DiaryText>> {
    let visible = audience.visible();
    db.fetch_all(
        "select id, diary_date, title::text as title, content, mood::text as mood from diaries \
         where user_id = $1 and visibility = any($3) order by diary_date desc limit $2",
        &[(&user_id, Type::INT8), (&limit, Type::INT8), (&visible, Type::TEXT_ARRAY)],
    )
    .await
}

/// The cached reads a change to `user_id`'s persona affects: the persona itself and every
/// friend's list that shows it. If the friends cannot be read, just the persona (their lists
/// then catch up when their entries expire).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn changed_keys(db: &mut impl Executor, user_id: i64) -> Vec<CacheKey> {
    let mut keys = vec![CacheKey::new(Cache::Persona, user_id)];
    match friends::friend_ids(db, user_id).await {
        Ok(ids) => keys.extend(ids.into_iter().map(|id| CacheKey::new(Cache::FriendsWithPersona, id))),
        Err(err) => tracing::warn!(error = %err, "reading friends to invalidate their persona lists"),
    }
    keys
}
