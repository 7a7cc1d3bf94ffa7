//! Diary embeddings: one row per diary that may reach an LLM, with the model, dimension and
//! text hash it was made from (so a change of any re-embeds it), the vector (little-endian
//! float4s) and its signs as a bit string (the first pass of a similarity search).

use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;

use crate::platform::db::{self, Executor};

/// What one diary's embedding is made from: its title and body, the body cut at this many
/// characters (a model's input limit is about 8,000 tokens; Korean takes one or two a character).
pub const MAX_EMBEDDED_CHARS: usize = 4_000;

/// The text a diary is embedded as.
pub fn text_of(title: &str, content: &str) -> String {
    let body: String = content.chars().take(MAX_EMBEDDED_CHARS).collect();
    format!("{title}\n{body}")
}

/// Identifies the embedding of `text` by `model` in `dim` dimensions.
pub fn hash(model: &str, dim: usize, text: &str) -> String {
    hex::encode(Sha256::digest(format!("{model}\n{dim}\n{text}").as_bytes()))
}

/// The vector as stored: `dim` little-endian float4s.
pub fn encode(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn decode(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// The signs as a bit string literal (`1` for a positive component), for `::varbit`.
pub fn sign_bits(vector: &[f32]) -> String {
    vector.iter().map(|x| if *x > 0.0 { '1' } else { '0' }).collect()
}

/// The hash of a diary's stored embedding, if it has one.
#[tracing::instrument(level = "debug", skip_all, fields(diary_id = diary_id))]
pub async fn stored_hash(db: &mut impl Executor, diary_id: i64) -> db::Result<Option<String>> {
    let row: Option<db::Value<String>> = db
        .fetch_opt("select text_hash as value from diary_embeddings where diary_id = $1", &[(&diary_id, Type::INT8)])
        .await?;
    Ok(row.map(|db::Value(hash)| hash))
}

pub struct NewEmbedding<'a> {
    pub diary_id: i64,
    pub user_id: i64,
    pub model: &'a str,
    pub dim: usize,
    pub hash: &'a str,
    pub vector: &'a [f32],
}

/// Stores (or replaces) a diary's embedding; nothing if the diary is gone or became private
/// meanwhile.
#[tracing::instrument(level = "debug", skip_all, fields(diary_id = e.diary_id))]
pub async fn store(db: &mut impl Executor, e: &NewEmbedding<'_>) -> db::Result<()> {
    let dim = i32::try_from(e.dim).unwrap_or(i32::MAX);
    let (vector, bits) = (encode(e.vector), sign_bits(e.vector));
    db.execute(
        "insert into diary_embeddings (diary_id, user_id, model, dim, text_hash, vector, bits) \
         select id, user_id, $3, $4, $5, $6, $7::text::varbit from diaries \
         where id = $1 and user_id = $2 and visibility <> 'private' \
         on conflict (diary_id) do update set model = excluded.model, dim = excluded.dim, \
             text_hash = excluded.text_hash, vector = excluded.vector, bits = excluded.bits, embedded_at = now()",
        &[
            (&e.diary_id, Type::INT8),
            (&e.user_id, Type::INT8),
            (&e.model, Type::TEXT),
            (&dim, Type::INT4),
            (&e.hash, Type::TEXT),
            (&vector, Type::BYTEA),
            (&bits, Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}

/// Forgets a diary's embedding (it became private).
pub async fn delete(db: &mut impl Executor, diary_id: i64) -> db::Result<()> {
    db.execute("delete from diary_embeddings where diary_id = $1", &[(&diary_id, Type::INT8)]).await?;
    Ok(())
}

/// A diary to embed: its owner, id and text.
pub struct Pending {
    pub id: i64,
    pub user_id: i64,
    pub title: String,
    pub content: String,
}

crate::from_row!(Pending { id, user_id, title, content });

/// Up to `limit` diaries (not private) with no embedding by `model` in `dim` dimensions, oldest
/// first: what a backfill or a model change leaves to do. (An edited diary is re-embedded by
/// its analysis job, so the text hash need not be compared here.)
/// Only `user_id`'s diaries, if given.
pub async fn missing(
    db: &mut impl Executor,
    (model, dim): (&str, usize),
    user_id: Option<i64>,
    limit: i64,
) -> db::Result<Vec<Pending>> {
    let dim = i32::try_from(dim).unwrap_or(i32::MAX);
    db.fetch_all(
        "select d.id, d.user_id, d.title::text as title, d.content from diaries d \
         left join diary_embeddings e on e.diary_id = d.id and e.model = $1 and e.dim = $2 \
         where e.diary_id is null and d.visibility <> 'private' and ($4::int8 is null or d.user_id = $4) \
         order by d.id limit $3",
        &[(&model, Type::TEXT), (&dim, Type::INT4), (&limit, Type::INT8), (&user_id, Type::INT8)],
    )
    .await
}
