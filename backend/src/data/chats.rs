//! Chats, their messages and the daily message count: rows and SQL shared by the chat API and
//! the chat-reply job.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{
    Row,
    types::{Json, Type},
};
use utoipa::ToSchema;

pub use super::retrieval::Source;
use crate::platform::db::{self, Executor, FromRow, Value};

// A chat of a user with a persona (their own or a friend's). (`//`, not `///`: a doc comment
// would become the schema's description in the OpenAPI document.)
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Chat {
    pub id: i64,
    pub user_id: i64,
    pub persona_id: i64,
    pub is_own_persona: bool,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    pub updated_at: DateTime<Utc>,
}
crate::from_row!(Chat { id, user_id, persona_id, is_own_persona, created_at, updated_at });

// A message of a chat: the user's (`is_user`) or the persona's reply.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    pub id: i64,
    pub chat_id: i64,
    pub content: String,
    pub is_user: bool,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
    /// A persona's reply: the diaries it drew on (added; absent on users' messages and on
    /// replies from before retrieval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<Source>>,
}

impl FromRow for ChatMessage {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        let sources: Option<Json<Vec<Source>>> = row.try_get("sources")?;
        Ok(Self {
            id: row.try_get("id")?,
            chat_id: row.try_get("chat_id")?,
            content: row.try_get("content")?,
            is_user: row.try_get("is_user")?,
            created_at: row.try_get("created_at")?,
            sources: sources.map(|Json(s)| s),
        })
    }
}

const CHAT_COLUMNS: &str = "id, user_id, persona_id, is_own_persona, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, chat_id, content, is_user, created_at, sources";

/// The owner of persona `persona_id`, if it exists.
#[tracing::instrument(level = "debug", skip_all, fields(persona_id = persona_id))]
pub async fn persona_owner(db: &mut impl Executor, persona_id: i64) -> db::Result<Option<PersonaOwner>> {
    db.fetch_opt("select user_id, is_public from personas where id = $1", &[(&persona_id, Type::INT8)]).await
}

/// Whose a persona is, and whether its owner shares it with friends.
pub struct PersonaOwner {
    pub user_id: i64,
    pub is_public: bool,
}
crate::from_row!(PersonaOwner { user_id, is_public });

/// Creates a chat of `user_id` with `persona_id`; the new chat.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, persona_id = persona_id))]
pub async fn insert(db: &mut impl Executor, user_id: i64, persona_id: i64, own: bool) -> db::Result<Chat> {
    let sql =
        format!("insert into chats (user_id, persona_id, is_own_persona) values ($1, $2, $3) returning {CHAT_COLUMNS}");
    db.fetch_one(&sql, &[(&user_id, Type::INT8), (&persona_id, Type::INT8), (&own, Type::BOOL)]).await
}

/// A chat in a page of chats, with the count of all the user's chats.
struct ListedChat {
    id: i64,
    user_id: i64,
    persona_id: i64,
    is_own_persona: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    total: i64,
}
crate::from_row!(ListedChat { id, user_id, persona_id, is_own_persona, created_at, updated_at, total });

/// One page of `user_id`'s chats, most recently updated first, and how many chats they have.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn list_page(db: &mut impl Executor, user_id: i64, limit: i64, offset: i64) -> db::Result<(Vec<Chat>, i64)> {
    let sql = format!(
        "select {CHAT_COLUMNS}, count(*) over () as total from chats where user_id = $1 \
         order by updated_at desc, id desc limit $2 offset $3"
    );
    let rows: Vec<ListedChat> =
        db.fetch_all(&sql, &[(&user_id, Type::INT8), (&limit, Type::INT8), (&offset, Type::INT8)]).await?;
    let total = match rows.first() {
        Some(row) => row.total,
        // A page past the end has no row to carry the total.
        None => {
            db.fetch_value("select count(*) as value from chats where user_id = $1", &[(&user_id, Type::INT8)]).await?
        }
    };
    let chats = rows
        .into_iter()
        .map(|r| Chat {
            id: r.id,
            user_id: r.user_id,
            persona_id: r.persona_id,
            is_own_persona: r.is_own_persona,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect();
    Ok((chats, total))
}

/// Chat `chat_id` if it belongs to `user_id`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, chat_id = chat_id))]
pub async fn find(db: &mut impl Executor, user_id: i64, chat_id: i64) -> db::Result<Option<Chat>> {
    let sql = format!("select {CHAT_COLUMNS} from chats where id = $1 and user_id = $2");
    db.fetch_opt(&sql, &[(&chat_id, Type::INT8), (&user_id, Type::INT8)]).await
}

/// Deletes chat `chat_id` of `user_id` (its messages cascade); whether it existed.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, chat_id = chat_id))]
pub async fn delete(db: &mut impl Executor, user_id: i64, chat_id: i64) -> db::Result<bool> {
    let deleted = db
        .execute("delete from chats where id = $1 and user_id = $2", &[(&chat_id, Type::INT8), (&user_id, Type::INT8)])
        .await?;
    Ok(deleted > 0)
}

/// The oldest `limit` messages of chat `chat_id`, in order.
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id))]
pub async fn messages(db: &mut impl Executor, chat_id: i64, limit: i64) -> db::Result<Vec<ChatMessage>> {
    let sql = format!("select {MESSAGE_COLUMNS} from chat_messages where chat_id = $1 order by id limit $2");
    db.fetch_all(&sql, &[(&chat_id, Type::INT8), (&limit, Type::INT8)]).await
}

/// The latest `limit` messages of chat `chat_id`, oldest first.
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id))]
pub async fn latest_messages(db: &mut impl Executor, chat_id: i64, limit: i64) -> db::Result<Vec<ChatMessage>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select {MESSAGE_COLUMNS} from (select * from chat_messages where chat_id = $1 \
             order by id desc limit $2) m order by id"
        )
    });
    db.fetch_all(&SQL, &[(&chat_id, Type::INT8), (&limit, Type::INT8)]).await
}

/// Counts one message against `user_id`'s messages of `day`, unless `limit` messages were already
/// counted (`None`: no limit). Atomic, so concurrent sends cannot slip past the limit; whether
/// the message was counted.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn count_message(
    db: &mut impl Executor,
    user_id: i64,
    day: NaiveDate,
    limit: Option<i64>,
) -> db::Result<bool> {
    let counted = db
        .execute(
            "insert into chat_usage (user_id, usage_date, messages) values ($1, $2, 1) \
             on conflict (user_id, usage_date) do update set messages = chat_usage.messages + 1 \
             where $3::int8 is null or chat_usage.messages < $3",
            &[(&user_id, Type::INT8), (&day, Type::DATE), (&limit, Type::INT8)],
        )
        .await?;
    Ok(counted == 1)
}

/// Stores the user's message `content` in chat `chat_id`; the new message.
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id))]
pub async fn insert_user_message(db: &mut impl Executor, chat_id: i64, content: &str) -> db::Result<ChatMessage> {
    let sql = format!(
        "insert into chat_messages (chat_id, content, is_user) values ($1, $2, true) returning {MESSAGE_COLUMNS}"
    );
    db.fetch_one(&sql, &[(&chat_id, Type::INT8), (&content, Type::TEXT)]).await
}

/// The persona's reply to message `user_message_id`, once stored.
#[tracing::instrument(level = "debug", skip_all, fields(user_message_id = user_message_id))]
pub async fn reply_to(db: &mut impl Executor, user_message_id: i64) -> db::Result<Option<ChatMessage>> {
    let sql = format!("select {MESSAGE_COLUMNS} from chat_messages where reply_to = $1");
    db.fetch_opt(&sql, &[(&user_message_id, Type::INT8)]).await
}

/// Stores `content` as the reply to message `user_message_id`; `None` when a reply already
/// exists (a unique `reply_to` makes a re-run a no-op).
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id, user_message_id = user_message_id))]
pub async fn insert_reply(
    db: &mut impl Executor,
    chat_id: i64,
    user_message_id: i64,
    content: &str,
    sources: &[Source],
) -> db::Result<Option<ChatMessage>> {
    let sql = format!(
        "insert into chat_messages (chat_id, content, is_user, reply_to, sources) values ($1, $2, false, $3, $4) \
         on conflict (reply_to) do nothing returning {MESSAGE_COLUMNS}"
    );
    let sources = Json(sources);
    db.fetch_opt(
        &sql,
        &[(&chat_id, Type::INT8), (&content, Type::TEXT), (&user_message_id, Type::INT8), (&sources, Type::JSONB)],
    )
    .await
}

/// The id of the reply job of `user_id`'s message `message_id` in chat `chat_id`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, chat_id = chat_id, message_id = message_id))]
pub async fn reply_job_id(
    db: &mut impl Executor,
    user_id: i64,
    chat_id: i64,
    message_id: i64,
) -> db::Result<Option<String>> {
    let job_id = db
        .fetch_opt::<Value<String>>(
            "select a.id as value from chat_messages m \
             join ai_jobs a on a.kind = 'chat_reply' and a.subject_id = m.id \
             where m.id = $1 and m.chat_id = $2 and m.is_user and a.user_id = $3",
            &[(&message_id, Type::INT8), (&chat_id, Type::INT8), (&user_id, Type::INT8)],
        )
        .await?;
    Ok(job_id.map(|v| v.0))
}

/// The persona a chat talks to, as the reply job needs it.
pub struct ChatPersona {
    pub name: String,
    pub personality: String,
    pub traits: Vec<String>,
    pub speaking_style: Option<String>,
    /// `temporary`, `basic` or `complete`.
    pub level: String,
    pub customization: serde_json::Value,
    /// The persona's owner, whose diaries are its memories.
    pub owner_id: i64,
    pub is_own_persona: bool,
    /// The owner's `minimal` | `standard` | `detailed` (unset: `standard`).
    pub rag_context_level: Option<String>,
    /// Whether the chat's user may still talk to this persona ([`ALLOWED_SQL`]).
    pub allowed: bool,
}
crate::from_row!(ChatPersona {
    name,
    personality,
    traits,
    speaking_style,
    level,
    customization,
    owner_id,
    is_own_persona,
    rag_context_level,
    allowed,
});

/// Whether chat `c`'s user may talk to its persona `p` now: always their own; another user's only
/// while it is public and the two are accepted friends (an unfriending or a persona made private
/// ends the conversation at the next message, and at the reply job).
const ALLOWED_SQL: &str = "(c.is_own_persona or (p.is_public and exists ( \
         select 1 from friendships f where f.status = 'accepted' \
           and ((f.requester_id = c.user_id and f.addressee_id = p.user_id) \
             or (f.requester_id = p.user_id and f.addressee_id = c.user_id)))))";

/// Whether the user of chat `chat_id` may still talk to its persona; `None` without the chat or
/// the persona.
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id))]
pub async fn still_allowed(db: &mut impl Executor, chat_id: i64) -> db::Result<Option<bool>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!("select {ALLOWED_SQL} as value from chats c join personas p on p.id = c.persona_id where c.id = $1")
    });
    let allowed: Option<Value<bool>> = db.fetch_opt(&SQL, &[(&chat_id, Type::INT8)]).await?;
    Ok(allowed.map(|Value(v)| v))
}

/// The persona of chat `chat_id`, if the chat and the persona still exist.
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id))]
pub async fn persona(db: &mut impl Executor, chat_id: i64) -> db::Result<Option<ChatPersona>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "select p.name::text as name, p.personality, coalesce(p.traits, '{{}}'::text[]) as traits, \
                    p.speaking_style, p.level, coalesce(p.customization, '{{}}'::jsonb) as customization, \
                    p.user_id as owner_id, c.is_own_persona, u.rag_context_level, {ALLOWED_SQL} as allowed \
             from chats c join personas p on p.id = c.persona_id join users u on u.id = p.user_id \
             where c.id = $1"
        )
    });
    db.fetch_opt(&SQL, &[(&chat_id, Type::INT8)]).await
}

/// A line of a chat's history: who said it and what.
pub struct HistoryLine {
    pub is_user: bool,
    pub content: String,
}
crate::from_row!(HistoryLine { is_user, content });

/// The last ten messages of chat `chat_id` before message `before_id`, oldest first.
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id))]
pub async fn history(db: &mut impl Executor, chat_id: i64, before_id: i64) -> db::Result<Vec<HistoryLine>> {
    db.fetch_all(
        "select is_user, content from ( \
             select id, content, is_user from chat_messages where chat_id = $1 and id < $2 \
             order by id desc limit 10) h \
         order by id",
        &[(&chat_id, Type::INT8), (&before_id, Type::INT8)],
    )
    .await
}

/// The text of message `message_id`.
#[tracing::instrument(level = "debug", skip_all, fields(message_id = message_id))]
pub async fn message_content(db: &mut impl Executor, message_id: i64) -> db::Result<String> {
    db.fetch_value("select content as value from chat_messages where id = $1", &[(&message_id, Type::INT8)]).await
}

/// The sources of message `message_id` of chat `chat_id`: `None` if the chat has no such
/// message, an empty list for a user's message or a reply from before retrieval.
#[tracing::instrument(level = "debug", skip_all, fields(chat_id = chat_id, message_id = message_id))]
pub async fn message_sources(db: &mut impl Executor, chat_id: i64, message_id: i64) -> db::Result<Option<Vec<Source>>> {
    let row: Option<Value<Option<Json<Vec<Source>>>>> = db
        .fetch_opt(
            "select sources as value from chat_messages where id = $1 and chat_id = $2",
            &[(&message_id, Type::INT8), (&chat_id, Type::INT8)],
        )
        .await?;
    Ok(row.map(|Value(sources)| sources.map(|Json(s)| s).unwrap_or_default()))
}
