//! Aggregates over a user's diaries, each computed in one SQL statement (never by loading every
//! diary): stats and streaks, the month calendar, the weekly insight; plus prompt suggestions.

use axum::{Json, extract::State};
use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use crate::{
    auth::session::AuthUser,
    error::ApiResult,
    http::{
        extract::QueryParams,
        validate::{Validate, Violations},
    },
    state::AppState,
    time::today,
};

/// Moods that count as positive in the weekly insight.
const POSITIVE_MOODS: &[&str] = &["happy", "excited", "grateful", "hopeful", "calm"];

/// Streaks by gaps-and-islands: consecutive dates share `diary_date - row_number`. The current
/// streak is the island ending today or yesterday.
const STATS_SQL: &str = "\
    with d as (select diary_date, mood from diaries where user_id = $1), \
    islands as ( \
        select max(diary_date) as last_day, count(*) as len \
        from (select diary_date, diary_date - (row_number() over (order by diary_date))::int as grp from d) x \
        group by grp) \
    select \
        (select count(*) from d) as total, \
        (select coalesce(max(len), 0) from islands) as longest, \
        (select coalesce(max(len), 0) from islands where last_day >= $2::date - 1) as current, \
        (select coalesce(json_object_agg(mood, n), '{}')::text \
           from (select mood, count(*) as n from d where mood is not null group by mood) m) as moods, \
        (select coalesce(json_object_agg(ym, n), '{}')::text \
           from (select to_char(diary_date, 'YYYY-MM') as ym, count(*) as n from d group by 1 order by 1 desc limit 12) m) as monthly, \
        (select min(diary_date) from d) as first_day, \
        (select max(diary_date) from d) as last_day";

pub async fn get_stats(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Value>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db.query_one(STATS_SQL, &[(&auth.id(), Type::INT8), (&today(), Type::DATE)]).await?;
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
    let moods: Value = serde_json::from_str(row.get("moods")).map_err(anyhow::Error::from)?;
    let monthly: Value = serde_json::from_str(row.get("monthly")).map_err(anyhow::Error::from)?;
    Ok(Json(json!({
        "total_count": total,
        "current_streak": row.get::<_, i64>("current"),
        "longest_streak": row.get::<_, i64>("longest"),
        "mood_distribution": moods,
        "monthly_count": monthly,
        "weekly_average": weekly_average,
    })))
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[derive(Deserialize)]
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

pub async fn get_calendar(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<CalendarQuery>,
) -> ApiResult<Json<Value>> {
    // Validated ranges make both dates exist.
    let start = NaiveDate::from_ymd_opt(q.year as i32, q.month as u32, 1).expect("validated year/month");
    let end = if q.month == 12 {
        NaiveDate::from_ymd_opt(q.year as i32 + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(q.year as i32, q.month as u32 + 1, 1)
    }
    .expect("validated year/month");
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db
        .query(
            "select diary_date, mood, id from diaries where user_id = $1 and diary_date >= $2 and diary_date < $3 order by diary_date",
            &[(&auth.id(), Type::INT8), (&start, Type::DATE), (&end, Type::DATE)],
        )
        .await?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "diary_date": r.get::<_, NaiveDate>(0), "mood": r.get::<_, Option<String>>(1), "diary_id": r.get::<_, i64>(2) }))
        .collect();
    Ok(Json(json!({ "items": items, "year": q.year, "month": q.month })))
}

/// This week is Monday..today; last week is the Monday..Sunday before.
const WEEKLY_SQL: &str = "\
    with d as (select diary_date, mood from diaries where user_id = $1) \
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
        (select coalesce(max(len), 0) from ( \
           select max(diary_date) as last_day, count(*) as len \
           from (select diary_date, diary_date - (row_number() over (order by diary_date))::int as grp from d) x \
           group by grp) islands where last_day >= $5::date - 1) as current_streak \
    from d";

pub async fn get_weekly_insight(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Value>> {
    let today = today();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let last_monday = monday - Duration::days(7);
    let positive: Vec<String> = POSITIVE_MOODS.iter().map(|m| (*m).to_owned()).collect();
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_one(
            WEEKLY_SQL,
            &[
                (&auth.id(), Type::INT8),
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
    Ok(Json(json!({
        "diary_count": row.get::<_, i64>("this_count"),
        "positive_ratio": this_ratio,
        "positive_ratio_change": change,
        "current_streak": row.get::<_, i64>("current_streak"),
        // Written by the background worker once it exists; the contract's fallback meanwhile.
        "ai_summary": Value::Null,
        "last_diary_date": row.get::<_, Option<NaiveDate>>("last_day"),
        "dominant_mood": row.get::<_, Option<String>>("dominant_mood"),
    })))
}

/// The contract's fallback prompts (LLM-written ones arrive with the worker).
pub async fn get_prompt_suggestions(_auth: AuthUser) -> Json<Value> {
    Json(json!({ "prompts": [
        { "title": "오늘 감사했던 순간", "description": "오늘 하루 중 감사함을 느꼈던 작은 순간을 떠올려 적어보세요." },
        { "title": "나를 웃게 한 일", "description": "오늘 나를 미소 짓게 만든 사람이나 일이 있었나요?" },
        { "title": "내일의 나에게", "description": "내일의 나에게 전하고 싶은 응원의 한마디를 남겨보세요." },
    ]}))
}
