//! Chat replies: the worker retrieves the persona owner's diaries relevant to the message
//! (`retrieve`), streams the model's tokens to the reply stream (see `stream`) and stores the
//! reply once, with the diaries it drew on as its `sources` (a unique `reply_to` makes a re-run
//! a no-op). A failure ends the stream
//! with an `error` event and fails the job; it is never replaced by a canned reply.

use serde_json::json;

use super::{
    JobKind,
    context::Context,
    error::{JobError, JobResult},
    reads::ReadBy,
    retrieve::{self, Memories},
    stream::{Event, Publisher},
};
use crate::{
    data::chats::{self, ChatMessage, ChatPersona, Source},
    llm::prompts::{self, PersonaText, Prompt},
    platform::db::{self, Conn},
};

/// What the user sees when no reply could be made.
pub const FAILED_TEXT: &str = "AI 응답을 생성하지 못했어요. 잠시 후 다시 시도해주세요.";

/// Replies to `user_message_id` in chat `chat_id`, streaming the reply and ending the stream
/// with `done` (the stored reply) or `error`.
#[tracing::instrument(level = "info", skip_all, fields(job_id = job_id, user_id = user_id, chat_id = chat_id))]
pub async fn run(ctx: &Context, job_id: &str, user_id: i64, chat_id: i64, user_message_id: i64) -> JobResult {
    let mut publisher = Publisher::new(ctx.redis.clone(), user_message_id);
    match reply(ctx, job_id, user_id, chat_id, user_message_id, &mut publisher).await {
        Ok(message) => {
            // Before announcing `done`: the client reloads the chat right after it.
            let mut db = ctx.db.writer().await?;
            ctx.writes.committed(&mut db, user_id, &[]).await?;
            let message_id = message.id;
            publisher.publish(&Event::Done { message }).await;
            metrics::counter!("chat_messages_total").increment(1);
            tracing::info!(message_id, "chat reply stored");
            Ok(Some(json!({ "message_id": message_id })))
        }
        Err(err) => {
            publisher.publish(&Event::Error { content: FAILED_TEXT.into() }).await;
            Err(err)
        }
    }
}

/// The stored reply: the one a previous run stored, or a new one streamed from the model.
async fn reply(
    ctx: &Context,
    job_id: &str,
    user_id: i64,
    chat_id: i64,
    user_message_id: i64,
    publisher: &mut Publisher,
) -> Result<ChatMessage, JobError> {
    let mut db = ctx.db.writer().await?;
    if let Some(existing) = chats::reply_to(&mut db, user_message_id).await? {
        return Ok(existing);
    }
    let turn = turn(&mut db, chat_id, user_message_id).await?;
    drop(db);
    // Not before the job runs: a friendship ended (or a persona made private) after the message
    // was accepted reads nothing of the owner's.
    if !turn.persona.allowed {
        return Err(JobError::Invalid("the chat's user may no longer talk to this persona".into()));
    }
    let text = persona_text(&turn.persona);
    let memories = match text.temporary {
        true => Memories { diaries: Vec::new(), sources: Vec::new() },
        false => {
            // A friend's chat sees only the owner's `friends` diaries, and the read is logged as theirs.
            let friend = (!turn.persona.is_own_persona).then_some(user_id);
            let by = ReadBy { job_id, kind: JobKind::ChatReply, friend };
            retrieve::memories(ctx, turn.persona.owner_id, &turn.message, memories_wanted(&turn.persona), by).await?
        }
    };
    let prompt = prompts::chat(&text, turn.history, &memories.diaries, &turn.message);
    let reply = stream_reply(ctx, &prompt, publisher).await?;
    store(ctx, chat_id, user_message_id, &reply, &memories.sources).await
}

/// What the reply answers: the chat's persona, its recent history and the user's message.
struct Turn {
    persona: ChatPersona,
    history: Vec<(bool, String)>,
    message: String,
}

async fn turn(db: &mut Conn, chat_id: i64, user_message_id: i64) -> Result<Turn, JobError> {
    let persona = chats::persona(db, chat_id)
        .await?
        .ok_or_else(|| JobError::Invalid("the persona of this chat no longer exists".into()))?;
    let history = chats::history(db, chat_id, user_message_id)
        .await?
        .into_iter()
        .map(|line| (line.is_user, line.content))
        .collect();
    let message = chats::message_content(db, user_message_id).await?;
    Ok(Turn { persona, history, message })
}

fn persona_text(persona: &ChatPersona) -> PersonaText {
    PersonaText {
        name: persona.name.clone(),
        personality: persona.personality.clone(),
        traits: persona.traits.clone(),
        speaking_style: persona.speaking_style.clone(),
        temporary: persona.level == "temporary",
        customization: persona.customization.clone(),
    }
}

/// How many of the owner's diaries the persona remembers: as many as the owner's context level
/// allows, capped at `standard` in friends' chats.
fn memories_wanted(persona: &ChatPersona) -> usize {
    let level = persona.rag_context_level.as_deref().unwrap_or("standard");
    match (level, persona.is_own_persona) {
        ("minimal", _) => 1,
        ("detailed", true) => 5,
        _ => 3,
    }
}

/// Streams the model's reply as `chunk` events; the whole text. Pieces are published in order by
/// one forwarding task, so the model's stream never waits on Redis.
async fn stream_reply(ctx: &Context, prompt: &Prompt, publisher: &mut Publisher) -> Result<String, JobError> {
    let (pieces, mut received) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mut forwarding = publisher.clone();
    let forwarder = tokio::spawn(async move {
        while let Some(content) = received.recv().await {
            forwarding.publish(&Event::Chunk { content }).await;
        }
        forwarding
    });
    let streamed = ctx.llm.stream_text(prompt, &pieces).await;
    drop(pieces);
    // The stream's next event follows the last chunk published.
    if let Ok(forwarded) = forwarder.await {
        *publisher = forwarded;
    }
    Ok(streamed?)
}

/// Stores `text` as the reply; if another run stored one first, that one.
/// Retried on a transient failure: the streamed reply is not lost to a database blip.
async fn store(
    ctx: &Context,
    chat_id: i64,
    user_message_id: i64,
    text: &str,
    sources: &[Source],
) -> Result<ChatMessage, JobError> {
    super::lifecycle::retrying(|| async {
        let mut db = ctx.db.writer().await?;
        if let Some(stored) = chats::insert_reply(&mut db, chat_id, user_message_id, text, sources).await? {
            return Ok(stored);
        }
        chats::reply_to(&mut db, user_message_id).await?.ok_or(JobError::Db(db::Error::RowCount(0)))
    })
    .await
}
