//! Chats with personas (contract 4.6). Replies are written by the worker; the stream endpoint
//! relays them as the contract's SSE events. The stream always ends with `done` or `error`:
//! when no event arrives for `STREAM_IDLE_TIMEOUT_MS` (a dead worker), the job's stored state
//! decides, and with Redis down the reply is awaited in Postgres instead.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json, Router,
    body::{Body as HttpBody, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Row, types::Type};
use utoipa::{IntoParams, ToSchema};

use crate::{
    platform::db::Executor,
    api::auth::session::AuthUser,
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, IdPath, QueryParams},
        validate::{Validate, Violations},
    },
    jobs::{self, AiJob},
    api::personas,
    api::state::AppState,
    jobs::stream,
    api::subscriptions::{self, FREE_DAILY_CHAT_LIMIT},
    platform::time::today,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chats", post(create_chat).get(list_chats))
        .route("/chats/{chat_id}", get(get_chat).delete(delete_chat))
        .route("/chats/{chat_id}/messages", post(send_message).get(list_messages))
        .route("/chats/{chat_id}/messages/stream", post(stream_message))
        .route("/chats/{chat_id}/messages/{message_id}/stream", get(resume_stream))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Chat {
    id: i64,
    user_id: i64,
    persona_id: i64,
    is_own_persona: bool,
    #[serde(with = "crate::platform::time::utc")]
    created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    updated_at: DateTime<Utc>,
}

const CHAT_COLUMNS: &str = "id, user_id, persona_id, is_own_persona, created_at, updated_at";

impl Chat {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            persona_id: row.get("persona_id"),
            is_own_persona: row.get("is_own_persona"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: i64,
    pub chat_id: i64,
    pub content: String,
    pub is_user: bool,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
}

pub const MESSAGE_COLUMNS: &str = "id, chat_id, content, is_user, created_at";

impl ChatMessage {
    pub fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            chat_id: row.get("chat_id"),
            content: row.get("content"),
            is_user: row.get("is_user"),
            created_at: row.get("created_at"),
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct CreateChat {
    persona_id: i64,
}

impl Validate for CreateChat {
    fn validate(&self, _: &mut Violations) {}
}

/// Every call makes a new chat. Another user's persona needs an accepted friendship.
#[utoipa::path(post, path = "/api/v1/chats", tag = "chats", security(("bearer" = [])), request_body = CreateChat,
    responses((status = 201, body = Chat), (status = 404, description = "Persona not found", body = crate::platform::error::ErrorBody),
        (status = 403, description = "You can only chat with persona of your friends", body = crate::platform::error::ErrorBody)))]
async fn create_chat(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<CreateChat>,
) -> ApiResult<(StatusCode, Json<Chat>)> {
    let mut db = state.db.writer().await?;
    let owner: i64 = db
        .query_opt("select user_id from personas where id = $1", &[(&body.persona_id, Type::INT8)])
        .await?
        .ok_or_else(|| ApiError::not_found("Persona not found"))?
        .get(0);
    let own = owner == auth.id();
    if !own && !personas::are_friends(&mut db, auth.id(), owner).await? {
        return Err(ApiError::forbidden("You can only chat with persona of your friends"));
    }
    let row = db
        .query_one(
            &format!(
                "insert into chats (user_id, persona_id, is_own_persona) values ($1, $2, $3) returning {CHAT_COLUMNS}"
            ),
            &[(&auth.id(), Type::INT8), (&body.persona_id, Type::INT8), (&own, Type::BOOL)],
        )
        .await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok((StatusCode::CREATED, Json(Chat::from_row(&row))))
}

#[derive(Deserialize, IntoParams)]
struct ChatPage {
    #[serde(default = "one")]
    page: i64,
    #[serde(default = "ten")]
    per_page: i64,
}

fn one() -> i64 {
    1
}
fn ten() -> i64 {
    10
}

impl Validate for ChatPage {
    fn validate(&self, v: &mut Violations) {
        v.range("page", self.page, 1, None);
        v.range("per_page", self.per_page, 1, Some(50));
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChatList {
    items: Vec<Chat>,
    total: i64,
}

#[utoipa::path(get, path = "/api/v1/chats", tag = "chats", security(("bearer" = [])), params(ChatPage), responses((status = 200, body = ChatList)))]
async fn list_chats(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<ChatPage>,
) -> ApiResult<Json<ChatList>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let offset = (q.page - 1).saturating_mul(q.per_page);
    let rows = db
        .query(
            &format!("select {CHAT_COLUMNS}, count(*) over () as total from chats where user_id = $1 order by updated_at desc, id desc limit $2 offset $3"),
            &[(&auth.id(), Type::INT8), (&q.per_page, Type::INT8), (&offset, Type::INT8)],
        )
        .await?;
    let total = match rows.first() {
        Some(r) => r.get("total"),
        None => {
            db.query_one("select count(*) from chats where user_id = $1", &[(&auth.id(), Type::INT8)]).await?.get(0)
        }
    };
    Ok(Json(ChatList { items: rows.iter().map(Chat::from_row).collect(), total }))
}

async fn own_chat(state: &AppState, auth: &AuthUser, chat_id: i64) -> ApiResult<Chat> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_opt(
            &format!("select {CHAT_COLUMNS} from chats where id = $1 and user_id = $2"),
            &[(&chat_id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Chat not found"))?;
    Ok(Chat::from_row(&row))
}

#[derive(Serialize, ToSchema)]
pub struct ChatWithMessages {
    #[serde(flatten)]
    chat: Chat,
    messages: Vec<ChatMessage>,
}

#[utoipa::path(get, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("bearer" = [])), params(("chat_id" = i64, Path)),
    responses((status = 200, body = ChatWithMessages), (status = 404, description = "Chat not found", body = crate::platform::error::ErrorBody)))]
async fn get_chat(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(chat_id): IdPath,
) -> ApiResult<Json<ChatWithMessages>> {
    let chat = own_chat(&state, &auth, chat_id).await?;
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db
        .query(
            &format!("select {MESSAGE_COLUMNS} from chat_messages where chat_id = $1 order by id"),
            &[(&chat_id, Type::INT8)],
        )
        .await?;
    Ok(Json(ChatWithMessages { chat, messages: rows.iter().map(ChatMessage::from_row).collect() }))
}

#[derive(Deserialize, IntoParams)]
struct MessageLimit {
    #[serde(default = "fifty")]
    limit: i64,
}

fn fifty() -> i64 {
    50
}

impl Validate for MessageLimit {
    fn validate(&self, v: &mut Violations) {
        v.range("limit", self.limit, 1, Some(100));
    }
}

/// The *oldest* `limit` messages, as the contract (and the original) has it.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/messages", tag = "chats", security(("bearer" = [])), params(("chat_id" = i64, Path), MessageLimit),
    responses((status = 200, body = Vec<ChatMessage>), (status = 404, description = "Chat not found", body = crate::platform::error::ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(chat_id): IdPath,
    QueryParams(q): QueryParams<MessageLimit>,
) -> ApiResult<Json<Vec<ChatMessage>>> {
    own_chat(&state, &auth, chat_id).await?;
    let mut db = state.db.reader(auth.min_lsn).await?;
    let rows = db
        .query(
            &format!("select {MESSAGE_COLUMNS} from chat_messages where chat_id = $1 order by id limit $2"),
            &[(&chat_id, Type::INT8), (&q.limit, Type::INT8)],
        )
        .await?;
    Ok(Json(rows.iter().map(ChatMessage::from_row).collect()))
}

#[utoipa::path(delete, path = "/api/v1/chats/{chat_id}", tag = "chats", security(("bearer" = [])), params(("chat_id" = i64, Path)),
    responses((status = 204), (status = 404, description = "Chat not found", body = crate::platform::error::ErrorBody)))]
async fn delete_chat(State(state): State<AppState>, auth: AuthUser, IdPath(chat_id): IdPath) -> ApiResult<StatusCode> {
    let mut db = state.db.writer().await?;
    let deleted = db
        .execute(
            "delete from chats where id = $1 and user_id = $2",
            &[(&chat_id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found("Chat not found"));
    }
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
struct SendMessage {
    content: String,
}

impl Validate for SendMessage {
    fn validate(&self, v: &mut Violations) {
        v.str_len("content", &self.content, 1, None);
    }
}

/// Stores the user's message, counts it against the daily limit (own persona, free plan) and
/// enqueues the reply, all in one transaction. Returns the message and the job id.
async fn accept_message(
    state: &AppState,
    auth: &AuthUser,
    chat_id: i64,
    content: &str,
) -> ApiResult<(ChatMessage, String)> {
    let chat = own_chat(state, auth, chat_id).await?;
    let mut db = state.db.writer().await?;
    // Only own-persona chats count against the plan: friend chats skip the premium lookup.
    let limit: Option<i64> = match chat.is_own_persona {
        true if !subscriptions::is_premium(&mut db, auth.id()).await? => Some(FREE_DAILY_CHAT_LIMIT),
        _ => None,
    };
    let mut tx = db.transaction().await?;
    if chat.is_own_persona {
        // Atomic check-and-count: concurrent sends cannot slip past the limit.
        let counted = tx
            .query_typed(
                "insert into chat_usage (user_id, usage_date, messages) values ($1, $2, 1) \
                 on conflict (user_id, usage_date) do update set messages = chat_usage.messages + 1 \
                 where $3::int8 is null or chat_usage.messages < $3 returning messages",
                &[(&auth.id(), Type::INT8), (&today(), Type::DATE), (&limit, Type::INT8)],
            )
            .await?;
        if counted.is_empty() {
            return Err(ApiError::forbidden(format!(
                "무료 플랜은 하루 {FREE_DAILY_CHAT_LIMIT}개의 메시지만 보낼 수 있습니다. 프리미엄으로 업그레이드하면 무제한으로 대화할 수 있습니다."
            )));
        }
    }
    let row = tx
        .query_typed(
            &format!("insert into chat_messages (chat_id, content, is_user) values ($1, $2, true) returning {MESSAGE_COLUMNS}"),
            &[(&chat_id, Type::INT8), (&content, Type::TEXT)],
        )
        .await?;
    let message = ChatMessage::from_row(row.first().ok_or_else(|| anyhow::anyhow!("insert returned no row"))?);
    let job_id = jobs::new_job_id();
    let job = AiJob::ChatReply { job_id: job_id.clone(), user_id: auth.id(), chat_id, user_message_id: message.id };
    jobs::enqueue(&mut tx, &job, None).await?;
    tx.commit().await?;
    state.writes.committed(&mut db, auth.id(), &[]).await?;
    Ok((message, job_id))
}

/// The AI reply only (waits for the worker; 202 with `Prefer: respond-async`).
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages", tag = "chats", security(("bearer" = [])), params(("chat_id" = i64, Path)), request_body = SendMessage,
    responses((status = 200, body = ChatMessage), (status = 202, description = "With `Prefer: respond-async`"),
        (status = 403, description = "Daily limit", body = crate::platform::error::ErrorBody), (status = 404, description = "Chat not found", body = crate::platform::error::ErrorBody)))]
async fn send_message(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    IdPath(chat_id): IdPath,
    Body(body): Body<SendMessage>,
) -> ApiResult<Response> {
    let (message, job_id) = accept_message(&state, &auth, chat_id, &body.content).await?;
    if jobs::prefers_async(&headers) {
        return Ok(jobs::accepted(&job_id));
    }
    let job = jobs::wait(&state, &job_id, auth.id()).await?;
    if job.status != "done" {
        return Err(ApiError::JobFailed(jobs::chat::FAILED_TEXT.into()));
    }
    Ok(Json(reply_to(&state, message.id).await?.ok_or_else(|| anyhow::anyhow!("done job without a reply"))?)
        .into_response())
}

async fn reply_to(state: &AppState, user_message_id: i64) -> ApiResult<Option<ChatMessage>> {
    let mut db = state.db.writer().await?;
    let row = db
        .query_opt(
            &format!("select {MESSAGE_COLUMNS} from chat_messages where reply_to = $1"),
            &[(&user_message_id, Type::INT8)],
        )
        .await?;
    Ok(row.as_ref().map(ChatMessage::from_row))
}

fn sse_frame(event: &Value) -> Bytes {
    Bytes::from(format!("data: {event}\n\n"))
}

/// SSE: `user_message`, `chunk`…, then `done` or `error` (contract 4.6.1). Errors before the
/// stream (404, 403 daily limit, 422) are ordinary JSON responses.
#[utoipa::path(post, path = "/api/v1/chats/{chat_id}/messages/stream", tag = "chats", security(("bearer" = [])), params(("chat_id" = i64, Path)), request_body = SendMessage,
    responses((status = 200, description = "text/event-stream"), (status = 403, description = "Daily limit", body = crate::platform::error::ErrorBody),
        (status = 404, description = "Chat not found", body = crate::platform::error::ErrorBody)))]
async fn stream_message(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(chat_id): IdPath,
    Body(body): Body<SendMessage>,
) -> ApiResult<Response> {
    let (message, job_id) = accept_message(&state, &auth, chat_id, &body.content).await?;
    // Subscribing after the commit is safe: the replay log holds anything published before.
    let reader = stream::Reader::open(&state.redis, message.id).await;
    let first = json!({ "type": "user_message", "message": message });
    Ok(Relay::new(state, auth.id(), job_id, message.id, reader, Some(first)).into_response())
}

/// Added endpoint: re-attaches to the reply stream of a message already sent (a dropped
/// connection, or any other API instance): the whole stream so far, then the rest live.
#[utoipa::path(get, path = "/api/v1/chats/{chat_id}/messages/{message_id}/stream", tag = "chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path), ("message_id" = i64, Path)),
    responses((status = 200, description = "text/event-stream: chunk..., then done or error"), (status = 404, description = "Chat not found | Message not found", body = crate::platform::error::ErrorBody)))]
async fn resume_stream(
    State(state): State<AppState>,
    auth: AuthUser,
    axum::extract::Path((chat_id, message_id)): axum::extract::Path<(i64, i64)>,
) -> ApiResult<Response> {
    own_chat(&state, &auth, chat_id).await?;
    let mut db = state.db.writer().await?;
    let job_id: String = db
        .query_opt(
            "select a.id from chat_messages m join ai_jobs a on a.kind = 'chat_reply' and a.subject_id = m.id              where m.id = $1 and m.chat_id = $2 and m.is_user and a.user_id = $3",
            &[(&message_id, Type::INT8), (&chat_id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Message not found"))?
        .get(0);
    drop(db);
    let reader = stream::Reader::open(&state.redis, message_id).await;
    Ok(Relay::new(state, auth.id(), job_id, message_id, reader, None).into_response())
}

struct Relay {
    state: AppState,
    user_id: i64,
    job_id: String,
    message_id: i64,
    reader: Option<stream::Reader>,
    /// Events decided but not yet sent.
    queue: std::collections::VecDeque<Value>,
    chunks_sent: bool,
    finished: bool,
}

impl Relay {
    fn new(
        state: AppState,
        user_id: i64,
        job_id: String,
        message_id: i64,
        reader: Option<stream::Reader>,
        first: Option<Value>,
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
        }
    }

    /// The relay as the contract's SSE response (4.6.1 headers, one `data:` line per event).
    fn into_response(self) -> Response {
        let stream = futures_util::stream::unfold(self, |mut relay| async move {
            let event = relay.next().await?;
            Some((Ok::<_, Infallible>(sse_frame(&event)), relay))
        });
        let mut response = Response::new(HttpBody::from_stream(stream));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response
    }
    async fn next(&mut self) -> Option<Value> {
        let event = match self.queue.pop_front() {
            Some(event) => event,
            None if self.finished => return None,
            None => self.receive().await,
        };
        match event["type"].as_str() {
            Some("done" | "error") => self.finished = true,
            Some("chunk") => self.chunks_sent = true,
            _ => {}
        }
        Some(event)
    }

    async fn receive(&mut self) -> Value {
        let idle = self.state.settings.stream_idle_timeout;
        match self.reader.as_mut() {
            Some(reader) => match reader.next(idle).await {
                Some(mut event) => {
                    if let Some(map) = event.as_object_mut() {
                        map.remove("seq");
                    }
                    event
                }
                None => self.settle().await,
            },
            None => self.settle().await,
        }
    }

    /// No live events (Redis down, or the worker went quiet): wait for the job's outcome in
    /// Postgres, bounded by the idle timeout, and end the stream either way.
    async fn settle(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + self.state.settings.stream_idle_timeout;
        loop {
            if let Ok(Some(reply)) = reply_to(&self.state, self.message_id).await {
                let done = json!({ "type": "done", "message": reply });
                if self.chunks_sent {
                    return done;
                }
                // Nothing was streamed (Redis down): the whole reply as one chunk, then `done`.
                self.queue.push_back(done);
                return json!({ "type": "chunk", "content": reply.content });
            }
            if let Ok(Some(job)) = jobs::load(&self.state, &self.job_id, self.user_id).await
                && job.status == "failed"
            {
                return json!({ "type": "error", "content": jobs::chat::FAILED_TEXT });
            }
            if tokio::time::Instant::now() >= deadline {
                return json!({ "type": "error", "content": "응답 시간이 초과되었어요. 잠시 후 대화를 다시 확인해주세요." });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
