//! The reads over `mental_analyses` that the mental views make. "Latest" is by `created_at`
//! (contract); the id breaks ties.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::{Row, types::Type};
use utoipa::ToSchema;

use super::{SCORE_COLUMNS, Scores};
use crate::platform::db::{self, Executor, FromRow};

const ANALYSIS_COLUMNS: &str = "id, user_id, diary_id, emotional_stability_score, vitality_score, self_esteem_score, \
                                positivity_score, social_connection_score, resilience_score, overall_status, \
                                analysis_date, created_at";
const LATEST_FIRST: &str = "order by created_at desc, id desc";

/// One diary's analysis.
#[derive(Debug, Serialize, ToSchema)]
pub struct MentalAnalysis {
    pub id: i64,
    pub user_id: i64,
    pub diary_id: Option<i64>,
    #[serde(flatten)]
    pub scores: Scores,
    /// `good` | `neutral` | `concerning` | `critical`
    pub overall_status: String,
    pub analysis_date: NaiveDate,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
}

impl FromRow for MentalAnalysis {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            diary_id: row.try_get("diary_id")?,
            scores: Scores::from_row(row)?,
            overall_status: row.try_get("overall_status")?,
            analysis_date: row.try_get("analysis_date")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// An analysis with its stored feedback (`None` until the job has written it).
pub struct WithFeedback<T> {
    pub analysis: T,
    pub feedback: Option<Value>,
}

impl<T: FromRow> FromRow for WithFeedback<T> {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self { analysis: T::from_row(row)?, feedback: row.try_get("feedback")? })
    }
}

/// An analysis' overall status and scores.
pub struct Rated {
    pub overall_status: String,
    pub scores: Scores,
}

impl FromRow for Rated {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self { overall_status: row.try_get("overall_status")?, scores: Scores::from_row(row)? })
    }
}

/// A history entry: the date, status and scores, and how many entries the window holds.
pub struct Dated {
    pub analysis_date: NaiveDate,
    pub rated: Rated,
    pub total: i64,
}

impl FromRow for Dated {
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            analysis_date: row.try_get("analysis_date")?,
            rated: Rated::from_row(row)?,
            total: row.try_get("total")?,
        })
    }
}

/// An analysis' overall status and its stored feedback.
pub struct StatusFeedback {
    pub overall_status: String,
    pub feedback: Option<Value>,
}

crate::from_row!(StatusFeedback { overall_status, feedback });

/// How many analyses a window holds, and how many of them are concerning or critical.
pub struct Tally {
    pub analyses: i64,
    pub negative: i64,
}

crate::from_row!(Tally { analyses, negative });

/// The user's latest analysis, with its feedback.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn latest(db: &mut impl Executor, user_id: i64) -> db::Result<Option<WithFeedback<MentalAnalysis>>> {
    let sql =
        format!("select {ANALYSIS_COLUMNS}, feedback from mental_analyses where user_id = $1 {LATEST_FIRST} limit 1");
    db.fetch_opt(&sql, &[(&user_id, Type::INT8)]).await
}

/// The scores of the user's latest two analyses, newest first.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn latest_scores(db: &mut impl Executor, user_id: i64) -> db::Result<Vec<Scores>> {
    let sql = format!("select {SCORE_COLUMNS} from mental_analyses where user_id = $1 {LATEST_FIRST} limit 2");
    db.fetch_all(&sql, &[(&user_id, Type::INT8)]).await
}

/// The status and scores of the user's latest analysis.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn latest_rated(db: &mut impl Executor, user_id: i64) -> db::Result<Option<Rated>> {
    let sql = format!(
        "select overall_status, {SCORE_COLUMNS} from mental_analyses where user_id = $1 {LATEST_FIRST} limit 1"
    );
    db.fetch_opt(&sql, &[(&user_id, Type::INT8)]).await
}

/// The status and feedback of the user's analysis `analysis_id`, or of their latest one.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn feedback(
    db: &mut impl Executor,
    user_id: i64,
    analysis_id: Option<i64>,
) -> db::Result<Option<StatusFeedback>> {
    let sql = format!(
        "select overall_status, feedback from mental_analyses \
         where user_id = $1 and ($2::int8 is null or id = $2) {LATEST_FIRST} limit 1"
    );
    db.fetch_opt(&sql, &[(&user_id, Type::INT8), (&analysis_id, Type::INT8)]).await
}

/// A page of the user's analyses dated `since` or later, newest first, each with the window's
/// total (a window count, so the page and the total take one round trip).
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn history(
    db: &mut impl Executor,
    user_id: i64,
    since: NaiveDate,
    limit: i64,
    skip: i64,
) -> db::Result<Vec<Dated>> {
    let sql = format!(
        "select analysis_date, overall_status, {SCORE_COLUMNS}, count(*) over () as total \
         from mental_analyses where user_id = $1 and analysis_date >= $2 \
         order by analysis_date desc, created_at desc, id desc limit $3 offset $4"
    );
    db.fetch_all(&sql, &[(&user_id, Type::INT8), (&since, Type::DATE), (&limit, Type::INT8), (&skip, Type::INT8)]).await
}

/// How many of the user's analyses are dated `since` or later.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn count_since(db: &mut impl Executor, user_id: i64, since: NaiveDate) -> db::Result<i64> {
    db.fetch_value(
        "select count(*) as value from mental_analyses where user_id = $1 and analysis_date >= $2",
        &[(&user_id, Type::INT8), (&since, Type::DATE)],
    )
    .await
}

/// The [`Tally`] of the user's analyses dated `since` or later.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn tally_since(db: &mut impl Executor, user_id: i64, since: NaiveDate) -> db::Result<Tally> {
    db.fetch_one(
        "select count(*) as analyses, \
                count(*) filter (where overall_status in ('concerning', 'critical')) as negative \
         from mental_analyses where user_id = $1 and analysis_date >= $2",
        &[(&user_id, Type::INT8), (&since, Type::DATE)],
    )
    .await
}
