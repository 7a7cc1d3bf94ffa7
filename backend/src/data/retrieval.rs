//! The two halves of retrieving a persona owner's diaries for a conversation, each filtered in
//! SQL to the diaries the asker may see: the nearest embeddings by Hamming distance of their
//! sign bits (`bit_count(bits # query)`, a cheap first pass over the owner's rows that needs no
//! pgvector; the caller re-ranks these candidates exactly), and the diaries that contain the
//! most of the conversation's words (`strpos`: Hangul matches inside longer words).

use chrono::NaiveDate;
use tokio_postgres::types::Type;

use super::diaries::{Audience, DiaryText};
use crate::platform::db::{self, Executor};

/// A candidate of the first pass: a diary and its stored vector.
pub struct Candidate {
    pub diary_id: i64,
    pub vector: Vec<u8>,
}

crate::from_row!(Candidate { diary_id, vector });

/// Up to `limit` of `owner_id`'s diaries visible to `audience` whose embeddings (by `model` in
/// `dim` dimensions) have the signs closest to `bits`.
pub async fn nearest_by_bits(
    db: &mut impl Executor,
    owner_id: i64,
    audience: Audience,
    (model, dim): (&str, usize),
    bits: &str,
    limit: i64,
) -> db::Result<Vec<Candidate>> {
    let dim = i32::try_from(dim).unwrap_or(i32::MAX);
    // Ranked on the narrow columns alone; only the winners' vectors are read (they are TOASTed).
    // A private diary has no embedding, so the owner's own reads need no look at `diaries`.
    let friends_only = audience == Audience::Friend;
    db.fetch_all(
        "with c as ( \
             select e.diary_id from diary_embeddings e \
             where e.user_id = $1 and e.model = $2 and e.dim = $3 \
               and (not $4 or exists (select 1 from diaries d where d.id = e.diary_id and d.visibility = 'friends')) \
             order by bit_count(e.bits # $5::text::varbit), e.diary_id desc limit $6) \
         select e.diary_id, e.vector from c join diary_embeddings e on e.diary_id = c.diary_id",
        &[
            (&owner_id, Type::INT8),
            (&model, Type::TEXT),
            (&dim, Type::INT4),
            (&friends_only, Type::BOOL),
            (&bits, Type::TEXT),
            (&limit, Type::INT8),
        ],
    )
    .await
}

/// Up to `limit` of `owner_id`'s diaries visible to `audience` that contain any of `terms`, the
/// most terms first, then the newest.
pub async fn lexical(
    db: &mut impl Executor,
    owner_id: i64,
    audience: Audience,
    terms: &[String],
    limit: i64,
) -> db::Result<Vec<i64>> {
    let visible = audience.visible();
    let rows: Vec<db::Value<i64>> = db
        .fetch_all(
            "select id as value from ( \
                 select d.id, d.diary_date, (select count(*) from unnest($2::text[]) w \
                     where strpos(d.title, w) > 0 or strpos(d.content, w) > 0) as hits \
                 from diaries d where d.user_id = $1 and d.visibility = any($3)) m \
             where hits > 0 order by hits desc, diary_date desc limit $4",
            &[(&owner_id, Type::INT8), (&terms, Type::TEXT_ARRAY), (&visible, Type::TEXT_ARRAY), (&limit, Type::INT8)],
        )
        .await?;
    Ok(rows.into_iter().map(|db::Value(id)| id).collect())
}

/// `owner_id`'s diaries `ids` visible to `audience`, as the prompts read them, in `ids` order.
pub async fn texts(
    db: &mut impl Executor,
    owner_id: i64,
    audience: Audience,
    ids: &[i64],
) -> db::Result<Vec<DiaryText>> {
    let visible = audience.visible();
    let mut rows: Vec<DiaryText> = db
        .fetch_all(
            "select id, diary_date, title::text as title, content, mood::text as mood from diaries \
             where user_id = $1 and id = any($2) and visibility = any($3)",
            &[(&owner_id, Type::INT8), (&ids, Type::INT8_ARRAY), (&visible, Type::TEXT_ARRAY)],
        )
        .await?;
    rows.sort_by_key(|d| ids.iter().position(|id| *id == d.id));
    Ok(rows)
}

/// A diary a reply drew on, as the reply cites it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Source {
    pub diary_id: i64,
    pub diary_date: NaiveDate,
    pub title: String,
}
