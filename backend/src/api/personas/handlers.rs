//! Reading and changing personas: the own one (status, read, rename or hide, customise) and a
//! friend's.

use axum::{Json, extract::State};

use super::{
    MIN_DIARIES,
    types::{Customize, PersonaStatus, UpdatePersona},
};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::{
        diaries, friends,
        personas::{self, Customized, Persona},
    },
    platform::{
        cache::{Cache, CacheKey, CachedJson, Computed},
        db::Lsn,
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::{Body, IdPath},
    },
};

/// `user_id`'s persona through the cache (`None` is cached too: most users have none yet).
async fn cached(state: &AppState, user_id: i64, min_lsn: Option<Lsn>) -> ApiResult<Option<Persona>> {
    state.cache.cached(&CacheKey::new(Cache::Persona, user_id), min_lsn, || read(state, user_id, min_lsn)).await
}

async fn read(state: &AppState, user_id: i64, min_lsn: Option<Lsn>) -> ApiResult<Computed<Option<Persona>>> {
    let mut db = state.db.reader(min_lsn).await?;
    Ok(Computed { value: personas::find(&mut db, user_id).await?, role: db.role() })
}

#[utoipa::path(
    get, path = "/api/v1/personas/status", tag = "personas",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PersonaStatus),
        Unauthenticated,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_status(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<PersonaStatus>> {
    let has_persona = cached(&state, auth.id(), auth.min_lsn).await?.is_some();
    let mut db = state.db.reader(auth.min_lsn).await?;
    let count = diaries::count(&mut db, auth.id()).await?;
    Ok(Json(PersonaStatus {
        diary_count: count,
        required_count: MIN_DIARIES,
        can_generate: count >= MIN_DIARIES,
        has_persona,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/personas/me", tag = "personas",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Persona),
        Unauthenticated,
        (status = 404, description = "Persona not found. Write at least 7 diaries to generate your persona.", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn get_my_persona(State(state): State<AppState>, auth: AuthUser) -> ApiResult<CachedJson> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let key = CacheKey::new(Cache::Persona, user_id);
    let persona = state.cache.cached_json(&key, min_lsn, || read(&state, user_id, min_lsn)).await?;
    if persona.is_null() {
        return Err(ApiError::not_found("Persona not found. Write at least 7 diaries to generate your persona."));
    }
    Ok(persona)
}

#[utoipa::path(
    put, path = "/api/v1/personas/me", tag = "personas",
    security(("bearer" = [])),
    request_body = Option<UpdatePersona>,
    responses(
        (status = 200, body = Persona),
        Unauthenticated,
        (status = 404, description = "Persona not found.", body = ErrorBody),
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn update_my_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<UpdatePersona>,
) -> ApiResult<Json<Persona>> {
    let mut db = state.db.writer().await?;
    let persona = personas::update(&mut db, auth.id(), body.name.as_deref(), body.is_public)
        .await?
        .ok_or_else(|| ApiError::not_found("Persona not found."))?;
    let keys = personas::changed_keys(&mut db, auth.id()).await;
    state.writes.committed(&mut db, auth.id(), &keys).await?;
    Ok(Json(persona))
}

/// Merges: only the keys given overwrite the stored ones (a key cannot be cleared with null).
#[utoipa::path(
    put, path = "/api/v1/personas/me/customize", tag = "personas",
    security(("bearer" = [])),
    request_body = Option<Customize>,
    responses(
        (status = 200, body = Customized),
        Unauthenticated,
        (status = 404, description = "Persona not found.", body = ErrorBody),
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn customize_my_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<Customize>,
) -> ApiResult<Json<Customized>> {
    let patch = body.into_patch();
    let mut db = state.db.writer().await?;
    let customized = personas::customize(&mut db, auth.id(), &patch)
        .await?
        .ok_or_else(|| ApiError::not_found("Persona not found."))?;
    let keys = personas::changed_keys(&mut db, auth.id()).await;
    state.writes.committed(&mut db, auth.id(), &keys).await?;
    Ok(Json(customized))
}

/// A friend's persona; the path is the friend's *user* id.
#[utoipa::path(
    get, path = "/api/v1/personas/{user_id}", tag = "personas",
    security(("bearer" = [])),
    params(("user_id" = i64, Path)),
    responses(
        (status = 200, body = Persona),
        (status = 400, description = "Use /personas/me endpoint for your own persona", body = ErrorBody),
        Unauthenticated,
        (status = 403, description = "You can only view persona of your friends | This persona is private", body = ErrorBody),
        (status = 404, description = "Friend does not have a persona yet", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), friend_id = user_id))]
pub async fn get_friend_persona(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(user_id): IdPath,
) -> ApiResult<Json<Persona>> {
    if user_id == auth.id() {
        return Err(ApiError::bad_request("Use /personas/me endpoint for your own persona"));
    }
    let mut db = state.db.reader(auth.min_lsn).await?;
    if !friends::are_friends(&mut db, auth.id(), user_id).await? {
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
