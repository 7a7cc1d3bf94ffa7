//! The reply stream as Server-Sent Events (contract 4.6.1): `user_message`, `chunk`…, then
//! `done` or `error`, one `data:` line each. The stream always ends: when no event arrives for
//! `STREAM_IDLE_TIMEOUT_MS` (a dead worker), the job's stored state decides, and with Redis down
//! the reply is awaited in Postgres instead.
//!
//! No SSE keep-alive comments are sent: a quiet stream ends with the idle timeout instead.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::{
        IntoResponse, Response,
        sse::{self, Sse},
    },
};

use super::{crud::own_chat, send::accept_message, streams::StreamSlot, types::SendMessage};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::chats,
    jobs::{
        JobState,
        chat::FAILED_TEXT,
        status,
        stream::{Event, Reader},
    },
    platform::{
        error::{ApiError, ApiResult, ErrorBody},
        http::extract::{Body, IdPath, IdsPath},
    },
};

/// The `error` event's text when neither a reply nor a failure showed up in time.
const TIMED_OUT_TEXT: &str = "응답 시간이 초과되었어요. 잠시 후 대화를 다시 확인해주세요.";

/// SSE: `user_message`, `chunk`…, then `done` or `error` (contract 4.6.1). Errors before the
/// stream (404, 403 daily limit, 422) are ordinary JSON responses.
#[utoipa::path(
    post, path = "/api/v1/chats/{chat_id}/messages/stream", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path)),
    request_body = SendMessage,
    responses(
        (status = 200, description = "text/event-stream"),
        (status = 403, description = "Daily limit | You can only chat with persona of your friends", body = ErrorBody),
        (status = 404, description = "Chat not found", body = ErrorBody),
        (status = 429, description = "The user already holds the most open reply streams (5 per API instance), or their monthly AI budget is used up (`Retry-After`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), chat_id = chat_id))]
pub async fn stream_message(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(chat_id): IdPath,
    Body(body): Body<SendMessage>,
) -> ApiResult<Response> {
    // Before anything is stored: a refused stream enqueues nothing.
    let slot = state.open_streams.open(auth.id())?;
    let (message, job_id) = accept_message(&state, &auth, chat_id, &body.content).await?;
    let message_id = message.id;
    // Subscribing after the commit is safe: the replay log holds anything published before.
    let reader = Reader::open(&state.redis, message_id).await;
    let first = Event::UserMessage { message };
    Ok(Relay::new(state, auth.id(), job_id, message_id, reader, Some(first), slot).into_response())
}

/// Re-attaches to the reply stream of a message already sent (a dropped connection, or any
/// other API instance): the whole stream so far, then the rest live.
#[utoipa::path(
    get, path = "/api/v1/chats/{chat_id}/messages/{message_id}/stream", tag = "chats",
    security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)),
    responses(
        (status = 200, description = "text/event-stream: chunk..., then done or error"),
        (status = 404, description = "Chat not found | Message not found", body = ErrorBody),
        (status = 429, description = "The user already holds the most open reply streams (5 per API instance)", body = ErrorBody),
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id(), chat_id = chat_id, message_id = message_id))]
pub async fn resume_stream(
    State(state): State<AppState>,
    auth: AuthUser,
    IdsPath(chat_id, message_id): IdsPath,
) -> ApiResult<Response> {
    let slot = state.open_streams.open(auth.id())?;
    own_chat(&state, &auth, chat_id).await?;
    let mut db = state.db.writer().await?;
    let job_id = chats::reply_job_id(&mut db, auth.id(), chat_id, message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message not found"))?;
    drop(db);
    let reader = Reader::open(&state.redis, message_id).await;
    Ok(Relay::new(state, auth.id(), job_id, message_id, reader, None, slot).into_response())
}

/// One client's view of a reply stream: the live events while there are any, then the outcome
/// stored in Postgres.
struct Relay {
    state: AppState,
    user_id: i64,
    job_id: String,
    message_id: i64,
    reader: Option<Reader>,
    /// Events decided but not yet sent.
    queue: VecDeque<Event>,
    chunks_sent: bool,
    finished: bool,
    /// This stream's place in the user's cap, freed when the relay is dropped.
    _slot: StreamSlot,
}

impl Relay {
    fn new(
        state: AppState,
        user_id: i64,
        job_id: String,
        message_id: i64,
        reader: Option<Reader>,
        first: Option<Event>,
        slot: StreamSlot,
    ) -> Self {
        Self {
            state,
            user_id,
            job_id,
            message_id,
            reader,
            queue: first.into_iter().collect(),
            chunks_sent: false,
            finished: false,
            _slot: slot,
        }
    }

    /// The relay as the contract's SSE response: `text/event-stream`, `no-cache`, unbuffered by
    /// the proxy, one `data: <json>` line per event.
    fn into_response(self) -> Response {
        let events = futures_util::stream::unfold(self, |mut relay| async move {
            let event = relay.next().await?;
            Some((Ok::<_, Infallible>(sse::Event::default().data(event.to_json())), relay))
        });
        ([("x-accel-buffering", "no")], Sse::new(events)).into_response()
    }

    /// The next event to send; `None` after `done` or `error`.
    async fn next(&mut self) -> Option<Event> {
        let event = match self.queue.pop_front() {
            Some(event) => event,
            None if self.finished => return None,
            None => self.receive().await,
        };
        if event.ends_stream() {
            self.finished = true;
        } else if matches!(event, Event::Chunk { .. }) {
            self.chunks_sent = true;
        }
        Some(event)
    }

    async fn receive(&mut self) -> Event {
        let idle = self.state.settings.stream_idle_timeout;
        let live = match self.reader.as_mut() {
            Some(reader) => reader.next(idle).await,
            None => None,
        };
        match live {
            Some(event) => event,
            None => self.settle().await,
        }
    }

    /// No live events (Redis down, or the worker went quiet): wait for the job's outcome in
    /// Postgres, bounded by the idle timeout, and end the stream either way.
    async fn settle(&mut self) -> Event {
        let deadline = tokio::time::Instant::now() + self.state.settings.stream_idle_timeout;
        loop {
            if let Some(reply) = stored_reply(&self.state, self.message_id).await {
                if self.chunks_sent {
                    return Event::Done { message: reply };
                }
                // Nothing was streamed (Redis down): the whole reply as one chunk, then `done`.
                let chunk = Event::Chunk { content: reply.content.clone() };
                self.queue.push_back(Event::Done { message: reply });
                return chunk;
            }
            if job_failed(&self.state, &self.job_id, self.user_id).await {
                return Event::Error { content: FAILED_TEXT.into() };
            }
            if tokio::time::Instant::now() >= deadline {
                return Event::Error { content: TIMED_OUT_TEXT.into() };
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The stored reply to `message_id`, read on the primary (a failed read counts as not there
/// yet). Free functions, not methods: the relay is `Send` but not `Sync`.
async fn stored_reply(state: &AppState, message_id: i64) -> Option<chats::ChatMessage> {
    let mut db = state.db.writer().await.ok()?;
    chats::reply_to(&mut db, message_id).await.ok()?
}

/// Whether the reply job failed (a failed read counts as not yet).
async fn job_failed(state: &AppState, job_id: &str, user_id: i64) -> bool {
    let Ok(mut db) = state.db.writer().await else { return false };
    let job = status::find(&mut db, job_id, user_id).await;
    matches!(job, Ok(Some(job)) if job.state() == JobState::Failed)
}
