//! Short AI texts cached per user and period: the weekly insight's one-line summary and the
//! diary prompt suggestions. GETs read what these jobs stored, or the contract's fallback.

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    JobKind,
    context::Context,
    error::{JobError, JobResult},
    reads::{self, ReadBy},
};
use crate::{data::insights, llm::prompts, platform::time::today};

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

/// The user's latest `limit` diaries (from `since` on) as the prompts show them, newest first
/// (read on the primary: the job may run right after they were written; logged).
async fn latest_diaries(
    ctx: &Context,
    by: ReadBy<'_>,
    user_id: i64,
    limit: i64,
    since: Option<NaiveDate>,
) -> Result<Vec<prompts::DiaryText>, JobError> {
    reads::latest(&mut ctx.db.writer().await?, user_id, limit, since, by).await
}

/// Summarises the user's diaries of the week starting `week_start` in one line, stored for the
/// weekly insight (the job span carries its id).
#[tracing::instrument(level = "info", skip_all, fields(user_id = user_id, %week_start))]
pub async fn weekly(ctx: &Context, job_id: &str, user_id: i64, week_start: NaiveDate) -> JobResult {
    let by = ReadBy { job_id, kind: JobKind::WeeklySummary, friend: None };
    let week = latest_diaries(ctx, by, user_id, 7, Some(week_start)).await?;
    if week.is_empty() {
        return Ok(Some(json!({ "skipped": "no diaries this week" })));
    }
    let s: Summary = ctx.llm.complete_json(&prompts::weekly_summary(&week), validate_summary).await?;
    let mut db = ctx.db.writer().await?;
    insights::store_text(&mut db, user_id, "weekly_summary", &week_start.to_string(), &json!(s.summary.trim())).await?;
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
pub async fn prompts(ctx: &Context, job_id: &str, user_id: i64, day: NaiveDate) -> JobResult {
    let by = ReadBy { job_id, kind: JobKind::PromptSuggestions, friend: None };
    let diaries = latest_diaries(ctx, by, user_id, 5, None).await?;
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
