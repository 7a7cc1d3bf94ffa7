//! Chats and their messages: create, list, read and delete, all owner-scoped. Another user's
//! persona needs an accepted friendship.

use axum::{Json, extract::State, http::StatusCode};

use super::types::{ChatList, ChatPage, ChatWithMessages, CreateChat, MessageLimit};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::{
        chats::{self, Chat, ChatMessage},
        friends,
        limits::CHAT_READ_MESSAGES,
    },
    platform::{
        error::{ApiError, ApiResult, ErrorBody},
        http::{
            extract::{Body, IdPath, QueryParams},
            page,
        },
    },
};

const NOT_FOUND: &str = "Chat not found";
/// The contract's 403 for a persona the user may not talk to.
pub(super) const FRIENDS_ONLY: &str = "You can only chat with persona of your friends";

/// Every call makes a new chat. Another user's persona needs an accepted friendship.
#[utoipa::path(
    post, path = "/api/v1/chats", tag = "chats",
    security(("bearer" = [])),
    request_body = CreateChat,
    responses(
        (status = 201, body = Chat),
        (status = 404, description = "Persona not found", body = ErrorBody),
        (status = 403, description = "You can only chat with persona of your friends", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn create_chat(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<CreateChat>,
) -> ApiResult<(StatusCode, Json<Chat>)> {
    let mut db = state.db.writer().await?;
    let owner = chats::persona_owner(&mut db, body.persona_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Persona not found"))?;
    let own = owner.user_id == auth.id();
    // A friend's persona only while it is public (the original did not check `is_public`).
    let allowed = own || (owner.is_public && friends::are_friends(&mut db, auth.id(), owner.user_id).await?);
    if !allowed {
        return Err(ApiError::forbidden(FRIENDS_ONLY));
    }
    let chat = chats::insert(&mut db, auth.id(), body.persona_id, own).await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok((StatusCode::CREATED, Json(chat)))
}

#[utoipa::path(
    get, path = "/api/v1/chats", tag = "chats",
    security(("bearer" = [])),
    params(ChatPage),
    responses(
        (status = 200, body = ChatList),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn list_chats(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<ChatPage>,
) -> ApiResult<Json<ChatList>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let offset = page::offset(q.page, q.per_page);
    let (items, total) = chats::list_page(&mut db, auth.id(), q.per_page, offset).await?;
    Ok(Json(ChatList { items, total }))
}

/// The user's chat `chat_id`, or 404.
pub(super) async fn own_chat(state: &AppState, auth: &AuthUser, chat_id: i64) -> ApiResult<Chat> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    chats::find(&mut db, auth.id(), chat_id).await?.ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

/// The chat with its latest 200 messages, oldest first (`GET /chats/{chat_id}/messages` pages
/// through the rest).
#[utoipa::path(
    get, path = "/api/v1/chats/{chat_id}", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path)),
    responses(
        (status = 200, body = ChatWithMessages),
        (status = 404, description = "Chat not found", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), chat_id = chat_id))]
pub async fn get_chat(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(chat_id): IdPath,
) -> ApiResult<Json<ChatWithMessages>> {
    let chat = own_chat(&state, &auth, chat_id).await?;
    let mut db = state.db.reader(auth.min_lsn).await?;
    let messages = chats::latest_messages(&mut db, chat_id, CHAT_READ_MESSAGES).await?;
    Ok(Json(ChatWithMessages { chat, messages }))
}

/// The *oldest* `limit` messages, as the contract has it.
#[utoipa::path(
    get, path = "/api/v1/chats/{chat_id}/messages", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path), MessageLimit),
    responses(
        (status = 200, body = Vec<ChatMessage>),
        (status = 404, description = "Chat not found", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), chat_id = chat_id))]
pub async fn list_messages(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(chat_id): IdPath,
    QueryParams(q): QueryParams<MessageLimit>,
) -> ApiResult<Json<Vec<ChatMessage>>> {
    own_chat(&state, &auth, chat_id).await?;
    let mut db = state.db.reader(auth.min_lsn).await?;
    Ok(Json(chats::messages(&mut db, chat_id, q.limit).await?))
}

#[utoipa::path(
    delete, path = "/api/v1/chats/{chat_id}", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path)),
    responses(
        (status = 204),
        (status = 404, description = "Chat not found", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), chat_id = chat_id))]
pub async fn delete_chat(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(chat_id): IdPath,
) -> ApiResult<StatusCode> {
    let mut db = state.db.writer().await?;
    if !chats::delete(&mut db, auth.id(), chat_id).await? {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(StatusCode::NO_CONTENT)
}
