//! Diaries: the row every diary endpoint returns, its reads and writes, and the per-diary mental
//! analysis the analysis job stores.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Row, types::Type};
use utoipa::ToSchema;

use crate::platform::db::{self, Executor, FromRow, IdBlock, Param};

// A diary as stored and as served (a plain comment: a doc comment would change its OpenAPI schema).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Diary {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub content: String,
    pub mood: Option<String>,
    pub weather: Option<String>,
    pub diary_date: NaiveDate,
    /// Who may read it through an LLM: `private` (nothing), `self` (the owner's own persona,
    /// chats and analyses; the default) or `friends` (also a friend's chat with the owner's persona).
    #[schema(value_type = String, example = "self")]
    pub visibility: String,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    pub updated_at: DateTime<Utc>,
}

crate::from_row!(Diary { id, user_id, title, content, mood, weather, diary_date, visibility, created_at, updated_at });

const COLUMNS: &str = "id, user_id, title, content, mood, weather, diary_date, visibility, created_at, updated_at";

/// Who is reading diary text for an LLM: the SQL filter on `visibility` each one gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The owner's own jobs (persona, analyses, summaries, their own chats): not `private`.
    Owner,
    /// A friend's chat with the owner's persona: `friends` only.
    Friend,
}

impl Audience {
    /// The `visibility` values this audience may read, for `visibility = any($n)`.
    pub fn visible(self) -> &'static [&'static str] {
        match self {
            Self::Owner => &["self", "friends"],
            Self::Friend => &["friends"],
        }
    }
}

/// The ids of new diaries, reserved ahead, so the analysis job (which names its diary) can go
/// into the statement that inserts it.
pub fn id_block() -> IdBlock {
    IdBlock::new("select nextval(pg_get_serial_sequence('diaries', 'id')) as value from generate_series(1, 64)")
}

/// A diary's text as the user wrote it.
pub struct NewDiary<'a> {
    pub title: &'a str,
    pub content: &'a str,
    pub mood: Option<&'a str>,
    pub weather: Option<&'a str>,
    pub diary_date: NaiveDate,
    /// `None`: `self`.
    pub visibility: Option<&'a str>,
}

/// Inserts diary `id` for `user_id` with its notices and jobs, in one statement that commits
/// as a whole (no explicit transaction, so PgBouncer holds a server connection only while it
/// runs): the `create_diary` function (its migration says what it triggers, and why a function).
/// `jobs` are the 8 job arrays `enqueue_jobs` takes, in its order. The new diary.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, diary_id = id))]
pub async fn create(
    db: &mut impl Executor,
    id: i64,
    user_id: i64,
    diary: &NewDiary<'_>,
    jobs: &[Param<'_>; 8],
) -> db::Result<Diary> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select {COLUMNS} from create_diary($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        )
    });
    let mut params: Vec<Param<'_>> = vec![
        (&id, Type::INT8),
        (&user_id, Type::INT8),
        (&diary.title, Type::VARCHAR),
        (&diary.content, Type::TEXT),
        (&diary.mood, Type::VARCHAR),
        (&diary.weather, Type::VARCHAR),
        (&diary.diary_date, Type::DATE),
        (&diary.visibility, Type::TEXT),
    ];
    params.extend_from_slice(jobs);
    db.fetch_one(&SQL, &params).await
}

/// A page of diaries and the total they come from.
struct Listed(Diary, i64);

impl FromRow for Listed {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self(Diary::from_row(row)?, row.try_get("total")?))
    }
}

/// The user's diaries (only those with `mood`, if given), newest date first: the page at
/// `offset` and the total. One round trip: the total comes from an index-only count evaluated
/// once, so the page reads only its own rows (not every diary, as `count(*) over ()` would); only
/// a page past the end needs a separate count.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn list_page(
    db: &mut impl Executor,
    user_id: i64,
    mood: Option<&str>,
    limit: i64,
    offset: i64,
) -> db::Result<(Vec<Diary>, i64)> {
    let rows: Vec<Listed> = db
        .fetch_all(
            &format!(
                "select {COLUMNS}, \
                        (select count(*) from diaries where user_id = $1 and ($2::varchar is null or mood = $2)) as total \
                 from diaries where user_id = $1 and ($2::varchar is null or mood = $2) \
                 order by diary_date desc limit $3 offset $4"
            ),
            &[(&user_id, Type::INT8), (&mood, Type::VARCHAR), (&limit, Type::INT8), (&offset, Type::INT8)],
        )
        .await?;
    let total = match rows.first() {
        Some(Listed(_, total)) => *total,
        None if offset > 0 => {
            let sql = "select count(*) as value from diaries where user_id = $1 and ($2::varchar is null or mood = $2)";
            db.fetch_value(sql, &[(&user_id, Type::INT8), (&mood, Type::VARCHAR)]).await?
        }
        None => 0,
    };
    Ok((rows.into_iter().map(|Listed(diary, _)| diary).collect(), total))
}

/// How many diaries the user has written.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn count(db: &mut impl Executor, user_id: i64) -> db::Result<i64> {
    db.fetch_value("select count(*) as value from diaries where user_id = $1", &[(&user_id, Type::INT8)]).await
}

/// The user's diary `id`, if it exists and is theirs.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, diary_id = id))]
pub async fn get(db: &mut impl Executor, user_id: i64, id: i64) -> db::Result<Option<Diary>> {
    db.fetch_opt(
        &format!("select {COLUMNS} from diaries where id = $1 and user_id = $2"),
        &[(&id, Type::INT8), (&user_id, Type::INT8)],
    )
    .await
}

/// A partial update: `None` keeps a field; `Some(None)` clears mood or weather.
pub struct DiaryChanges<'a> {
    pub title: Option<&'a str>,
    pub content: Option<&'a str>,
    pub mood: Option<Option<&'a str>>,
    pub weather: Option<Option<&'a str>>,
    pub visibility: Option<&'a str>,
}

/// Applies `changes` to the user's diary `id`; the updated diary, or `None` if it is not theirs.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, diary_id = id))]
pub async fn update(
    db: &mut impl Executor,
    user_id: i64,
    id: i64,
    changes: &DiaryChanges<'_>,
) -> db::Result<Option<Diary>> {
    let (mood_given, mood) = (changes.mood.is_some(), changes.mood.flatten());
    let (weather_given, weather) = (changes.weather.is_some(), changes.weather.flatten());
    db.fetch_opt(
        &format!(
            "update diaries set title = coalesce($3, title), content = coalesce($4, content), \
             mood = case when $5 then $6 else mood end, weather = case when $7 then $8 else weather end, \
             visibility = coalesce($9, visibility), updated_at = now() where id = $1 and user_id = $2 returning {COLUMNS}"
        ),
        &[
            (&id, Type::INT8),
            (&user_id, Type::INT8),
            (&changes.title, Type::VARCHAR),
            (&changes.content, Type::TEXT),
            (&mood_given, Type::BOOL),
            (&mood, Type::VARCHAR),
            (&weather_given, Type::BOOL),
            (&weather, Type::VARCHAR),
            (&changes.visibility, Type::TEXT),
        ],
    )
    .await
}

/// Deletes the user's diary `id`; its date, or `None` if it is not theirs.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, diary_id = id))]
pub async fn delete(db: &mut impl Executor, user_id: i64, id: i64) -> db::Result<Option<NaiveDate>> {
    let deleted: Option<db::Value<NaiveDate>> = db
        .fetch_opt(
            "delete from diaries where id = $1 and user_id = $2 returning diary_date as value",
            &[(&id, Type::INT8), (&user_id, Type::INT8)],
        )
        .await?;
    Ok(deleted.map(|db::Value(date)| date))
}

/// What an LLM job reads of a diary.
pub struct DiaryText {
    pub id: i64,
    pub diary_date: NaiveDate,
    pub title: String,
    pub content: String,
    pub mood: Option<String>,
}

crate::from_row!(DiaryText { id, diary_date, title, content, mood });

/// The user's diary `id` as text to analyse, or `None` once it is deleted or `private`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, diary_id = id))]
pub async fn text(db: &mut impl Executor, user_id: i64, id: i64) -> db::Result<Option<DiaryText>> {
    db.fetch_opt(
        "select id, diary_date, title::text as title, content, mood::text as mood from diaries \
         where id = $1 and user_id = $2 and visibility <> 'private'",
        &[(&id, Type::INT8), (&user_id, Type::INT8)],
    )
    .await
}

/// A diary's mental analysis: the six axis scores (0-100), the overall status and the feedback.
pub struct NewAnalysis<'a> {
    pub user_id: i64,
    pub diary_id: i64,
    /// The six axes' scores, in `data::mental::AXES` order.
    pub scores: [i16; 6],
    pub overall_status: &'a str,
    pub analysis_date: NaiveDate,
    pub feedback: &'a serde_json::Value,
}

/// Stores a diary's analysis, replacing the one it had (an edited diary is analysed again); the
/// analysis id.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = a.user_id, diary_id = a.diary_id))]
pub async fn save_analysis(db: &mut impl Executor, a: &NewAnalysis<'_>) -> db::Result<i64> {
    db.fetch_value(
        "insert into mental_analyses (user_id, diary_id, emotional_stability_score, vitality_score, self_esteem_score, \
             positivity_score, social_connection_score, resilience_score, overall_status, analysis_date, feedback) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         on conflict (diary_id) do update set emotional_stability_score = excluded.emotional_stability_score, \
             vitality_score = excluded.vitality_score, self_esteem_score = excluded.self_esteem_score, \
             positivity_score = excluded.positivity_score, social_connection_score = excluded.social_connection_score, \
             resilience_score = excluded.resilience_score, overall_status = excluded.overall_status, \
             analysis_date = excluded.analysis_date, feedback = excluded.feedback, created_at = now() \
         returning id as value",
        &[
            (&a.user_id, Type::INT8),
            (&a.diary_id, Type::INT8),
            (&a.scores[0], Type::INT2),
            (&a.scores[1], Type::INT2),
            (&a.scores[2], Type::INT2),
            (&a.scores[3], Type::INT2),
            (&a.scores[4], Type::INT2),
            (&a.scores[5], Type::INT2),
            (&a.overall_status, Type::TEXT),
            (&a.analysis_date, Type::DATE),
            (&a.feedback, Type::JSONB),
        ],
    )
    .await
}
