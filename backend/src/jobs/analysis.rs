//! Per-diary mental analysis and feedback, enqueued in the same transaction as the diary write.
//! An update re-runs it and replaces the stored analysis; a deleted diary makes it a no-op. The
//! diary's embedding is refreshed first, from the same read (`embed`).

use serde::Deserialize;
use serde_json::json;

use super::{
    JobKind,
    context::Context,
    embed,
    error::{JobError, JobResult},
    reads::{self, ReadBy},
};
use crate::{
    data::{
        diaries::{self, NewAnalysis},
        mental::{Axes, MentalFeedback, OVERALL_STATUSES},
    },
    llm::prompts,
};

/// The LLM's analysis of one diary: six axis scores, the overall status and the feedback.
#[derive(Deserialize)]
struct Analysis {
    #[serde(flatten)]
    axes: Axes,
    overall_status: String,
    feedback: MentalFeedback,
}

/// Rejects an analysis outside the stored ranges (the LLM is asked again).
fn validate(a: &Analysis) -> Result<(), String> {
    let scores = a.axes.values();
    if scores.iter().any(|s| !(0..=100).contains(s)) {
        return Err(format!("scores must be 0-100: {scores:?}"));
    }
    if !OVERALL_STATUSES.contains(&a.overall_status.as_str()) {
        return Err(format!("unknown overall_status {:?}", a.overall_status));
    }
    let f = &a.feedback;
    if [&f.status_label, &f.message, &f.encouragement, &f.emoji].iter().any(|t| t.trim().is_empty()) {
        return Err("feedback has empty fields".into());
    }
    Ok(())
}

/// Analyses the user's diary `diary_id` and stores the result (the job span carries its id).
#[tracing::instrument(level = "info", skip_all, fields(user_id = user_id, diary_id = diary_id))]
pub async fn run(ctx: &Context, job_id: &str, user_id: i64, diary_id: i64) -> JobResult {
    // Read on the primary (the job may run right after the diary was written), and not held
    // through the LLM call. A `private` diary reads as absent: it never reaches the LLM.
    let mut db = ctx.db.writer().await?;
    let by = ReadBy { job_id, kind: JobKind::DiaryAnalysis, friend: None };
    let Some(diary) = reads::one(&mut db, user_id, diary_id, by).await? else {
        drop(db);
        embed::forget(ctx, diary_id).await?;
        return Ok(Some(json!({ "skipped": "diary deleted or private" })));
    };
    drop(db);
    embed::refresh(ctx, user_id, &diary).await?;
    let analysis_date = diary.diary_date;
    let a: Analysis = ctx.llm.complete_json(&prompts::analysis(&reads::prompt_text(diary)), validate).await?;
    let feedback = serde_json::to_value(&a.feedback).map_err(|e| JobError::Internal(e.to_string()))?;
    let analysis = NewAnalysis {
        user_id,
        diary_id,
        // Validated as 0-100 above, so each score fits a smallint.
        scores: a.axes.values().map(|s| s as i16),
        overall_status: &a.overall_status,
        analysis_date,
        feedback: &feedback,
    };
    match diaries::save_analysis(&mut ctx.db.writer().await?, &analysis).await {
        Ok(id) => Ok(Some(json!({ "analysis_id": id }))),
        // Deleted while the model was answering: nothing to store.
        Err(err) if err.constraint() == Some("mental_analyses_diary_id_fkey") => {
            Ok(Some(json!({ "skipped": "diary deleted" })))
        }
        Err(err) => Err(err.into()),
    }
}
