//! Aggregates over a user's diaries, each one SQL statement (never loading every diary): stats
//! and streaks, the month calendar, the weekly insight; and the short AI texts (weekly summary,
//! prompt suggestions) the jobs store per user and period.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::platform::{
    cache::{Cache, CacheKey},
    db::{self, Executor},
};

/// Moods that count as positive in the weekly insight.
pub const POSITIVE_MOODS: &[&str] = &["happy", "excited", "grateful", "hopeful", "calm"];

/// The cached stats of `user_id` as of `today`.
pub fn stats_key(user_id: i64, today: NaiveDate) -> CacheKey {
    CacheKey::new(Cache::Stats, format!("{user_id}:{today}"))
}

/// The cached weekly insight of `user_id` as of `today` (a new weekly summary changes it too).
pub fn weekly_insight_key(user_id: i64, today: NaiveDate) -> CacheKey {
    CacheKey::new(Cache::WeeklyInsight, format!("{user_id}:{today}"))
}

/// The cached calendar of `user_id` for `month` (1-12) of `year`.
pub fn calendar_key(user_id: i64, year: i64, month: i64) -> CacheKey {
    CacheKey::new(Cache::Calendar, format!("{user_id}:{year}-{month}"))
}

/// Streaks by gaps-and-islands over a user's diaries `d`: consecutive dates share
/// `diary_date - row_number`, one row per run of days. The current streak is the island ending
/// today or yesterday. Stats and the weekly insight both use it, so their streaks agree.
macro_rules! islands {
    () => {
        "select max(diary_date) as last_day, count(*) as len \
         from (select diary_date, diary_date - (row_number() over (order by diary_date))::int as grp from d) x \
         group by grp"
    };
}

/// The user's diary totals: counts, streaks, the mood and month distributions (JSON objects as
/// text) and the first and last diary dates.
pub struct StatsRow {
    pub total: i64,
    pub longest: i64,
    pub current: i64,
    pub moods: String,
    pub monthly: String,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

crate::from_row!(StatsRow { total, longest, current, moods, monthly, first_day, last_day });

const STATS_SQL: &str = concat!(
    "with d as (select diary_date, mood from diaries where user_id = $1), islands as (",
    islands!(),
    ") \
    select \
        (select count(*) from d) as total, \
        (select coalesce(max(len), 0) from islands) as longest, \
        (select coalesce(max(len), 0) from islands where last_day >= $2::date - 1) as current, \
        (select coalesce(json_object_agg(mood, n), '{}')::text \
           from (select mood, count(*) as n from d where mood is not null group by mood) m) as moods, \
        (select coalesce(json_object_agg(ym, n), '{}')::text \
           from (select to_char(diary_date, 'YYYY-MM') as ym, count(*) as n from d group by 1 order by 1 desc limit 12) m) as monthly, \
        (select min(diary_date) from d) as first_day, \
        (select max(diary_date) from d) as last_day"
);

/// The user's stats as of `today`: moods per diary with a mood, diaries per `YYYY-MM` for the
/// latest 12 months that have any, and the streaks.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn stats(db: &mut impl Executor, user_id: i64, today: NaiveDate) -> db::Result<StatsRow> {
    db.fetch_one(STATS_SQL, &[(&user_id, Type::INT8), (&today, Type::DATE)]).await
}

// A day of the month calendar that has a diary (a plain comment: a doc comment would change its
// OpenAPI schema).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CalendarDay {
    pub diary_date: NaiveDate,
    pub mood: Option<String>,
    pub diary_id: i64,
}

crate::from_row!(CalendarDay { diary_date, mood, diary_id });

/// The user's diaries dated `start` up to (excluding) `end`, by date.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn calendar(
    db: &mut impl Executor,
    user_id: i64,
    start: NaiveDate,
    end: NaiveDate,
) -> db::Result<Vec<CalendarDay>> {
    db.fetch_all(
        "select diary_date, mood, id as diary_id from diaries \
         where user_id = $1 and diary_date >= $2 and diary_date < $3 order by diary_date",
        &[(&user_id, Type::INT8), (&start, Type::DATE), (&end, Type::DATE)],
    )
    .await
}

/// This week's and last week's counts (all, with a mood, with a positive mood), the latest diary
/// date, this week's most frequent mood, the stored weekly summary and the current streak.
pub struct WeeklyRow {
    pub this_count: i64,
    pub this_moods: i64,
    pub this_positive: i64,
    pub last_count: i64,
    pub last_moods: i64,
    pub last_positive: i64,
    pub last_day: Option<NaiveDate>,
    pub dominant_mood: Option<String>,
    pub ai_summary: Option<String>,
    pub current_streak: i64,
}

crate::from_row!(WeeklyRow {
    this_count,
    this_moods,
    this_positive,
    last_count,
    last_moods,
    last_positive,
    last_day,
    dominant_mood,
    ai_summary,
    current_streak,
});

/// This week is Monday ($2) to today ($5); last week is the Monday ($3) to Sunday before.
const WEEKLY_SQL: &str = concat!(
    "with d as (select diary_date, mood from diaries where user_id = $1) \
    select \
        count(*) filter (where diary_date >= $2) as this_count, \
        count(*) filter (where diary_date >= $2 and mood is not null) as this_moods, \
        count(*) filter (where diary_date >= $2 and mood = any($4)) as this_positive, \
        count(*) filter (where diary_date >= $3 and diary_date < $2) as last_count, \
        count(*) filter (where diary_date >= $3 and diary_date < $2 and mood is not null) as last_moods, \
        count(*) filter (where diary_date >= $3 and diary_date < $2 and mood = any($4)) as last_positive, \
        max(diary_date) as last_day, \
        (select mood from d where diary_date >= $2 and mood is not null \
           group by mood order by count(*) desc, mood limit 1) as dominant_mood, \
        (select content #>> '{}' from ai_texts where user_id = $1 and kind = 'weekly_summary' and period = $2::text) as ai_summary, \
        (select coalesce(max(len), 0) from (",
    islands!(),
    ") islands where last_day >= $5::date - 1) as current_streak \
    from d"
);

/// The user's week starting `monday`, compared with the week before, as of `today`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn weekly(
    db: &mut impl Executor,
    user_id: i64,
    monday: NaiveDate,
    today: NaiveDate,
) -> db::Result<WeeklyRow> {
    let last_monday = monday - chrono::Duration::days(7);
    let positive: Vec<String> = POSITIVE_MOODS.iter().map(|m| (*m).to_owned()).collect();
    db.fetch_one(
        WEEKLY_SQL,
        &[
            (&user_id, Type::INT8),
            (&monday, Type::DATE),
            (&last_monday, Type::DATE),
            (&positive, Type::VARCHAR_ARRAY),
            (&today, Type::DATE),
        ],
    )
    .await
}

/// The user's latest stored prompt suggestions (a JSON array), if any.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn latest_prompts(db: &mut impl Executor, user_id: i64) -> db::Result<Option<Value>> {
    let stored: Option<db::Value<Value>> = db
        .fetch_opt(
            "select content as value from ai_texts where user_id = $1 and kind = 'prompts' order by period desc limit 1",
            &[(&user_id, Type::INT8)],
        )
        .await?;
    Ok(stored.map(|db::Value(content)| content))
}

/// Stores the user's AI text of `kind` for `period` (a week start or a day), replacing the one
/// there was.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, kind = kind))]
pub async fn store_text(
    db: &mut impl Executor,
    user_id: i64,
    kind: &str,
    period: &str,
    content: &Value,
) -> db::Result<()> {
    db.execute(
        "insert into ai_texts (user_id, kind, period, content) values ($1, $2, $3, $4) \
         on conflict (user_id, kind, period) do update set content = excluded.content, created_at = now()",
        &[(&user_id, Type::INT8), (&kind, Type::TEXT), (&period, Type::TEXT), (content, Type::JSONB)],
    )
    .await?;
    Ok(())
}

/// Deletes the user's prompt suggestions for periods before `period`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn drop_prompts_before(db: &mut impl Executor, user_id: i64, period: &str) -> db::Result<()> {
    db.execute(
        "delete from ai_texts where user_id = $1 and kind = 'prompts' and period < $2",
        &[(&user_id, Type::INT8), (&period, Type::TEXT)],
    )
    .await?;
    Ok(())
}
