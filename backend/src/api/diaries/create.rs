//! Creating a diary: the date window, then one statement that inserts it with its notices and
//! the AI jobs it starts.

use axum::{Json, extract::State, http::StatusCode};
use chrono::{Duration, NaiveDate};

use super::{insights::keys_changed_by_diary_write, types::CreateDiary};
use crate::{
    api::{auth::session::AuthUser, state::AppState},
    data::diaries::{self, Diary},
    jobs::{self, AiJob},
    platform::{
        error::{ApiError, ApiResult, ErrorBody, Invalid, Unauthenticated},
        http::extract::Body,
        time::{today, week_start},
    },
};

#[utoipa::path(
    post, path = "/api/v1/diaries", tag = "diaries",
    security(("bearer" = [])),
    request_body = CreateDiary,
    responses(
        (status = 201, body = Diary),
        (status = 400, description = "Cannot write diary for future dates | Cannot write diary for dates older than 3 days | Diary already exists for this date", body = ErrorBody),
        Unauthenticated,
        Invalid,
    ),
)]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = auth.id()))]
pub async fn create_diary(
    State(state): State<AppState>,
    auth: AuthUser,
    Body(body): Body<CreateDiary>,
) -> ApiResult<(StatusCode, Json<Diary>)> {
    let today = today();
    check_date(body.diary_date, today)?;
    let user_id = auth.id();
    let diary_id = state.diary_ids.next(&state.db).await?;
    let batch = diary_jobs(user_id, diary_id, today);
    let mut db = state.db.writer().await?;
    let diary = diaries::create(&mut db, diary_id, user_id, &body.as_new(), &batch.params()).await?;
    batch.count();
    state.writes.committed(&mut db, user_id, &keys_changed_by_diary_write(user_id, diary.diary_date)).await?;
    metrics::counter!("diaries_created_total").increment(1);
    Ok((StatusCode::CREATED, Json(diary)))
}

/// Diaries are written for today or the 3 days before (UTC).
fn check_date(date: NaiveDate, today: NaiveDate) -> ApiResult<()> {
    if date > today {
        return Err(ApiError::bad_request("Cannot write diary for future dates"));
    }
    if date < today - Duration::days(3) {
        return Err(ApiError::bad_request("Cannot write diary for dates older than 3 days"));
    }
    Ok(())
}

/// What a new diary starts: its analysis, this week's summary and today's prompt suggestions
/// (the last two keyed, so they are queued once per week's diary and once a day).
fn diary_jobs(user_id: i64, diary_id: i64, today: NaiveDate) -> jobs::Batch {
    let week_start = week_start(today);
    let analysis = AiJob::AnalyzeDiary { job_id: jobs::new_job_id(), user_id, diary_id };
    let summary = AiJob::WeeklySummary { job_id: jobs::new_job_id(), user_id, week_start };
    let prompts = AiJob::PromptSuggestions { job_id: jobs::new_job_id(), user_id, day: today };
    let summary_key = format!("weekly:{user_id}:{week_start}:{diary_id}");
    let prompts_key = format!("prompts:{user_id}:{today}");
    jobs::Batch::new(&[(&analysis, None), (&summary, Some(&summary_key)), (&prompts, Some(&prompts_key))])
}
