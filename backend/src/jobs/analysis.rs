//! Per-diary mental analysis and feedback, enqueued in the same transaction as the diary write.
//! An update re-runs it and replaces the stored analysis; a deleted diary makes it a no-op.

use serde::Deserialize;
use serde_json::{Value, json};
use tokio_postgres::types::Type;

use super::worker::{JobResult, WorkerState};
use crate::{
    llm::prompts::{self, DiaryText},
    api::mental::MentalFeedback,
};

#[derive(Deserialize)]
struct Analysis {
    emotional_stability: i64,
    vitality: i64,
    self_esteem: i64,
    positivity: i64,
    social_connection: i64,
    resilience: i64,
    overall_status: String,
    feedback: MentalFeedback,
}

fn validate(a: &Analysis) -> Result<(), String> {
    let scores = [a.emotional_stability, a.vitality, a.self_esteem, a.positivity, a.social_connection, a.resilience];
    if scores.iter().any(|s| !(0..=100).contains(s)) {
        return Err(format!("scores must be 0-100: {scores:?}"));
    }
    if !["good", "neutral", "concerning", "critical"].contains(&a.overall_status.as_str()) {
        return Err(format!("unknown overall_status {:?}", a.overall_status));
    }
    let f = &a.feedback;
    if [&f.status_label, &f.message, &f.encouragement, &f.emoji].iter().any(|t| t.trim().is_empty()) {
        return Err("feedback has empty fields".into());
    }
    Ok(())
}

pub async fn run(state: &WorkerState, user_id: i64, diary_id: i64) -> JobResult {
    let mut db = state.app.db.writer().await?;
    let Some(row) = db
        .query_opt(
            "select diary_date, title::text, content, mood::text from diaries where id = $1 and user_id = $2",
            &[(&diary_id, Type::INT8), (&user_id, Type::INT8)],
        )
        .await?
    else {
        return Ok(Some(json!({ "skipped": "diary deleted" })));
    };
    let date: chrono::NaiveDate = row.get(0);
    let diary = DiaryText { date: date.to_string(), title: row.get(1), content: row.get(2), mood: row.get(3) };
    drop(db);
    let a: Analysis = state.llm.complete_json(&prompts::analysis(&diary), validate).await?;
    let feedback: Value =
        serde_json::to_value(&a.feedback).map_err(|e| super::worker::JobError::Internal(e.to_string()))?;
    let score = |s: i64| s as i16;
    let mut db = state.app.db.writer().await?;
    let row = db
        .query_one(
            "insert into mental_analyses (user_id, diary_id, emotional_stability_score, vitality_score, self_esteem_score, \
                 positivity_score, social_connection_score, resilience_score, overall_status, analysis_date, feedback) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             on conflict (diary_id) do update set emotional_stability_score = excluded.emotional_stability_score, \
                 vitality_score = excluded.vitality_score, self_esteem_score = excluded.self_esteem_score, \
                 positivity_score = excluded.positivity_score, social_connection_score = excluded.social_connection_score, \
                 resilience_score = excluded.resilience_score, overall_status = excluded.overall_status, \
                 analysis_date = excluded.analysis_date, feedback = excluded.feedback, created_at = now() \
             returning id",
            &[
                (&user_id, Type::INT8),
                (&diary_id, Type::INT8),
                (&score(a.emotional_stability), Type::INT2),
                (&score(a.vitality), Type::INT2),
                (&score(a.self_esteem), Type::INT2),
                (&score(a.positivity), Type::INT2),
                (&score(a.social_connection), Type::INT2),
                (&score(a.resilience), Type::INT2),
                (&a.overall_status, Type::TEXT),
                (&date, Type::DATE),
                (&feedback, Type::JSONB),
            ],
        )
        .await?;
    let id: i64 = row.get(0);
    Ok(Some(json!({ "analysis_id": id })))
}
