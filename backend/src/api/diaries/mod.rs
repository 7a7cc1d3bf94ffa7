//! Diaries: one per user per date, written within today-3..today (UTC), owner-scoped (contract
//! 4.3). Another user's diary is indistinguishable from a missing one (404).

pub(crate) mod insights;

use std::sync::LazyLock;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Row, types::Type};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::auth::session::AuthUser,
    platform::cache::{Cache, CacheKey, Computed},
    platform::db::{IdBlock, Param},
    platform::error::{ApiError, ApiResult},
    platform::http::{
        extract::{Body, IdPath, QueryParams, nullable},
        validate::{Validate, Violations},
    },
    jobs::{self, AiJob},
    api::state::AppState,
    platform::time::today,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/diaries", get(list_diaries).post(create_diary))
        .route("/diaries/count", get(count_diaries))
        .route("/diaries/stats", get(insights::get_stats))
        .route("/diaries/calendar", get(insights::get_calendar))
        .route("/diaries/weekly-insight", get(insights::get_weekly_insight))
        .route("/diaries/prompt-suggestions", get(insights::get_prompt_suggestions))
        .route("/diaries/{diary_id}", get(get_diary).patch(update_diary).delete(delete_diary))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Diary {
    id: i64,
    user_id: i64,
    title: String,
    content: String,
    mood: Option<String>,
    weather: Option<String>,
    diary_date: NaiveDate,
    #[serde(with = "crate::platform::time::utc")]
    created_at: DateTime<Utc>,
    #[serde(with = "crate::platform::time::utc")]
    updated_at: DateTime<Utc>,
}

const DIARY_COLUMNS: &str = "id, user_id, title, content, mood, weather, diary_date, created_at, updated_at";

impl Diary {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            user_id: row.get("user_id"),
            title: row.get("title"),
            content: row.get("content"),
            mood: row.get("mood"),
            weather: row.get("weather"),
            diary_date: row.get("diary_date"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

#[derive(Deserialize, ToSchema)]
struct CreateDiary {
    title: String,
    content: String,
    mood: Option<String>,
    weather: Option<String>,
    diary_date: NaiveDate,
}

impl Validate for CreateDiary {
    fn validate(&self, v: &mut Violations) {
        v.str_len("title", &self.title, 1, Some(200));
        v.str_len("content", &self.content, 1, None);
        v.opt_str_len("mood", self.mood.as_deref(), 0, Some(50));
        v.opt_str_len("weather", self.weather.as_deref(), 0, Some(50));
    }
}

/// The id of a new diary: reserved ahead, so its analysis job (which names it) can go into the
/// statement that inserts it.
pub(crate) fn id_block() -> IdBlock {
    IdBlock::new("select nextval(pg_get_serial_sequence('diaries', 'id')) from generate_series(1, 64)")
}

/// A new diary, what it triggers and its AI work, in one statement: it commits as a whole, with
/// no explicit transaction, so PgBouncer holds a server connection only while it runs.
///
/// - `c`: the user's diary count including this one (the statement's snapshot does not see the
///   row it inserts, hence the + 1).
/// - `milestones`: the 3rd, 5th and 7th diary notices, each sent once (the partial unique index
///   makes a concurrent duplicate a no-op). Past 7 diaries nothing applies.
/// - `upgrade`: at the 3rd and 7th diary, an upgrade notice for a persona below the level those
///   unlock, unless an unread one is waiting.
/// - `queued`/`tracked`: the jobs (`jobs::Batch`, parameters 8 to 15).
static CREATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with d as ( \
             insert into diaries (id, user_id, title, content, mood, weather, diary_date) overriding system value \
             values ($1, $2, $3, $4, $5, $6, $7) returning {DIARY_COLUMNS}), \
         c as (select count(*) + 1 as n from diaries where user_id = $2), \
         milestones as ( \
             insert into notifications (user_id, type, title, content) \
             select $2, 'milestone_' || m.n, m.title, m.content \
             from (values (3, '일기 3개 달성! 🎉', '벌써 3개의 일기를 썼어요. 페르소나를 성장시킬 수 있어요!'), \
                          (5, '일기 5개 달성! 🌟', '꾸준히 기록하고 있어요. 조금만 더 쓰면 완전한 페르소나를 만들 수 있어요!'), \
                          (7, '일기 7개 달성! 🏆', '7개의 일기로 나만의 완전한 AI 페르소나를 만들 수 있어요!')) as m(n, title, content), c \
             where c.n >= m.n and c.n <= 7 \
             on conflict (user_id, type) where type like 'milestone\\_%' do nothing), \
         upgrade as ( \
             insert into notifications (user_id, type, title, content) \
             select $2, 'persona_upgrade_available', '페르소나를 성장시킬 수 있어요! 🌱', '지금 페르소나를 업그레이드해 보세요.' \
             from personas p, c \
             where p.user_id = $2 and ((c.n = 3 and p.level = 'temporary') or (c.n = 7 and p.level <> 'complete')) \
               and not exists (select 1 from notifications where user_id = $2 and type = 'persona_upgrade_available' and not is_read)), \
         {} \
         select {DIARY_COLUMNS} from d",
        jobs::Batch::ctes(8)
    )
});

#[utoipa::path(post, path = "/api/v1/diaries", tag = "diaries", security(("bearer" = [])), request_body = CreateDiary, responses((status = 201, body = Diary), (status = 400, description = "Cannot write diary for future dates | Cannot write diary for dates older than 3 days | Diary already exists for this date", body = crate::platform::error::ErrorBody), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn create_diary(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<CreateDiary>,
) -> ApiResult<(StatusCode, Json<Diary>)> {
    let today = today();
    if body.diary_date > today {
        return Err(ApiError::bad_request("Cannot write diary for future dates"));
    }
    if body.diary_date < today - Duration::days(3) {
        return Err(ApiError::bad_request("Cannot write diary for dates older than 3 days"));
    }
    let user_id = auth.id();
    let diary_id = state.diary_ids.next(&state.db).await?;
    let week_start = today - Duration::days(i64::from(chrono::Datelike::weekday(&today).num_days_from_monday()));
    let analysis = AiJob::AnalyzeDiary { job_id: jobs::new_job_id(), user_id, diary_id };
    let summary = AiJob::WeeklySummary { job_id: jobs::new_job_id(), user_id, week_start };
    let prompts = AiJob::PromptSuggestions { job_id: jobs::new_job_id(), user_id, day: today };
    let (summary_key, prompts_key) =
        (format!("weekly:{user_id}:{week_start}:{diary_id}"), format!("prompts:{user_id}:{today}"));
    let batch = jobs::Batch::new(&[(&analysis, None), (&summary, Some(&summary_key)), (&prompts, Some(&prompts_key))]);
    let mut params: Vec<Param<'_>> = vec![
        (&diary_id, Type::INT8),
        (&user_id, Type::INT8),
        (&body.title, Type::VARCHAR),
        (&body.content, Type::TEXT),
        (&body.mood, Type::VARCHAR),
        (&body.weather, Type::VARCHAR),
        (&body.diary_date, Type::DATE),
    ];
    params.extend(batch.params());
    let mut db = state.db.writer().await?;
    let diary = Diary::from_row(&db.query_one(&CREATE_SQL, &params).await?);
    batch.count();
    state.writes.committed(&mut db, auth.id(), &insights::keys_changed_by_diary_write(auth.id(), diary.diary_date)).await?;
    metrics::counter!("diaries_created_total").increment(1);
    Ok((StatusCode::CREATED, Json(diary)))
}

#[derive(Serialize, ToSchema)]
pub struct DiaryPage {
    items: Vec<Diary>,
    total: i64,
    page: i64,
    per_page: i64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Count {
    count: i64,
}

#[derive(Deserialize, IntoParams)]
struct ListQuery {
    #[serde(default = "one")]
    page: i64,
    #[serde(default = "ten")]
    per_page: i64,
    mood: Option<String>,
}

fn one() -> i64 {
    1
}
fn ten() -> i64 {
    10
}

impl Validate for ListQuery {
    fn validate(&self, v: &mut Violations) {
        v.range("page", self.page, 1, None);
        v.range("per_page", self.per_page, 1, Some(100));
    }
}

/// One round trip: the page and the total (an index-only count) together; only a page past the
/// end needs a separate count.
#[utoipa::path(get, path = "/api/v1/diaries", tag = "diaries", security(("bearer" = [])), params(ListQuery), responses((status = 200, body = DiaryPage), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn list_diaries(
    State(state): State<AppState>,
    auth: AuthUser,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<DiaryPage>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let offset = (q.page - 1).saturating_mul(q.per_page);
    let rows = db
        .query(
            &format!(
                // The total comes from an index-only count (evaluated once), so the page reads
                // only its own rows, not all of the user's diaries as `count(*) over ()` would.
                "select {DIARY_COLUMNS}, \
                        (select count(*) from diaries where user_id = $1 and ($2::varchar is null or mood = $2)) as total \
                 from diaries where user_id = $1 and ($2::varchar is null or mood = $2) \
                 order by diary_date desc limit $3 offset $4"
            ),
            &[(&auth.id(), Type::INT8), (&q.mood, Type::VARCHAR), (&q.per_page, Type::INT8), (&offset, Type::INT8)],
        )
        .await?;
    let total: i64 = match rows.first() {
        Some(row) => row.get("total"),
        None if q.page > 1 => db
            .query_one(
                "select count(*) from diaries where user_id = $1 and ($2::varchar is null or mood = $2)",
                &[(&auth.id(), Type::INT8), (&q.mood, Type::VARCHAR)],
            )
            .await?
            .get(0),
        None => 0,
    };
    let items: Vec<Diary> = rows.iter().map(Diary::from_row).collect();
    Ok(Json(DiaryPage { items, total, page: q.page, per_page: q.per_page }))
}

#[utoipa::path(get, path = "/api/v1/diaries/count", tag = "diaries", security(("bearer" = [])), responses((status = 200, body = Count), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody)))]
async fn count_diaries(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Count>> {
    let (user_id, min_lsn) = (auth.id(), auth.min_lsn);
    let count = state
        .cache.cached(&CacheKey::new(Cache::DiaryCount, user_id), min_lsn, || async {
            let mut db = state.db.reader(min_lsn).await?;
            let row =
                db.query_one("select count(*) from diaries where user_id = $1", &[(&user_id, Type::INT8)]).await?;
            Ok(Computed { role: db.role(), value: Count { count: row.get(0) } })
        })
        .await?;
    Ok(Json(count))
}

#[utoipa::path(get, path = "/api/v1/diaries/{diary_id}", tag = "diaries", security(("bearer" = [])), params(("diary_id" = i64, Path)), responses((status = 200, body = Diary), (status = 404, description = "Diary not found", body = crate::platform::error::ErrorBody), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn get_diary(State(state): State<AppState>, auth: AuthUser, IdPath(id): IdPath) -> ApiResult<Json<Diary>> {
    let mut db = state.db.reader(auth.min_lsn).await?;
    let row = db
        .query_opt(
            &format!("select {DIARY_COLUMNS} from diaries where id = $1 and user_id = $2"),
            &[(&id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Diary not found"))?;
    Ok(Json(Diary::from_row(&row)))
}

#[derive(Deserialize, ToSchema)]
struct UpdateDiary {
    title: Option<String>,
    content: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    mood: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    weather: Option<Option<String>>,
}

impl Validate for UpdateDiary {
    fn validate(&self, v: &mut Violations) {
        v.opt_str_len("title", self.title.as_deref(), 1, Some(200));
        v.opt_str_len("content", self.content.as_deref(), 1, None);
        v.opt_str_len("mood", self.mood.as_ref().and_then(Option::as_deref), 0, Some(50));
        v.opt_str_len("weather", self.weather.as_ref().and_then(Option::as_deref), 0, Some(50));
    }
}

/// Partial update: absent fields are kept, an explicit `null` clears mood or weather.
#[utoipa::path(patch, path = "/api/v1/diaries/{diary_id}", tag = "diaries", security(("bearer" = [])), params(("diary_id" = i64, Path)), request_body = UpdateDiary, responses((status = 200, body = Diary), (status = 404, description = "Diary not found", body = crate::platform::error::ErrorBody), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn update_diary(
    State(state): State<AppState>,
    auth: AuthUser,
    IdPath(id): IdPath,
    Body(body): Body<UpdateDiary>,
) -> ApiResult<Json<Diary>> {
    let mut db = state.db.writer().await?;
    let (mood_given, mood) = (body.mood.is_some(), body.mood.flatten());
    let (weather_given, weather) = (body.weather.is_some(), body.weather.flatten());
    let mut tx = db.transaction().await?;
    let row = tx
        .query_typed(
            &format!(
                "update diaries set title = coalesce($3, title), content = coalesce($4, content), \
                 mood = case when $5 then $6 else mood end, weather = case when $7 then $8 else weather end, \
                 updated_at = now() where id = $1 and user_id = $2 returning {DIARY_COLUMNS}"
            ),
            &[
                (&id, Type::INT8),
                (&auth.id(), Type::INT8),
                (&body.title, Type::VARCHAR),
                (&body.content, Type::TEXT),
                (&mood_given, Type::BOOL),
                (&mood, Type::VARCHAR),
                (&weather_given, Type::BOOL),
                (&weather, Type::VARCHAR),
            ],
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("Diary not found"))?;
    let diary = Diary::from_row(&row);
    // The analysis is redone on the new text (it replaces the stored one).
    jobs::enqueue(
        &mut tx,
        &AiJob::AnalyzeDiary { job_id: jobs::new_job_id(), user_id: auth.id(), diary_id: diary.id },
        None,
    )
    .await?;
    tx.commit().await?;
    state.writes.committed(&mut db, auth.id(), &insights::keys_changed_by_diary_write(auth.id(), diary.diary_date)).await?;
    Ok(Json(diary))
}

#[utoipa::path(delete, path = "/api/v1/diaries/{diary_id}", tag = "diaries", security(("bearer" = [])), params(("diary_id" = i64, Path)), responses((status = 204), (status = 404, description = "Diary not found", body = crate::platform::error::ErrorBody), (status = 401, description = "Not authenticated", body = crate::platform::error::ErrorBody), (status = 422, description = "Validation error", body = crate::platform::error::ValidationErrorBody)))]
async fn delete_diary(State(state): State<AppState>, auth: AuthUser, IdPath(id): IdPath) -> ApiResult<StatusCode> {
    let mut db = state.db.writer().await?;
    let deleted = db
        .query_opt(
            "delete from diaries where id = $1 and user_id = $2 returning diary_date",
            &[(&id, Type::INT8), (&auth.id(), Type::INT8)],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("Diary not found"))?;
    state.writes.committed(&mut db, auth.id(), &insights::keys_changed_by_diary_write(auth.id(), deleted.get(0))).await?;
    Ok(StatusCode::NO_CONTENT)
}
