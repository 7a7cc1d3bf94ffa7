//! Persona jobs: generate (7+ diaries), regenerate (same id, chats and customization kept; new
//! content only if the LLM output validates), the quiz's temporary persona, and level upgrades.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_postgres::types::Type;

use super::worker::{JobError, JobResult, WorkerState};
use crate::llm::prompts::{self, DiaryText};

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    Generate,
    Regenerate,
    /// The quiz's trait words seed a temporary persona.
    Quiz {
        traits: Vec<String>,
    },
    /// One level up (`basic` or `complete`), content rebuilt from the diaries.
    Upgrade {
        to: String,
    },
}

/// What the LLM must return; validated before anything is stored.
#[derive(Deserialize)]
struct Generated {
    name: String,
    personality: String,
    traits: Vec<String>,
    speaking_style: Option<String>,
}

fn validate(g: &Generated) -> Result<(), String> {
    let name = g.name.trim().chars().count();
    if name == 0 || name > 100 {
        return Err(format!("name must be 1-100 characters, got {name}"));
    }
    if g.personality.trim().is_empty() {
        return Err("personality is empty".into());
    }
    if g.traits.is_empty() || g.traits.len() > 10 || g.traits.iter().any(|t| t.trim().is_empty()) {
        return Err("traits must be 1-10 non-empty words".into());
    }
    Ok(())
}

pub async fn run(state: &WorkerState, job_id: &str, user_id: i64, mode: &Mode) -> JobResult {
    let app = &state.app;
    let prompt = match mode {
        Mode::Quiz { traits } => prompts::quiz_persona(&traits.iter().map(String::as_str).collect::<Vec<_>>()),
        _ => prompts::persona(&latest_diaries(state, user_id, 20).await?),
    };
    let generated: Generated = state.llm.complete_json(&prompt, validate).await?;
    let traits: Vec<String> = generated.traits.iter().map(|t| t.trim().to_owned()).collect();
    let name: String = generated.name.trim().to_owned();

    let mut db = app.db.writer().await?;
    let mut tx = db.transaction().await?;
    let (sql, level): (&str, Option<&str>) = match mode {
        // First persona: insert; a concurrent duplicate keeps the existing one.
        Mode::Generate | Mode::Quiz { .. } => (
            "insert into personas (user_id, name, personality, traits, speaking_style, level) values ($1, $2, $3, $4, $5, $6) \
             on conflict (user_id) do update set updated_at = personas.updated_at returning id",
            Some(if matches!(mode, Mode::Quiz { .. }) { "temporary" } else { "complete" }),
        ),
        // Same row: id, chats, customization and visibility are kept.
        Mode::Regenerate | Mode::Upgrade { .. } => (
            "insert into personas (user_id, name, personality, traits, speaking_style, level) values ($1, $2, $3, $4, $5, coalesce($6, 'complete')) \
             on conflict (user_id) do update set name = excluded.name, personality = excluded.personality, traits = excluded.traits, \
             speaking_style = excluded.speaking_style, level = coalesce($6, personas.level), updated_at = now() returning id",
            match mode {
                Mode::Upgrade { to } => Some(to.as_str()),
                _ => Some("complete"),
            },
        ),
    };
    let rows = tx
        .query_typed(
            sql,
            &[
                (&user_id, Type::INT8),
                (&name, Type::VARCHAR),
                (&generated.personality, Type::TEXT),
                (&traits, Type::TEXT_ARRAY),
                (&generated.speaking_style, Type::TEXT),
                (&level, Type::TEXT),
            ],
        )
        .await?;
    let persona_id: i64 =
        rows.first().ok_or_else(|| JobError::Internal("persona upsert returned nothing".into()))?.get(0);
    let (kind, title) = match mode {
        Mode::Upgrade { .. } => ("persona_upgraded", "페르소나가 성장했어요! 🌱"),
        _ => ("persona_updated", "페르소나가 준비되었어요 ✨"),
    };
    tx.execute_typed(
        "insert into notifications (user_id, type, title, content) values ($1, $2, $3, $4)",
        &[
            (&user_id, Type::INT8),
            (&kind, Type::TEXT),
            (&title, Type::VARCHAR),
            (&format!("{name}을(를) 만나보세요."), Type::TEXT),
        ],
    )
    .await?;
    tx.commit().await?;
    crate::api::personas::invalidate(app, &mut db, user_id).await;
    metrics::counter!("personas_generated_total").increment(1);
    tracing::info!(job_id, user_id, persona_id, "persona stored");
    Ok(Some(json!({ "persona_id": persona_id })))
}

/// The user's latest diaries, newest first (read on the primary: the job may run right after
/// the diaries were written).
pub async fn latest_diaries(state: &WorkerState, user_id: i64, limit: i64) -> Result<Vec<DiaryText>, JobError> {
    let mut db = state.app.db.writer().await?;
    let rows = db
        .query(
            "select diary_date::text, title::text, content, mood::text from diaries where user_id = $1 order by diary_date desc limit $2",
            &[(&user_id, Type::INT8), (&limit, Type::INT8)],
        )
        .await?;
    Ok(rows.iter().map(|r| DiaryText { date: r.get(0), title: r.get(1), content: r.get(2), mood: r.get(3) }).collect())
}
