//! Response and request bodies of the subscription endpoints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    data::budgets::LlmBudget,
    data::subscriptions::{FREE_DAILY_CHAT_LIMIT, FREE_FRIEND_LIMIT, Subscription},
    platform::http::validate::{Validate, Violations},
};

#[derive(Serialize, ToSchema)]
pub struct Status {
    pub is_premium: bool,
    pub plan: String,
    pub status: String,
    #[serde(with = "crate::platform::time::utc_opt")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::platform::time::utc_opt")]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Whole days left, only while the expiry is in the future.
    pub days_remaining: Option<i64>,
    pub is_in_grace_period: bool,
}

impl Status {
    /// A user without a subscription row: free and active.
    pub fn free() -> Self {
        Self {
            is_premium: false,
            plan: "free".into(),
            status: "active".into(),
            expires_at: None,
            cancelled_at: None,
            days_remaining: None,
            is_in_grace_period: false,
        }
    }

    /// `sub` as of `now`.
    pub fn of(sub: Subscription, now: DateTime<Utc>) -> Self {
        let premium = sub.is_premium(now);
        Self {
            is_premium: premium,
            days_remaining: sub.expires_at.filter(|t| *t > now).map(|t| (t - now).num_days()),
            is_in_grace_period: premium && sub.status == "cancelled",
            plan: sub.plan,
            status: sub.status,
            expires_at: sub.expires_at,
            cancelled_at: sub.cancelled_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Usage {
    pub is_premium: bool,
    pub plan: String,
    pub daily_chat_messages: ChatUsage,
    pub friends: FriendUsage,
    pub features: Features,
    /// Added: this month's LLM spending against the plan's budget.
    pub llm_budget: Option<LlmBudget>,
}

impl Usage {
    /// What the plan allows, given today's own-persona chat messages and the friend count.
    pub fn new(premium: bool, chat_messages: i64, friends: i64) -> Self {
        let chat_limit = (!premium).then_some(FREE_DAILY_CHAT_LIMIT);
        Self {
            is_premium: premium,
            plan: if premium { "premium" } else { "free" }.into(),
            daily_chat_messages: ChatUsage {
                used: chat_messages,
                limit: chat_limit,
                remaining: chat_limit.map(|l| (l - chat_messages).max(0)),
            },
            friends: FriendUsage { count: friends, limit: (!premium).then_some(FREE_FRIEND_LIMIT) },
            features: Features { can_chat_with_friends: premium, advanced_stats: premium, chemistry_analysis: premium },
            llm_budget: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChatUsage {
    pub used: i64,
    pub limit: Option<i64>,
    pub remaining: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct FriendUsage {
    pub count: i64,
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Features {
    pub can_chat_with_friends: bool,
    pub advanced_stats: bool,
    pub chemistry_analysis: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Plan {
    pub name: String,
    pub price: i64,
    pub currency: String,
    pub features: Vec<String>,
    pub period_days: i64,
}

impl Plan {
    /// The two premium plans offered.
    pub fn all() -> Vec<Self> {
        let monthly: Vec<String> =
            ["페르소나 무제한 대화", "친구 페르소나와 대화", "상세 감정 리포트", "케미 분석", "친구 무제한 추가"]
                .map(String::from)
                .to_vec();
        let mut yearly = monthly.clone();
        yearly.push("2개월 무료 혜택".into());
        let plan = |name: &str, price, features, period_days| Plan {
            name: name.into(),
            price,
            currency: "KRW".into(),
            features,
            period_days,
        };
        vec![plan("프리미엄 월간", 4900, monthly, 30), plan("프리미엄 연간", 39900, yearly, 365)]
    }
}

#[derive(Deserialize, ToSchema)]
pub struct Upgrade {
    #[serde(default = "thirty")]
    pub period_days: i64,
}

fn thirty() -> i64 {
    30
}

impl Validate for Upgrade {
    fn validate(&self, _: &mut Violations) {}
}
