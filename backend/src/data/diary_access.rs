//! The diary access log: every read of a diary's text by an LLM job, which its owner can list
//! (`GET /diaries/access-log`). Written by the jobs right after they read, in the same place the
//! visibility filter is applied, so nothing reads diary text for an LLM without a trace.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::platform::db::{self, Executor};

/// Records that job `job_id` (`job_kind`) read `diary_ids` of `owner_id`, on behalf of
/// `reader_id` (a friend chatting with the owner's persona; `None` for the owner's own jobs).
#[tracing::instrument(level = "debug", skip_all, fields(owner_id = owner_id, job_id = job_id))]
pub async fn record(
    db: &mut impl Executor,
    owner_id: i64,
    diary_ids: &[i64],
    reader_id: Option<i64>,
    job_id: &str,
    job_kind: &str,
) -> db::Result<()> {
    if diary_ids.is_empty() {
        return Ok(());
    }
    db.execute(
        "insert into diary_access_log (owner_id, diary_id, reader_id, job_id, job_kind) \
         select $1, d, $3, $4, $5 from unnest($2::int8[]) d",
        &[
            (&owner_id, Type::INT8),
            (&diary_ids, Type::INT8_ARRAY),
            (&reader_id, Type::INT8),
            (&job_id, Type::TEXT),
            (&job_kind, Type::TEXT),
        ],
    )
    .await?;
    Ok(())
}

// One read of one diary, as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiaryAccess {
    pub diary_id: i64,
    pub diary_title: String,
    /// The friend whose chat read it; null for the owner's own jobs.
    pub reader_id: Option<i64>,
    pub reader_username: Option<String>,
    pub job_id: String,
    /// `persona`, `chat_reply`, `diary_analysis`, `weekly_summary`, `prompt_suggestions`.
    pub job_kind: String,
    #[serde(with = "crate::platform::time::utc")]
    pub accessed_at: DateTime<Utc>,
}
crate::from_row!(DiaryAccess { diary_id, diary_title, reader_id, reader_username, job_id, job_kind, accessed_at });

/// A page of `owner_id`'s access log, newest first, and its total.
#[tracing::instrument(level = "debug", skip_all, fields(owner_id = owner_id))]
pub async fn list(db: &mut impl Executor, owner_id: i64, skip: i64, limit: i64) -> db::Result<(Vec<DiaryAccess>, i64)> {
    let items = db
        .fetch_all(
            "select a.diary_id, d.title::text as diary_title, a.reader_id, u.username::text as reader_username, \
                    a.job_id, a.job_kind, a.accessed_at \
             from diary_access_log a join diaries d on d.id = a.diary_id left join users u on u.id = a.reader_id \
             where a.owner_id = $1 order by a.accessed_at desc, a.id desc offset $2 limit $3",
            &[(&owner_id, Type::INT8), (&skip, Type::INT8), (&limit, Type::INT8)],
        )
        .await?;
    let total = db
        .fetch_value("select count(*) as value from diary_access_log where owner_id = $1", &[(&owner_id, Type::INT8)])
        .await?;
    Ok((items, total))
}
