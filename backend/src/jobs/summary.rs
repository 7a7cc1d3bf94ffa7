//! Short AI texts cached per user and period: the weekly insight's one-line summary and the
//! diary prompt suggestions. GETs read what these jobs stored, or the contract's fallback.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use super::worker::{JobError, JobResult, WorkerState};
use crate::{
    platform::db::Executor,
    platform::cache::{Cache, CacheKey},
    llm::prompts,
};

#[derive(Deserialize)]
struct Summary {
    summary: String,
}

#[derive(Deserialize, Serialize)]
struct Prompts {
    prompts: Vec<PromptItem>,
}

#[derive(Deserialize, Serialize)]
struct PromptItem {
    title: String,
    description: String,
}

async fn store(state: &WorkerState, user_id: i64, kind: &str, period: &str, content: &Value) -> Result<(), JobError> {
    let mut db = state.app.db.writer().await?;
    db.execute(
        "insert into ai_texts (user_id, kind, period, content) values ($1, $2, $3, $4) \
         on conflict (user_id, kind, period) do update set content = excluded.content, created_at = now()",
        &[(&user_id, Type::INT8), (&kind, Type::TEXT), (&period, Type::TEXT), (content, Type::JSONB)],
    )
    .await?;
    Ok(())
}

pub async fn weekly(state: &WorkerState, user_id: i64, week_start: NaiveDate) -> JobResult {
    let diaries = super::persona::latest_diaries(state, user_id, 7).await?;
    let week: Vec<_> = diaries.into_iter().filter(|d| d.date.as_str() >= week_start.to_string().as_str()).collect();
    if week.is_empty() {
        return Ok(Some(json!({ "skipped": "no diaries this week" })));
    }
    let s: Summary = state
        .llm
        .complete_json(&prompts::weekly_summary(&week), |s: &Summary| {
            if s.summary.trim().is_empty() || s.summary.chars().count() > 200 {
                Err("summary must be 1-200 characters".into())
            } else {
                Ok(())
            }
        })
        .await?;
    store(state, user_id, "weekly_summary", &week_start.to_string(), &json!(s.summary.trim())).await?;
    let today = crate::platform::time::today();
    state.app.cache.invalidate(&[CacheKey::new(Cache::WeeklyInsight, format!("{user_id}:{today}"))]).await;
    Ok(Some(json!({ "week_start": week_start })))
}

pub async fn prompts(state: &WorkerState, user_id: i64, day: NaiveDate) -> JobResult {
    let diaries = super::persona::latest_diaries(state, user_id, 5).await?;
    let p: Prompts = state
        .llm
        .complete_json(&prompts::prompt_suggestions(&diaries), |p: &Prompts| {
            if p.prompts.len() == 3
                && p.prompts.iter().all(|i| !i.title.trim().is_empty() && !i.description.trim().is_empty())
            {
                Ok(())
            } else {
                Err("need exactly 3 prompts with title and description".into())
            }
        })
        .await?;
    let content = serde_json::to_value(&p.prompts).map_err(|e| JobError::Internal(e.to_string()))?;
    store(state, user_id, "prompts", &day.to_string(), &content).await?;
    // Yesterday's suggestions stay useful until today's arrive; older ones are dropped.
    let mut db = state.app.db.writer().await?;
    db.execute(
        "delete from ai_texts where user_id = $1 and kind = 'prompts' and period < $2",
        &[(&user_id, Type::INT8), (&(day - Duration::days(1)).to_string(), Type::TEXT)],
    )
    .await?;
    Ok(Some(json!({ "day": day })))
}
