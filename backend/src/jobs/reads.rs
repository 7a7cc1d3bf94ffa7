//! Every read of diary text for an LLM, in one place: the visibility filter for who is asking
//! (`data::diaries::Audience`, applied in SQL) and the owner's access log, written right after
//! the read. A job reads diaries only through here.

use chrono::NaiveDate;

use super::{JobKind, error::JobError};
use crate::{
    data::{
        diaries::{self, Audience, DiaryText},
        diary_access, personas, retrieval,
    },
    llm::prompts,
    platform::db::Executor,
};

/// The job reading, and on whose behalf: a friend chatting with the owner's persona, or `None`
/// for the owner's own jobs.
#[derive(Clone, Copy)]
pub struct ReadBy<'a> {
    pub job_id: &'a str,
    pub kind: JobKind,
    pub friend: Option<i64>,
}

impl ReadBy<'_> {
    pub fn audience(&self) -> Audience {
        if self.friend.is_some() { Audience::Friend } else { Audience::Owner }
    }
}

/// `owner_id`'s latest `limit` diaries this reader may see (from `since` on, if given), newest
/// first, as the prompts show them; the read is logged.
pub async fn latest(
    db: &mut impl Executor,
    owner_id: i64,
    limit: i64,
    since: Option<NaiveDate>,
    by: ReadBy<'_>,
) -> Result<Vec<prompts::DiaryText>, JobError> {
    Ok(latest_since(db, owner_id, limit, since, by).await?.into_iter().map(prompt_text).collect())
}

/// `owner_id`'s latest `limit` diaries this reader may see, as stored; the read is logged.
pub async fn latest_texts(
    db: &mut impl Executor,
    owner_id: i64,
    limit: i64,
    by: ReadBy<'_>,
) -> Result<Vec<DiaryText>, JobError> {
    latest_since(db, owner_id, limit, None, by).await
}

async fn latest_since(
    db: &mut impl Executor,
    owner_id: i64,
    limit: i64,
    since: Option<NaiveDate>,
    by: ReadBy<'_>,
) -> Result<Vec<DiaryText>, JobError> {
    let mut read = personas::latest_diaries(db, owner_id, limit, by.audience()).await?;
    if let Some(since) = since {
        read.retain(|d| d.diary_date >= since);
    }
    log(db, owner_id, &read, by).await?;
    Ok(read)
}

/// `owner_id`'s diary `diary_id` for its analysis; `None` once deleted or made `private`. The
/// read is logged.
pub async fn one(
    db: &mut impl Executor,
    owner_id: i64,
    diary_id: i64,
    by: ReadBy<'_>,
) -> Result<Option<DiaryText>, JobError> {
    let Some(diary) = diaries::text(db, owner_id, diary_id).await? else { return Ok(None) };
    log(db, owner_id, std::slice::from_ref(&diary), by).await?;
    Ok(Some(diary))
}

/// `owner_id`'s diaries `ids` that this reader may see, in `ids` order (retrieval's choice);
/// the read is logged.
pub async fn chosen(
    db: &mut impl Executor,
    owner_id: i64,
    ids: &[i64],
    by: ReadBy<'_>,
) -> Result<Vec<DiaryText>, JobError> {
    let read = retrieval::texts(db, owner_id, by.audience(), ids).await?;
    log(db, owner_id, &read, by).await?;
    Ok(read)
}

async fn log(db: &mut impl Executor, owner_id: i64, read: &[DiaryText], by: ReadBy<'_>) -> Result<(), JobError> {
    let ids: Vec<i64> = read.iter().map(|d| d.id).collect();
    diary_access::record(db, owner_id, &ids, by.friend, by.job_id, by.kind.as_str()).await?;
    Ok(())
}

/// A stored diary as the prompts show it.
pub fn prompt_text(diary: DiaryText) -> prompts::DiaryText {
    prompts::DiaryText {
        date: diary.diary_date.to_string(),
        title: diary.title,
        content: diary.content,
        mood: diary.mood,
    }
}
