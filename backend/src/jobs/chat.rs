//! Chat replies: the worker streams the model's tokens to the reply stream (see `streams`) and
//! stores the reply once (a unique `reply_to` makes a re-run a no-op). A failure ends the stream
//! with an `error` event and fails the job; it is never replaced by a canned reply.

use serde_json::{Value, json};
use tokio_postgres::types::Type;

use super::worker::{JobError, JobResult, WorkerState};
use crate::{
    api::chats::ChatMessage,
    llm::prompts::{self, DiaryText, PersonaText},
    jobs::stream,
};

pub const FAILED_TEXT: &str = "AI 응답을 생성하지 못했어요. 잠시 후 다시 시도해주세요.";

pub async fn run(state: &WorkerState, job_id: &str, user_id: i64, chat_id: i64, user_message_id: i64) -> JobResult {
    let redis = &state.app.redis;
    let mut seq = 1; // 0 is the API's `user_message` event
    match reply(state, chat_id, user_message_id, &mut seq).await {
        Ok(message) => {
            // Before announcing `done`: the client reloads the chat right after it.
            let mut db = state.app.db.writer().await?;
            state.app.writes.committed(&mut db, user_id, &[]).await?;
            stream::publish(redis, user_message_id, seq, json!({ "type": "done", "message": message })).await;
            metrics::counter!("chat_messages_total").increment(1);
            tracing::info!(job_id, user_id, chat_id, "chat reply stored");
            Ok(Some(json!({ "message_id": message.id })))
        }
        Err(err) => {
            stream::publish(redis, user_message_id, seq, json!({ "type": "error", "content": FAILED_TEXT })).await;
            Err(err)
        }
    }
}

async fn reply(
    state: &WorkerState,
    chat_id: i64,
    user_message_id: i64,
    seq: &mut u64,
) -> Result<ChatMessage, JobError> {
    let app = &state.app;
    let mut db = app.db.writer().await?;
    if let Some(existing) = db
        .query_opt(
            "select id, chat_id, content, is_user, created_at from chat_messages where reply_to = $1",
            &[(&user_message_id, Type::INT8)],
        )
        .await?
    {
        return Ok(ChatMessage::from_row(&existing));
    }
    let persona = db
        .query_opt(
            "select p.name::text, p.personality, coalesce(p.traits, '{}'::text[]), p.speaking_style, p.level, \
                    coalesce(p.customization, '{}'::jsonb), p.user_id, c.is_own_persona, u.rag_context_level \
             from chats c join personas p on p.id = c.persona_id join users u on u.id = p.user_id where c.id = $1",
            &[(&chat_id, Type::INT8)],
        )
        .await?
        .ok_or_else(|| JobError::Invalid("the persona of this chat no longer exists".into()))?;
    let persona_text = PersonaText {
        name: persona.get(0),
        personality: persona.get(1),
        traits: persona.get(2),
        speaking_style: persona.get(3),
        temporary: persona.get::<_, &str>(4) == "temporary",
        customization: persona.get::<_, Value>(5),
    };
    let owner: i64 = persona.get(6);
    // Diary memories of the persona's owner: as many as their context level allows, capped at
    // `standard` in friends' chats. (Recency stands in for similarity until embeddings exist.)
    let level = persona.get::<_, Option<&str>>(8).unwrap_or("standard");
    let own: bool = persona.get(7);
    let memories_wanted: i64 = match (level, own) {
        ("minimal", _) => 1,
        ("detailed", true) => 5,
        _ => 3,
    };
    let history_rows = db
        .query(
            "select content, is_user from (select id, content, is_user from chat_messages where chat_id = $1 and id < $2 \
             order by id desc limit 10) h order by id",
            &[(&chat_id, Type::INT8), (&user_message_id, Type::INT8)],
        )
        .await?;
    let history = history_rows.iter().map(|r| (r.get::<_, bool>(1), r.get::<_, String>(0))).collect();
    let message: String = db
        .query_one("select content from chat_messages where id = $1", &[(&user_message_id, Type::INT8)])
        .await?
        .get(0);
    let memories: Vec<DiaryText> = if persona_text.temporary {
        Vec::new()
    } else {
        super::persona::latest_diaries(state, owner, memories_wanted).await?
    };
    drop(db);

    let prompt = prompts::chat(&persona_text, history, &memories, &message);
    // Pieces are published in order by one forwarding task, so the LLM stream never waits on Redis.
    let (pieces, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let redis = app.redis.clone();
    let first_seq = *seq;
    let forwarder = tokio::spawn(async move {
        let mut seq = first_seq;
        while let Some(piece) = received.recv().await {
            stream::publish(&redis, user_message_id, seq, json!({ "type": "chunk", "content": piece })).await;
            seq += 1;
        }
        seq
    });
    let streamed = state.llm.stream_text(&prompt, &pieces).await;
    drop(pieces);
    *seq = forwarder.await.unwrap_or(first_seq);
    let text = streamed?;

    let mut db = app.db.writer().await?;
    let row = db
        .query_opt(
            "insert into chat_messages (chat_id, content, is_user, reply_to) values ($1, $2, false, $3) \
             on conflict (reply_to) do nothing returning id, chat_id, content, is_user, created_at",
            &[(&chat_id, Type::INT8), (&text, Type::TEXT), (&user_message_id, Type::INT8)],
        )
        .await?;
    match row {
        Some(row) => Ok(ChatMessage::from_row(&row)),
        None => {
            let row = db
                .query_one(
                    "select id, chat_id, content, is_user, created_at from chat_messages where reply_to = $1",
                    &[(&user_message_id, Type::INT8)],
                )
                .await?;
            Ok(ChatMessage::from_row(&row))
        }
    }
}
