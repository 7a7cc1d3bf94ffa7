//! Short AI texts cached per user and period: the weekly insight's one-line summary and the
//! diary prompt suggestions. GETs read what these jobs stored, or the contract's fallback.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    analysis::prompt_text,
    context::Context,
    error::{JobError, JobResult},
};
use crate::{
    data::{insights, personas},
    llm::prompts,
    platform::time::today,
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

/// The user's latest `limit` diaries as the prompts show them, newest first (read on the
/// primary: the job may run right after they were written).
async fn latest_diaries(ctx: &Context, user_id: i64, limit: i64) -> Result<Vec<prompts::DiaryText>, JobError> {
    let diaries = personas::latest_diaries(&mut ctx.db.writer().await?, user_id, limit).await?;
    Ok(diaries.into_iter().map(prompt_text).collect())
}

/// Summarises the user's diaries of the week starting `week_start` in one line, stored for the
/// weekly insight (the job span carries its id).
#[tracing::instrument(level = "info", skip_all, fields(user_id = user_id, %week_start))]
pub async fn weekly(ctx: &Context, user_id: i64, week_start: NaiveDate) -> JobResult {
    let since = week_start.to_string();
    let week: Vec<_> = latest_diaries(ctx, user_id, 7).await?.into_iter().filter(|d| d.date >= since).collect();
    if week.is_empty() {
        return Ok(Some(json!({ "skipped": "no diaries this week" })));
    }
    let s: Summary = ctx.llm.complete_json(&prompts::weekly_summary(&week), validate_summary).await?;
    let mut db = ctx.db.writer().await?;
    insights::store_text(&mut db, user_id, "weekly_summary", &since, &json!(s.summary.trim())).await?;
    // Today's cached weekly insight goes, so it shows the new summary.
    ctx.writes.committed(&mut db, user_id, &[insights::weekly_insight_key(user_id, today())]).await?;
    Ok(Some(json!({ "week_start": week_start })))
}

fn validate_summary(s: &Summary) -> Result<(), String> {
    if s.summary.trim().is_empty() || s.summary.chars().count() > 200 {
        Err("summary must be 1-200 characters".into())
    } else {
        Ok(())
    }
}

/// Writes the user's three diary prompt suggestions for `day` from their latest diaries (the job
/// span carries its id).
#[tracing::instrument(level = "info", skip_all, fields(user_id = user_id, %day))]
pub async fn prompts(ctx: &Context, user_id: i64, day: NaiveDate) -> JobResult {
    let diaries = latest_diaries(ctx, user_id, 5).await?;
    let p: Prompts = ctx.llm.complete_json(&prompts::prompt_suggestions(&diaries), validate_prompts).await?;
    let content = serde_json::to_value(&p.prompts).map_err(|e| JobError::Internal(e.to_string()))?;
    let mut db = ctx.db.writer().await?;
    insights::store_text(&mut db, user_id, "prompts", &day.to_string(), &content).await?;
    // Yesterday's suggestions stay useful until today's arrive; older ones are dropped.
    insights::drop_prompts_before(&mut db, user_id, &(day - Duration::days(1)).to_string()).await?;
    Ok(Some(json!({ "day": day })))
}

fn validate_prompts(p: &Prompts) -> Result<(), String> {
    if p.prompts.len() == 3 && p.prompts.iter().all(|i| !i.title.trim().is_empty() && !i.description.trim().is_empty())
    {
        Ok(())
    } else {
        Err("need exactly 3 prompts with title and description".into())
    }
}
