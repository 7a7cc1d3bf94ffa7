//! Sending a message: store it, count it, enqueue the reply, then answer with the reply (waited
//! for) or, under `Prefer: respond-async`, with `202` at once.

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{
    crud::{FRIENDS_ONLY, own_chat},
    limits,
    types::SendMessage,
};
use crate::{
    api::{
        auth::session::AuthUser,
        jobs::{self as job_http, Respond},
        state::AppState,
    },
    data::chats::{self, ChatMessage},
    jobs::{self, AiJob, JobState, chat::FAILED_TEXT},
    platform::{
        error::{ApiError, ApiResult, ErrorBody},
        http::extract::{Body, IdPath},
    },
};

/// Stores the user's message, counts it against the daily limit (own persona) and enqueues the
/// reply, all in one transaction. Returns the message and the reply job's id.
pub(super) async fn accept_message(
    state: &AppState,
    auth: &AuthUser,
    chat_id: i64,
    content: &str,
) -> ApiResult<(ChatMessage, String)> {
    let chat = own_chat(state, auth, chat_id).await?;
    crate::api::subscriptions::budget::ensure_within(state, auth.id()).await?;
    let mut db = state.db.writer().await?;
    // Checked again at every message, on the primary: unfriended, or the persona made private,
    // and the conversation ends here (the reply job checks once more before it reads anything).
    if !chat.is_own_persona && chats::still_allowed(&mut db, chat_id).await? != Some(true) {
        return Err(ApiError::forbidden(FRIENDS_ONLY));
    }
    let quota = limits::quota(&mut db, auth.id(), &chat).await?;
    let mut tx = db.transaction().await?;
    if let Some(quota) = &quota {
        quota.count(&mut tx, auth.id()).await?;
    }
    let message = chats::insert_user_message(&mut tx, chat_id, content).await?;
    let job_id = jobs::new_job_id();
    let job = AiJob::ChatReply { job_id: job_id.clone(), user_id: auth.id(), chat_id, user_message_id: message.id };
    jobs::enqueue(&mut tx, &job, None).await?;
    tx.commit().await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok((message, job_id))
}

/// The AI reply only (waits for the worker; 202 with `Prefer: respond-async`).
#[utoipa::path(
    post, path = "/api/v1/chats/{chat_id}/messages", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path)),
    request_body = SendMessage,
    responses(
        (status = 200, body = ChatMessage),
        (status = 202, description = "With `Prefer: respond-async`"),
        (status = 403, description = "Daily limit", body = ErrorBody),
        (status = 404, description = "Chat not found", body = ErrorBody),
        (status = 429, description = "Monthly AI budget used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), chat_id = chat_id))]
pub async fn send_message(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    IdPath(chat_id): IdPath,
    Body(body): Body<SendMessage>,
) -> ApiResult<Response> {
    let (message, job_id) = accept_message(&state, &auth, chat_id, &body.content).await?;
    match job_http::respond(&state, &headers, auth.id(), &job_id).await? {
        Respond::Accepted(response) => Ok(response),
        Respond::Finished(job) if job.state() != JobState::Done => Err(ApiError::JobFailed(FAILED_TEXT.into())),
        Respond::Finished(_) => {
            let mut db = state.db.writer().await?;
            let reply = chats::reply_to(&mut db, message.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("done job without a reply"))?;
            Ok(Json(reply).into_response())
        }
    }
}
