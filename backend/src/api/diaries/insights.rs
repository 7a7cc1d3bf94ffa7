//! Aggregates over a user's diaries, each computed in one SQL statement (never by loading every
//! diary): stats and streaks, the month calendar, the weekly insight; plus prompt suggestions.

use axum::{Json, extract::State};
use chrono::{Datelike, Duration, NaiveDate};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::auth::session::AuthUser,
    platform::cache::{Cache, CacheKey, Computed},
    platform::db::Lsn,
    platform::error::ApiResult,
    platform::http::{
        extract::QueryParams,
        validate::{Validate, Violations},
    },
    api::state::AppState,
    platform::time::today,
};

/// Moods that count as positive in the weekly insight.
const POSITIVE_MOODS: &[&str] = &["happy", "excited", "grateful", "hopeful", "calm"];

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

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Stats {
    total_count: i64,
    current_streak: i64,
    longest_streak: i64,
    /// Diaries per mood (only diaries with a mood).
    mood_distribution: BTreeMap<String, i64>,
    /// Diaries per `YYYY-MM`, the latest 12 months that have any.
    monthly_count: BTreeMap<String, i64>,
    weekly_average: f64,
}

#[utoipa::path(get, path = "/api/v1/diaries/stats", tag = "diaries", security(("bearer" = [])), responses((status = 200, body = Stats), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
pub async fn get_stats(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Stats>> {
    let key = CacheKey::new(Cache::Stats, format!("{}:{}", auth.id(), today()));
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    Ok(Json(state.cache.cached(&key, min_lsn, || compute_stats(&state, user_id, min_lsn)).await?))
}

async fn compute_stats(state: &AppState, user_id: i64, min_lsn: Option<Lsn>) -> ApiResult<Computed<Stats>> {
    let mut db = state.db.reader(min_lsn).await?;
    let row = db.query_one(STATS_SQL, &[(&user_id, Type::INT8), (&today(), Type::DATE)]).await?;
    let total: i64 = row.get("total");
    let first: Option<NaiveDate> = row.get("first_day");
    let last: Option<NaiveDate> = row.get("last_day");
    let weekly_average = match (first, last) {
        (Some(first), Some(last)) => {
            let span_days = (last - first).num_days() + 1;
            round(total as f64 / (span_days as f64 / 7.0).max(1.0), 1)
        }
        _ => 0.0,
    };
    Ok(Computed {
        role: db.role(),
        value: Stats {
            total_count: total,
            current_streak: row.get("current"),
            longest_streak: row.get("longest"),
            mood_distribution: serde_json::from_str(row.get("moods")).map_err(anyhow::Error::from)?,
            monthly_count: serde_json::from_str(row.get("monthly")).map_err(anyhow::Error::from)?,
            weekly_average,
        },
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Calendar {
    items: Vec<CalendarDay>,
    year: i64,
    month: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CalendarDay {
    diary_date: NaiveDate,
    mood: Option<String>,
    diary_id: i64,
}

#[derive(Deserialize, IntoParams)]
pub struct CalendarQuery {
    year: i64,
    month: i64,
}

impl Validate for CalendarQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("year", self.year, 2020, Some(2100));
        v.range("month", self.month, 1, Some(12));
    }
}

#[utoipa::path(get, path = "/api/v1/diaries/calendar", tag = "diaries", security(("bearer" = [])), params(CalendarQuery), responses((status = 200, body = Calendar), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
pub async fn get_calendar(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<CalendarQuery>,
) -> ApiResult<Json<Calendar>> {
    let key = calendar_key(auth.id(), q.year, q.month);
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    Ok(Json(state.cache.cached(&key, min_lsn, || compute_calendar(&state, user_id, min_lsn, q.year, q.month)).await?))
}

pub fn calendar_key(user_id: i64, year: i64, month: i64) -> CacheKey {
    CacheKey::new(Cache::Calendar, format!("{user_id}:{year}-{month}"))
}

async fn compute_calendar(
    state: &AppState,
    user_id: i64,
    min_lsn: Option<Lsn>,
    year: i64,
    month: i64,
) -> ApiResult<Computed<Calendar>> {
    // Validated ranges make both dates exist.
    let start = NaiveDate::from_ymd_opt(year as i32, month as u32, 1).expect("validated year/month");
    let end = if month == 12 {
        NaiveDate::from_ymd_opt(year as i32 + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year as i32, month as u32 + 1, 1)
    }
    .expect("validated year/month");
    let mut db = state.db.reader(min_lsn).await?;
    let rows = db
        .query(
            "select diary_date, mood, id from diaries where user_id = $1 and diary_date >= $2 and diary_date < $3 order by diary_date",
            &[(&user_id, Type::INT8), (&start, Type::DATE), (&end, Type::DATE)],
        )
        .await?;
    let items: Vec<CalendarDay> =
        rows.iter().map(|r| CalendarDay { diary_date: r.get(0), mood: r.get(1), diary_id: r.get(2) }).collect();
    Ok(Computed { role: db.role(), value: Calendar { items, year, month } })
}

/// The cached reads a diary write on `date` changes: the author's aggregates for today, that
/// month's calendar and the count.
pub fn keys_changed_by_diary_write(user_id: i64, date: NaiveDate) -> Vec<CacheKey> {
    let today = today();
    vec![
        CacheKey::new(Cache::Stats, format!("{user_id}:{today}")),
        CacheKey::new(Cache::WeeklyInsight, format!("{user_id}:{today}")),
        CacheKey::new(Cache::DiaryCount, user_id),
        calendar_key(user_id, i64::from(date.year()), i64::from(date.month())),
    ]
}

/// This week is Monday..today; last week is the Monday..Sunday before.
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

#[derive(Serialize, Deserialize, ToSchema)]
pub struct WeeklyInsight {
    diary_count: i64,
    positive_ratio: f64,
    positive_ratio_change: Option<f64>,
    current_streak: i64,
    ai_summary: Option<String>,
    last_diary_date: Option<NaiveDate>,
    dominant_mood: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/diaries/weekly-insight", tag = "diaries", security(("bearer" = [])), responses((status = 200, body = WeeklyInsight), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
pub async fn get_weekly_insight(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<WeeklyInsight>> {
    let key = CacheKey::new(Cache::WeeklyInsight, format!("{}:{}", auth.id(), today()));
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    Ok(Json(state.cache.cached(&key, min_lsn, || compute_weekly_insight(&state, user_id, min_lsn)).await?))
}

async fn compute_weekly_insight(
    state: &AppState,
    user_id: i64,
    min_lsn: Option<Lsn>,
) -> ApiResult<Computed<WeeklyInsight>> {
    let today = today();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let last_monday = monday - Duration::days(7);
    let positive: Vec<String> = POSITIVE_MOODS.iter().map(|m| (*m).to_owned()).collect();
    let mut db = state.db.reader(min_lsn).await?;
    let row = db
        .query_one(
            WEEKLY_SQL,
            &[
                (&user_id, Type::INT8),
                (&monday, Type::DATE),
                (&last_monday, Type::DATE),
                (&positive, Type::VARCHAR_ARRAY),
                (&today, Type::DATE),
            ],
        )
        .await?;
    let ratio = |positive: i64, with_mood: i64| {
        if with_mood == 0 { 0.0 } else { round(positive as f64 / with_mood as f64, 2) }
    };
    let this_ratio = ratio(row.get("this_positive"), row.get("this_moods"));
    let last_count: i64 = row.get("last_count");
    let change =
        (last_count > 0).then(|| round(this_ratio - ratio(row.get("last_positive"), row.get("last_moods")), 2));
    Ok(Computed {
        role: db.role(),
        value: WeeklyInsight {
            diary_count: row.get("this_count"),
            positive_ratio: this_ratio,
            positive_ratio_change: change,
            current_streak: row.get("current_streak"),
            // Written by the background worker once it exists; the contract's fallback meanwhile.
            // Written by the worker after each diary this week; null until then (the fallback).
            ai_summary: row.get::<_, Option<String>>("ai_summary").filter(|_| row.get::<_, i64>("this_count") > 0),
            last_diary_date: row.get("last_day"),
            dominant_mood: row.get("dominant_mood"),
        },
    })
}

#[derive(Serialize, ToSchema)]
pub struct Prompts {
    prompts: Vec<Prompt>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct Prompt {
    title: String,
    description: String,
}

/// Today's (or yesterday's) LLM-written prompts from the worker; the contract's fixed fallback
/// until the first ones exist.
#[utoipa::path(get, path = "/api/v1/diaries/prompt-suggestions", tag = "diaries", security(("bearer" = [])), responses((status = 200, body = Prompts), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
pub async fn get_prompt_suggestions(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Prompts>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let stored = db
        .query_opt(
            "select content from ai_texts where user_id = $1 and kind = 'prompts' order by period desc limit 1",
            &[(&auth.id(), Type::INT8)],
        )
        .await?;
    if let Some(prompts) = stored.and_then(|r| serde_json::from_value::<Vec<Prompt>>(r.get(0)).ok()) {
        return Ok(Json(Prompts { prompts }));
    }
    let prompt = |title: &str, description: &str| Prompt { title: title.into(), description: description.into() };
    Ok(Json(Prompts {
        prompts: vec![
            prompt("오늘 감사했던 순간", "오늘 하루 중 감사함을 느꼈던 작은 순간을 떠올려 적어보세요."),
            prompt("나를 웃게 한 일", "오늘 나를 미소 짓게 만든 사람이나 일이 있었나요?"),
            prompt("내일의 나에게", "내일의 나에게 전하고 싶은 응원의 한마디를 남겨보세요."),
        ],
    }))
}
