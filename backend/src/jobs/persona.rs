//! Persona jobs: generate (7+ diaries), regenerate (same id, chats and customization kept; new
//! content only if the LLM output validates), the quiz's temporary persona, and level upgrades.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    JobKind,
    context::Context,
    error::{JobError, JobResult},
    reads::{self, ReadBy},
};
use crate::{
    data::{
        notifications,
        personas::{self, NewPersona},
    },
    llm::prompts::{self, Prompt},
};

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

impl Mode {
    /// The level the stored persona gets.
    fn level(&self) -> &str {
        match self {
            Self::Quiz { .. } => "temporary",
            Self::Upgrade { to } => to,
            Self::Generate | Self::Regenerate => "complete",
        }
    }

    /// The notification sent once the persona is stored: its type and title.
    fn notice(&self) -> (&'static str, &'static str) {
        match self {
            Self::Upgrade { .. } => ("persona_upgraded", "페르소나가 성장했어요! 🌱"),
            _ => ("persona_updated", "페르소나가 준비되었어요 ✨"),
        }
    }
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

/// Builds the user's persona as `mode` says and stores it, with a notification; the result names
/// the persona.
#[tracing::instrument(level = "info", skip_all, fields(job_id = job_id, user_id = user_id))]
pub async fn run(ctx: &Context, job_id: &str, user_id: i64, mode: &Mode) -> JobResult {
    let prompt = prompt(ctx, job_id, user_id, mode).await?;
    let generated: Generated = ctx.llm.complete_json(&prompt, validate).await?;
    let persona_id = store(ctx, user_id, mode, &generated).await?;
    metrics::counter!("personas_generated_total").increment(1);
    tracing::info!(persona_id, "persona stored");
    Ok(Some(json!({ "persona_id": persona_id })))
}

/// The quiz's trait words, or the user's latest 20 diaries.
async fn prompt(ctx: &Context, job_id: &str, user_id: i64, mode: &Mode) -> Result<Prompt, JobError> {
    Ok(match mode {
        Mode::Quiz { traits } => prompts::quiz_persona(&traits.iter().map(String::as_str).collect::<Vec<_>>()),
        _ => {
            let by = ReadBy { job_id, kind: JobKind::Persona, friend: None };
            prompts::persona(&reads::latest(&mut ctx.db.writer().await?, user_id, 20, None, by).await?)
        }
    })
}

/// Stores the generated persona and its notification in one transaction, then reports the write
/// (the persona's cache entry and the friends' lists showing it change); the persona's id.
async fn store(ctx: &Context, user_id: i64, mode: &Mode, generated: &Generated) -> Result<i64, JobError> {
    let traits: Vec<String> = generated.traits.iter().map(|t| t.trim().to_owned()).collect();
    let name = generated.name.trim();
    let persona = NewPersona {
        user_id,
        name,
        personality: &generated.personality,
        traits: &traits,
        speaking_style: generated.speaking_style.as_deref(),
        level: mode.level(),
    };
    let mut db = ctx.db.writer().await?;
    let mut tx = db.transaction().await?;
    let persona_id = match mode {
        // First persona: a concurrent duplicate keeps the existing one.
        Mode::Generate | Mode::Quiz { .. } => personas::insert_first(&mut tx, &persona).await?,
        // Same row: id, chats, customization and visibility are kept.
        Mode::Regenerate | Mode::Upgrade { .. } => personas::replace_content(&mut tx, &persona).await?,
    };
    let (kind, title) = mode.notice();
    notifications::insert(&mut tx, user_id, kind, title, &format!("{name}을(를) 만나보세요.")).await?;
    tx.commit().await?;
    let keys = personas::changed_keys(&mut db, user_id).await;
    ctx.writes.committed(&mut db, user_id, &keys).await?;
    Ok(persona_id)
}
