//! Diary prompt suggestions: the latest ones the worker wrote, or a fixed fallback.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::insights,
    platform::error::{ApiResult, Unauthenticated},
};

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
#[utoipa::path(
    get, path = "/api/v1/diaries/prompt-suggestions", tag = "diaries",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Prompts),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_prompt_suggestions(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Prompts>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let stored = insights::latest_prompts(&mut db, auth.id()).await?;
    // Stored content that does not parse (it never should) falls back like none stored.
    let prompts = stored.and_then(|content| serde_json::from_value::<Vec<Prompt>>(content).ok());
    Ok(Json(Prompts { prompts: prompts.unwrap_or_else(fallback) }))
}

/// The contract's fixed suggestions.
fn fallback() -> Vec<Prompt> {
    let prompt = |title: &str, description: &str| Prompt { title: title.into(), description: description.into() };
    vec![
        prompt("오늘 감사했던 순간", "오늘 하루 중 감사함을 느꼈던 작은 순간을 떠올려 적어보세요."),
        prompt("나를 웃게 한 일", "오늘 나를 미소 짓게 만든 사람이나 일이 있었나요?"),
        prompt("내일의 나에게", "내일의 나에게 전하고 싶은 응원의 한마디를 남겨보세요."),
    ]
}
