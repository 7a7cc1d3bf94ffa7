//! `GET /chats/{chat_id}/messages/{message_id}/sources` (added): the diaries a persona's reply
//! drew on (id, date, title), as retrieved when it was written; empty for a user's message or a
//! reply from before retrieval. The reply itself carries the same list (`sources`).

use axum::{Json, extract::State};

use super::crud::own_chat;
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::chats::{self, Source},
    platform::{
        error::{ApiError, ApiResult, ErrorBody},
        http::extract::IdsPath,
    },
};

#[utoipa::path(
    get, path = "/api/v1/chats/{chat_id}/messages/{message_id}/sources", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)),
    responses(
        (status = 200, body = Vec<Source>),
        (status = 404, description = "Chat not found | Message not found", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), chat_id = chat_id))]
pub async fn get_sources(
    State(state): State<AppState>,
    auth: AuthUser,
    IdsPath(chat_id, message_id): IdsPath,
) -> ApiResult<Json<Vec<Source>>> {
    own_chat(&state, &auth, chat_id).await?;
    let mut db = state.db.reader(auth.min_lsn).await?;
    let sources = chats::message_sources(&mut db, chat_id, message_id).await?;
    sources.map(Json).ok_or_else(|| ApiError::not_found("Message not found"))
}
