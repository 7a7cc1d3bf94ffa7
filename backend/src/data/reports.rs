//! Weekly and monthly mental reports: the stored report, the period's analysis averages it is
//! built from, and its upsert.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::{
    data::mental::Axes,
    platform::db::{self, Executor, FromRow, Value},
};

// A stored report, scores read as `int8`. (`//`, not `///`: a doc comment would become the
// schema's description in the OpenAPI document.)
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MentalReport {
    pub id: i64,
    pub user_id: i64,
    pub report_type: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub avg_emotional_stability_score: i64,
    pub avg_vitality_score: i64,
    pub avg_self_esteem_score: i64,
    pub avg_positivity_score: i64,
    pub avg_social_connection_score: i64,
    pub avg_resilience_score: i64,
    pub trend: String,
    pub insights: Option<Vec<String>>,
    pub recommendations: Option<Vec<String>>,
    #[serde(with = "crate::platform::time::utc")]
    pub created_at: DateTime<Utc>,
}
crate::from_row!(MentalReport {
    id,
    user_id,
    report_type,
    period_start,
    period_end,
    avg_emotional_stability_score,
    avg_vitality_score,
    avg_self_esteem_score,
    avg_positivity_score,
    avg_social_connection_score,
    avg_resilience_score,
    trend,
    insights,
    recommendations,
    created_at,
});

/// `user_id`'s `report_type` report for the period starting `period_start`, if built.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, report_type = report_type))]
pub async fn find(
    db: &mut impl Executor,
    user_id: i64,
    report_type: &str,
    period_start: NaiveDate,
) -> db::Result<Option<MentalReport>> {
    db.fetch_opt(
        "select id, user_id, report_type, period_start, period_end, \
                avg_emotional_stability_score::int8 as avg_emotional_stability_score, \
                avg_vitality_score::int8 as avg_vitality_score, \
                avg_self_esteem_score::int8 as avg_self_esteem_score, \
                avg_positivity_score::int8 as avg_positivity_score, \
                avg_social_connection_score::int8 as avg_social_connection_score, \
                avg_resilience_score::int8 as avg_resilience_score, \
                trend, insights, recommendations, created_at \
         from mental_reports where user_id = $1 and report_type = $2 and period_start = $3",
        &[(&user_id, Type::INT8), (&report_type, Type::TEXT), (&period_start, Type::DATE)],
    )
    .await
}

/// When the newest of `user_id`'s analyses dated `start..=end` was written; `None` without any.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn newest_analysis_at(
    db: &mut impl Executor,
    user_id: i64,
    start: NaiveDate,
    end: NaiveDate,
) -> db::Result<Option<DateTime<Utc>>> {
    db.fetch_value(
        "select max(created_at) as value from mental_analyses \
         where user_id = $1 and analysis_date between $2 and $3",
        &[(&user_id, Type::INT8), (&start, Type::DATE), (&end, Type::DATE)],
    )
    .await
}

/// The integer floor of each axis' mean over a period's analyses (0 without any).
#[derive(Debug, Clone, Copy)]
pub struct Averages {
    /// How many analyses the period has.
    pub analyses: i64,
    pub axes: Axes,
}

impl FromRow for Averages {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self { analyses: row.try_get("analyses")?, axes: Axes::from_row(row)? })
    }
}

/// The averages of `user_id`'s analyses dated `start..=end`.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn averages(db: &mut impl Executor, user_id: i64, start: NaiveDate, end: NaiveDate) -> db::Result<Averages> {
    db.fetch_one(
        "select count(*) as analyses, \
                coalesce(floor(avg(emotional_stability_score)), 0)::int8 as emotional_stability, \
                coalesce(floor(avg(vitality_score)), 0)::int8 as vitality, \
                coalesce(floor(avg(self_esteem_score)), 0)::int8 as self_esteem, \
                coalesce(floor(avg(positivity_score)), 0)::int8 as positivity, \
                coalesce(floor(avg(social_connection_score)), 0)::int8 as social_connection, \
                coalesce(floor(avg(resilience_score)), 0)::int8 as resilience \
         from mental_analyses where user_id = $1 and analysis_date between $2 and $3",
        &[(&user_id, Type::INT8), (&start, Type::DATE), (&end, Type::DATE)],
    )
    .await
}

/// The users with at least one analysis dated `start..=end`.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn users_with_analyses(db: &mut impl Executor, start: NaiveDate, end: NaiveDate) -> db::Result<Vec<i64>> {
    let users: Vec<Value<i64>> = db
        .fetch_all(
            "select distinct user_id as value from mental_analyses where analysis_date between $1 and $2",
            &[(&start, Type::DATE), (&end, Type::DATE)],
        )
        .await?;
    Ok(users.into_iter().map(|v| v.0).collect())
}

/// A report as the report job writes it.
pub struct NewReport<'a> {
    pub user_id: i64,
    pub report_type: &'a str,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub averages: &'a Averages,
    pub trend: &'a str,
    pub insights: &'a [String],
    pub recommendations: &'a [String],
}

/// Stores `report`, replacing the period's earlier one (and its creation time); its id.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = report.user_id, report_type = report.report_type))]
pub async fn upsert(db: &mut impl Executor, report: &NewReport<'_>) -> db::Result<i64> {
    let avg = report.averages;
    // The averages of 0..=100 scores fit the `smallint` columns.
    let scores = avg.axes.values().map(|score| score as i16);
    db.fetch_value(
        "insert into mental_reports (user_id, report_type, period_start, period_end, \
             avg_emotional_stability_score, avg_vitality_score, avg_self_esteem_score, avg_positivity_score, \
             avg_social_connection_score, avg_resilience_score, trend, insights, recommendations) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         on conflict (user_id, report_type, period_start) do update set \
             period_end = excluded.period_end, \
             avg_emotional_stability_score = excluded.avg_emotional_stability_score, \
             avg_vitality_score = excluded.avg_vitality_score, \
             avg_self_esteem_score = excluded.avg_self_esteem_score, \
             avg_positivity_score = excluded.avg_positivity_score, \
             avg_social_connection_score = excluded.avg_social_connection_score, \
             avg_resilience_score = excluded.avg_resilience_score, \
             trend = excluded.trend, insights = excluded.insights, recommendations = excluded.recommendations, \
             created_at = now() \
         returning id as value",
        &[
            (&report.user_id, Type::INT8),
            (&report.report_type, Type::TEXT),
            (&report.period_start, Type::DATE),
            (&report.period_end, Type::DATE),
            (&scores[0], Type::INT2),
            (&scores[1], Type::INT2),
            (&scores[2], Type::INT2),
            (&scores[3], Type::INT2),
            (&scores[4], Type::INT2),
            (&scores[5], Type::INT2),
            (&report.trend, Type::TEXT),
            (&report.insights, Type::TEXT_ARRAY),
            (&report.recommendations, Type::TEXT_ARRAY),
        ],
    )
    .await
}
