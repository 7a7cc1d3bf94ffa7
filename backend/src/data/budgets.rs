//! LLM spending per user and calendar month (UTC): the tokens the worker's calls used and their
//! cost, and the check against the user's plan (`platform::settings::BudgetSettings`).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;
use utoipa::ToSchema;

use crate::platform::{
    db::{self, Executor},
    settings::BudgetSettings,
};

/// The first day of the month of `now` (UTC): the budget period.
pub fn period_of(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive().with_day(1).expect("every month has a first day")
}

/// When the period of `now` ends and the budget resets.
pub fn resets_at(now: DateTime<Utc>) -> DateTime<Utc> {
    let start = period_of(now);
    let next = if start.month() == 12 {
        NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
    }
    .expect("a valid month");
    Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0).expect("midnight"))
}

/// A user's spending this month against their plan's budget.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LlmBudget {
    pub period_start: NaiveDate,
    pub tokens_used: i64,
    pub token_budget: i64,
    pub cost_used_usd: f64,
    pub cost_budget_usd: f64,
    /// When the budget resets (the next month, UTC).
    #[serde(with = "crate::platform::time::utc")]
    pub resets_at: DateTime<Utc>,
}

impl LlmBudget {
    pub fn exhausted(&self) -> bool {
        self.tokens_used >= self.token_budget || self.cost_used_usd >= self.cost_budget_usd
    }
}

struct Spent {
    tokens: i64,
    cost_micros: i64,
}
crate::from_row!(Spent { tokens, cost_micros });

/// `user_id`'s budget this month: what they spent and what their plan allows.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn budget(
    db: &mut impl Executor,
    user_id: i64,
    premium: bool,
    settings: &BudgetSettings,
    now: DateTime<Utc>,
) -> db::Result<LlmBudget> {
    let period = period_of(now);
    let spent: Option<Spent> = db
        .fetch_opt(
            "select tokens, cost_micros from llm_usage where user_id = $1 and period_start = $2",
            &[(&user_id, Type::INT8), (&period, Type::DATE)],
        )
        .await?;
    let (tokens, cost_micros) = spent.map_or((0, 0), |s| (s.tokens, s.cost_micros));
    let (token_budget, cost_budget_usd) = settings.of(premium);
    Ok(LlmBudget {
        period_start: period,
        tokens_used: tokens,
        token_budget: i64::try_from(token_budget).unwrap_or(i64::MAX),
        cost_used_usd: cost_micros as f64 / 1e6,
        cost_budget_usd,
        resets_at: resets_at(now),
    })
}

/// Adds `tokens` (and their cost at the configured price) to `user_id`'s spending this month.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id, tokens = tokens))]
pub async fn spend(
    db: &mut impl Executor,
    user_id: i64,
    tokens: u64,
    settings: &BudgetSettings,
    now: DateTime<Utc>,
) -> db::Result<()> {
    let period = period_of(now);
    let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
    let cost_micros = (tokens as f64 * settings.usd_per_million_tokens).round() as i64;
    db.execute(
        "insert into llm_usage (user_id, period_start, tokens, cost_micros) values ($1, $2, $3, $4) \
         on conflict (user_id, period_start) do update \
         set tokens = llm_usage.tokens + excluded.tokens, cost_micros = llm_usage.cost_micros + excluded.cost_micros",
        &[(&user_id, Type::INT8), (&period, Type::DATE), (&tokens, Type::INT8), (&cost_micros, Type::INT8)],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_the_calendar_month_and_resets_at_the_next_one() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(period_of(at("2026-12-31T23:59:59Z")).to_string(), "2026-12-01");
        assert_eq!(resets_at(at("2026-12-31T23:59:59Z")), at("2027-01-01T00:00:00Z"));
        assert_eq!(resets_at(at("2028-02-29T12:00:00Z")), at("2028-03-01T00:00:00Z"));
    }
}
