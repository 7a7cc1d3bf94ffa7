//! Personas (contract 4.4). Generation runs in the worker; the frontend's calls still return
//! `{persona, message}` by waiting for the job (bounded), or get 202 + `Location` with
//! `Prefer: respond-async`. A friend's persona is visible to accepted friends only, and only
//! when public. The own persona is cached (1 h) and invalidated on every change, together with
//! the friends' lists that show it.

use axum::{
    Json, Router,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Row, types::Type};
use utoipa::ToSchema;

use crate::{
    api::auth::session::AuthUser,
    platform::cache::{Cache, CacheKey, Computed},
    platform::db::Conn,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, IdPath},
        validate::{Validate, Violations},
    },
    jobs::{self, AiJob, persona::Mode},
    api::state::AppState,
};

pub const MIN_DIARIES: i64 = 7;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/personas/status", get(get_status))
        .route("/personas/me", get(get_my_persona).put(update_my_persona))
        .route("/personas/me/customize", put(customize_my_persona))
        .route("/personas/generate", post(generate_persona))
        .route("/personas/regenerate", post(regenerate_persona))
        .route("/personas/{user_id}", get(get_friend_persona))
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Customization {
    speaking_style_tone: Option<String>,
    speaking_style_emoji: Option<bool>,
    personality_traits_override: Option<Vec<String>>,
    custom_greeting: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Persona {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub personality: String,
    pub traits: Option<Vec<String>>,
    pub speaking_style: Option<String>,
    pub avatar_url: Option<String>,
    pub is_public: bool,
    pub customization: Option<Customization>,
    /// `temporary` | `basic` | `complete`
    pub level: String,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    pub updated_at: DateTime<Utc>,
}

pub const PERSONA_COLUMNS: &str = "id, user_id, name::text, personality, traits, speaking_style, avatar_url, is_public, customization, level, created_at, updated_at";

impl Persona {
    pub fn from_row(row: &Row) -> Self {
        let customization: Option<Value> = row.get("customization");
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            name: row.get("name"),
            personality: row.get("personality"),
            traits: row.get("traits"),
            speaking_style: row.get("speaking_style"),
            avatar_url: row.get("avatar_url"),
            is_public: row.get("is_public"),
            // Stored sparse; always returned with all four keys.
            customization: customization.and_then(|c| serde_json::from_value(c).ok()),
            level: row.get("level"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

pub async fn load(db: &mut Conn, user_id: i64) -> ApiResult<Option<Persona>> {
    let sql = format!("select {PERSONA_COLUMNS} from personas where user_id = $1");
    Ok(db.query_opt(&sql, &[(&user_id, Type::INT8)]).await?.as_ref().map(Persona::from_row))
}

/// `user_id`'s persona through the cache (`None` is cached too: most users have none yet).
async fn cached(state: &AppState, user_id: i64, min_lsn: Option<crate::platform::db::Lsn>) -> ApiResult<Option<Persona>> {
    state
        .cache.cached(&CacheKey::new(Cache::Persona, user_id), min_lsn, || async {
            let mut db = state.db.reader(min_lsn).await?;
            Ok(Computed { value: load(&mut db, user_id).await?, role: db.role() })
        })
        .await
}

/// After a persona changes: its cache entry and every friend's list that shows it.
pub async fn invalidate(state: &AppState, db: &mut Conn, user_id: i64) {
    let mut keys = vec![CacheKey::new(Cache::Persona, user_id)];
    if let Ok(rows) = db.query(crate::api::friends::FRIEND_IDS, &[(&user_id, Type::INT8)]).await {
        keys.extend(rows.iter().map(|r| CacheKey::new(Cache::FriendsWithPersona, r.get::<_, i64>(0))));
    }
    state.cache.invalidate(&keys).await;
}

async fn diary_count(db: &mut Conn, user_id: i64) -> ApiResult<i64> {
    Ok(db.query_one("select count(*) from diaries where user_id = $1", &[(&user_id, Type::INT8)]).await?.get(0))
}

#[derive(Serialize, ToSchema)]
pub struct PersonaStatus {
    diary_count: i64,
    required_count: i64,
    can_generate: bool,
    has_persona: bool,
}

#[utoipa::path(get, path = "/api/v1/personas/status", tag = "personas", security(("bearer" = [])), responses((status = 200, body = PersonaStatus)))]
async fn get_status(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<PersonaStatus>> {
    let has_persona = cached(&state, auth.id(), auth.min_lsn).await?.is_some();
    let mut db = state.db.reader(auth.min_lsn).await?;
    let count = diary_count(&mut db, auth.id()).await?;
    Ok(Json(PersonaStatus {
        diary_count: count,
        required_count: MIN_DIARIES,
        can_generate: count >= MIN_DIARIES,
        has_persona,
    }))
}

#[utoipa::path(get, path = "/api/v1/personas/me", tag = "personas", security(("bearer" = [])),
    responses((status = 200, body = Persona), (status = 404, description = "Persona not found. Write at least 7 diaries to generate your persona.", body = crate::platform::error::ErrorBody)))]
async fn get_my_persona(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Persona>> {
    cached(&state, auth.id(), auth.min_lsn)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Persona not found. Write at least 7 diaries to generate your persona."))
}

#[derive(Deserialize, ToSchema)]
struct UpdatePersona {
    name: Option<String>,
    is_public: Option<bool>,
}

impl Validate for UpdatePersona {
    fn validate(&self, v: &mut Violations) {
        v.opt_str_len("name", self.name.as_deref(), 1, Some(100));
    }
}

#[utoipa::path(put, path = "/api/v1/personas/me", tag = "personas", security(("bearer" = [])), request_body = UpdatePersona,
    responses((status = 200, body = Persona), (status = 404, description = "Persona not found.", body = crate::platform::error::ErrorBody)))]
async fn update_my_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<UpdatePersona>,
) -> ApiResult<Json<Persona>> {
    let mut db = state.db.writer().await?;
    let row = db
        .query_opt(
            &format!(
                "update personas set name = coalesce($2, name), is_public = coalesce($3, is_public), updated_at = now() \
                 where user_id = $1 returning {PERSONA_COLUMNS}"
            ),
            &[(&auth.id(), Type::INT8), (&body.name, Type::VARCHAR), (&body.is_public, Type::BOOL)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Persona not found."))?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    invalidate(&state, &mut db, auth.id()).await;
    Ok(Json(Persona::from_row(&row)))
}

#[derive(Deserialize, ToSchema)]
struct Customize {
    speaking_style_tone: Option<Tone>,
    speaking_style_emoji: Option<bool>,
    personality_traits_override: Option<Vec<String>>,
    custom_greeting: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Tone {
    Formal,
    Casual,
    Cute,
}

impl Validate for Customize {
    fn validate(&self, v: &mut Violations) {
        if let Some(traits) = self.personality_traits_override.as_ref().filter(|t| t.len() > 10) {
            v.push(
                "personality_traits_override",
                "too_long",
                format!("List should have at most 10 items after validation, not {}", traits.len()),
                json!(traits),
                Some(json!({ "field_type": "List", "max_length": 10, "actual_length": traits.len() })),
            );
        }
        v.opt_str_len("custom_greeting", self.custom_greeting.as_deref(), 0, Some(200));
    }
}

#[derive(Serialize, ToSchema)]
pub struct Customized {
    id: i64,
    customization: Customization,
    #[serde(with = "crate::platform::time::utc")]
    updated_at: DateTime<Utc>,
}

/// Merges: only the keys given overwrite the stored ones (a key cannot be cleared with null).
#[utoipa::path(put, path = "/api/v1/personas/me/customize", tag = "personas", security(("bearer" = [])), request_body = Customize,
    responses((status = 200, body = Customized), (status = 404, description = "Persona not found.", body = crate::platform::error::ErrorBody)))]
async fn customize_my_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<Customize>,
) -> ApiResult<Json<Customized>> {
    let mut patch = serde_json::Map::new();
    if let Some(tone) = body.speaking_style_tone {
        patch.insert("speaking_style_tone".into(), json!(tone));
    }
    if let Some(emoji) = body.speaking_style_emoji {
        patch.insert("speaking_style_emoji".into(), json!(emoji));
    }
    if let Some(traits) = body.personality_traits_override {
        patch.insert("personality_traits_override".into(), json!(traits));
    }
    if let Some(greeting) = body.custom_greeting {
        patch.insert("custom_greeting".into(), json!(greeting));
    }
    let patch = Value::Object(patch);
    let mut db = state.db.writer().await?;
    let row = db
        .query_opt(
            "update personas set customization = coalesce(customization, '{}'::jsonb) || $2, updated_at = now() \
             where user_id = $1 returning id, customization, updated_at",
            &[(&auth.id(), Type::INT8), (&patch, Type::JSONB)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Persona not found."))?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    invalidate(&state, &mut db, auth.id()).await;
    let customization: Customization = serde_json::from_value(row.get("customization")).map_err(anyhow::Error::from)?;
    Ok(Json(Customized { id: row.get("id"), customization, updated_at: row.get("updated_at") }))
}

#[derive(Serialize, ToSchema)]
pub struct Generated {
    persona: Persona,
    message: String,
}

/// Enqueues a persona job in its own transaction and returns its id.
pub async fn enqueue(state: &AppState, user_id: i64, mode: Mode) -> ApiResult<String> {
    let job_id = jobs::new_job_id();
    let mut db = state.db.writer().await?;
    let mut tx = db.transaction().await?;
    jobs::enqueue(&mut tx, &AiJob::Persona { job_id: job_id.clone(), user_id, mode }, None).await?;
    tx.commit().await?;
    state.writes.committed(&mut db, user_id, &[]).await?;
    Ok(job_id)
}

/// Waits for a persona job; its persona on success, the contract's 500 detail on failure.
pub async fn wait_for_persona(
    state: &AppState,
    job_id: &str,
    user_id: i64,
    failure: &'static str,
) -> ApiResult<Persona> {
    let job = jobs::wait(state, job_id, user_id).await?;
    if job.status != "done" {
        return Err(ApiError::JobFailed(failure.into()));
    }
    let mut db = state.db.writer().await?;
    load(&mut db, user_id).await?.ok_or_else(|| ApiError::JobFailed(failure.into()))
}

#[utoipa::path(post, path = "/api/v1/personas/generate", tag = "personas", security(("bearer" = [])),
    responses((status = 200, body = Generated), (status = 202, description = "With `Prefer: respond-async`: the job's Location"),
        (status = 400, description = "You need at least 7 diaries to generate a persona. Current: N | Persona already exists. Use regenerate endpoint to update.", body = crate::platform::error::ErrorBody),
        (status = 500, description = "Failed to generate persona. Please try again.", body = crate::platform::error::ErrorBody)))]
async fn generate_persona(State(state): State<AppState>, auth: AuthUser, headers: HeaderMap) -> ApiResult<Response> {
    let mut db = state.db.writer().await?;
    let count = diary_count(&mut db, auth.id()).await?;
    if count < MIN_DIARIES {
        return Err(ApiError::bad_request(format!(
            "You need at least 7 diaries to generate a persona. Current: {count}"
        )));
    }
    if load(&mut db, auth.id()).await?.is_some() {
        return Err(ApiError::bad_request("Persona already exists. Use regenerate endpoint to update."));
    }
    drop(db);
    let job_id = enqueue(&state, auth.id(), Mode::Generate).await?;
    if jobs::prefers_async(&headers) {
        return Ok(jobs::accepted(&job_id));
    }
    let persona = wait_for_persona(&state, &job_id, auth.id(), "Failed to generate persona. Please try again.").await?;
    Ok(Json(Generated { persona, message: "페르소나가 생성되었습니다!".into() }).into_response())
}

/// Keeps the persona's id, chats and customization; the content changes only if the new LLM
/// output validates (the original deleted the persona and its chats first).
#[utoipa::path(post, path = "/api/v1/personas/regenerate", tag = "personas", security(("bearer" = [])),
    responses((status = 200, body = Generated), (status = 202, description = "With `Prefer: respond-async`"),
        (status = 400, description = "You need at least 7 diaries. Current: N", body = crate::platform::error::ErrorBody),
        (status = 500, description = "Failed to generate persona. Please try again.", body = crate::platform::error::ErrorBody)))]
async fn regenerate_persona(State(state): State<AppState>, auth: AuthUser, headers: HeaderMap) -> ApiResult<Response> {
    let mut db = state.db.writer().await?;
    let count = diary_count(&mut db, auth.id()).await?;
    if count < MIN_DIARIES {
        return Err(ApiError::bad_request(format!("You need at least 7 diaries. Current: {count}")));
    }
    drop(db);
    let job_id = enqueue(&state, auth.id(), Mode::Regenerate).await?;
    if jobs::prefers_async(&headers) {
        return Ok(jobs::accepted(&job_id));
    }
    let persona = wait_for_persona(&state, &job_id, auth.id(), "Failed to generate persona. Please try again.").await?;
    Ok(Json(Generated { persona, message: "페르소나가 새로 만들어졌습니다!".into() }).into_response())
}

pub async fn are_friends(db: &mut Conn, a: i64, b: i64) -> ApiResult<bool> {
    Ok(db
        .query_opt(
            "select 1 from friendships where status = 'accepted' and \
             ((requester_id = $1 and addressee_id = $2) or (requester_id = $2 and addressee_id = $1))",
            &[(&a, Type::INT8), (&b, Type::INT8)],
        )
        .await?
        .is_some())
}

/// A friend's persona; the path is the friend's *user* id.
#[utoipa::path(get, path = "/api/v1/personas/{user_id}", tag = "personas", security(("bearer" = [])), params(("user_id" = i64, Path)),
    responses((status = 200, body = Persona), (status = 400, description = "Use /personas/me endpoint for your own persona", body = crate::platform::error::ErrorBody),
        (status = 403, description = "You can only view persona of your friends | This persona is private", body = crate::platform::error::ErrorBody),
        (status = 404, description = "Friend does not have a persona yet", body = crate::platform::error::ErrorBody)))]
async fn get_friend_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(user_id): IdPath,
) -> ApiResult<Json<Persona>> {
    if user_id == auth.id() {
        return Err(ApiError::bad_request("Use /personas/me endpoint for your own persona"));
    }
    let mut db = state.db.reader(auth.min_lsn).await?;
    if !are_friends(&mut db, auth.id(), user_id).await? {
        return Err(ApiError::forbidden("You can only view persona of your friends"));
    }
    drop(db);
    let persona = cached(&state, user_id, None)
        .await?
        .ok_or_else(|| ApiError::not_found("Friend does not have a persona yet"))?;
    if !persona.is_public {
        return Err(ApiError::forbidden("This persona is private"));
    }
    Ok(Json(persona))
}
