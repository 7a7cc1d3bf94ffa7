//! The monthly LLM budget at the door: a request that would start LLM work (a chat reply, a
//! persona, a report) is refused with 429 and `Retry-After` (until the month turns) once the
//! user's plan budget is spent. The worker checks again before every job (`jobs::lifecycle`).

use chrono::Utc;

use crate::{
    api::state::AppState,
    data::{budgets, subscriptions},
    platform::error::{ApiError, ApiResult},
};

/// The 429's detail.
pub const EXHAUSTED: &str = "Monthly AI budget used up. It resets at the start of next month.";

/// `Ok` while `user_id` may still spend on LLM calls this month.
pub async fn ensure_within(state: &AppState, user_id: i64) -> ApiResult<()> {
    let mut db = state.db.writer().await?;
    let premium = subscriptions::is_premium(&mut db, user_id).await?;
    let now = Utc::now();
    let budget = budgets::budget(&mut db, user_id, premium, &state.settings.budgets, now).await?;
    if !budget.exhausted() {
        return Ok(());
    }
    metrics::counter!("llm_budget_refusals_total").increment(1);
    let seconds = u64::try_from((budget.resets_at - now).num_seconds()).unwrap_or(0).max(1);
    Err(ApiError::RetryAfter { detail: EXHAUSTED.into(), seconds })
}
