//! Persona levels: where the user's persona stands (and how far the next level is), and the
//! upgrade to the next level once enough diaries are written.

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::types::{PersonaLevel, Upgraded};
use crate::{
    api::{
        auth::session::AuthUser,
        personas::{Outcome, run_job},
        state::AppState,
    },
    data::{diaries, personas},
    jobs::persona::Mode,
    platform::error::{ApiError, ApiResult, ErrorBody, Unauthenticated},
};

/// A persona level as the UI shows it.
struct Level {
    name: &'static str,
    label: &'static str,
    description: &'static str,
    /// Diaries needed to reach it.
    min_diaries: i64,
    next: Option<&'static str>,
}

const LEVELS: [Level; 3] = [
    Level {
        name: "temporary",
        label: "임시 페르소나",
        description: "퀴즈 답변으로 만들어진 첫 페르소나예요.",
        min_diaries: 0,
        next: Some("basic"),
    },
    Level {
        name: "basic",
        label: "기본 페르소나",
        description: "일기 3개로 성장한 페르소나예요.",
        min_diaries: 3,
        next: Some("complete"),
    },
    Level {
        name: "complete",
        label: "완전한 페르소나",
        description: "일기 7개 이상으로 완성된 페르소나예요.",
        min_diaries: 7,
        next: None,
    },
];

fn level(name: &str) -> Option<&'static Level> {
    LEVELS.iter().find(|l| l.name == name)
}

/// Without a persona: 200 with `current_level: null`.
#[utoipa::path(
    get, path = "/api/v1/quiz/persona-level", tag = "quiz",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PersonaLevel),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_persona_level(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<PersonaLevel>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let progress = personas::level_progress(&mut db, auth.id()).await?;
    let count = progress.diary_count;
    Ok(Json(match progress.level.as_deref().and_then(level) {
        Some(current) => level_of(current, count),
        None => no_persona(count),
    }))
}

/// The user has no persona yet: the quiz makes the first one.
fn no_persona(diary_count: i64) -> PersonaLevel {
    PersonaLevel {
        current_level: None,
        level_name: "페르소나 없음".into(),
        description: "퀴즈를 완료하면 임시 페르소나가 만들어져요.".into(),
        diary_count,
        next_level: Some("temporary".into()),
        next_level_name: Some("임시 페르소나".into()),
        diaries_needed: Some(0),
        progress_percent: 0,
    }
}

/// `current` with the way to the next level: the diaries still needed and the progress from this
/// level's threshold to the next one's (100 at the top level).
fn level_of(current: &Level, diary_count: i64) -> PersonaLevel {
    let next = current.next.and_then(level);
    let (diaries_needed, progress) = match next {
        Some(next) => {
            let (done, span) = (diary_count - current.min_diaries, next.min_diaries - current.min_diaries);
            (Some((next.min_diaries - diary_count).max(0)), ((done as f64 / span as f64) * 100.0).floor() as i64)
        }
        None => (None, 100),
    };
    PersonaLevel {
        current_level: Some(current.name.into()),
        level_name: current.label.into(),
        description: current.description.into(),
        diary_count,
        next_level: current.next.map(Into::into),
        next_level_name: next.map(|l| l.label.to_owned()),
        diaries_needed,
        progress_percent: progress.min(100),
    }
}

#[utoipa::path(
    post, path = "/api/v1/quiz/upgrade-persona", tag = "quiz",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Upgraded),
        (status = 202, description = "With `Prefer: respond-async`"),
        (status = 400, description = "No persona found. Complete the quiz first. | Your persona is already at the highest level. | Write N more diaries to upgrade.", body = ErrorBody),
        Unauthenticated,
        (status = 500, description = "Failed to upgrade persona. Please try again.", body = ErrorBody),
        (status = 429, description = "Monthly AI budget used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn upgrade_persona(State(state): State<AppState>, auth: AuthUser, headers: HeaderMap) -> ApiResult<Response> {
    let next = next_level(&state, auth.id()).await?;
    let failure = "Failed to upgrade persona. Please try again.";
    let persona = match run_job(&state, &headers, auth.id(), Mode::Upgrade { to: next.name.into() }, failure).await? {
        Outcome::Accepted(response) => return Ok(response),
        Outcome::Stored(persona) => persona,
    };
    Ok(Json(Upgraded {
        success: true,
        new_level: persona.level,
        level_name: next.label.into(),
        message: format!("페르소나가 {}(으)로 성장했어요!", next.label),
    })
    .into_response())
}

/// The level the user's persona can be upgraded to now: it needs a persona below the top level
/// and the next level's diaries.
async fn next_level(state: &AppState, user_id: i64) -> ApiResult<&'static Level> {
    let mut db = state.db.writer().await?;
    let persona = personas::find(&mut db, user_id)
        .await?
        .ok_or_else(|| ApiError::bad_request("No persona found. Complete the quiz first."))?;
    let Some(next) = level(&persona.level).and_then(|l| l.next) else {
        return Err(ApiError::bad_request("Your persona is already at the highest level."));
    };
    let next = level(next).expect("every next level is a level");
    let count = diaries::count(&mut db, user_id).await?;
    if count < next.min_diaries {
        return Err(ApiError::bad_request(format!("Write {} more diaries to upgrade.", next.min_diaries - count)));
    }
    Ok(next)
}
