//! What each plan may spend on LLM calls per calendar month (UTC): tokens, and their cost at the
//! configured price. Past either, interactive requests get 429 (with `Retry-After` until the
//! month turns) and the worker fails the user's jobs without calling the model.

use super::check::Env;

#[derive(Clone, Debug)]
pub struct BudgetSettings {
    pub free_tokens: u64,
    pub premium_tokens: u64,
    pub free_usd: f64,
    pub premium_usd: f64,
    /// What a million tokens (in and out) cost at the provider, for the cost budgets.
    pub usd_per_million_tokens: f64,
}

impl BudgetSettings {
    pub(super) fn read(env: &mut Env<'_>) -> Self {
        Self {
            free_tokens: env.parse_or("LLM_BUDGET_FREE_TOKENS", 300_000),
            premium_tokens: env.parse_or("LLM_BUDGET_PREMIUM_TOKENS", 3_000_000),
            free_usd: env.parse_or("LLM_BUDGET_FREE_USD", 0.5),
            premium_usd: env.parse_or("LLM_BUDGET_PREMIUM_USD", 5.0),
            usd_per_million_tokens: env.parse_or("LLM_USD_PER_MILLION_TOKENS", 0.6),
        }
    }

    /// The limits of a plan: tokens and US dollars per month.
    pub fn of(&self, premium: bool) -> (u64, f64) {
        if premium { (self.premium_tokens, self.premium_usd) } else { (self.free_tokens, self.free_usd) }
    }
}
