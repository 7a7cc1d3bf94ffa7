//! The per-plan daily message limit: messages to one's own persona count per UTC day, and the
//! free plan allows `FREE_DAILY_CHAT_LIMIT` of them; messages in friends' chats do not count.

use crate::{
    data::{
        chats::{self, Chat},
        subscriptions::{self, FREE_DAILY_CHAT_LIMIT},
    },
    platform::{
        db::Executor,
        error::{ApiError, ApiResult},
        time::today,
    },
};

/// The daily count a message goes to, and its limit (`None`: premium, unlimited).
pub(super) struct Quota {
    limit: Option<i64>,
}

/// The quota a message in `chat` counts against; `None` in a friend's chat, which skips the
/// premium lookup.
pub(super) async fn quota(db: &mut impl Executor, user_id: i64, chat: &Chat) -> ApiResult<Option<Quota>> {
    if !chat.is_own_persona {
        return Ok(None);
    }
    let premium = subscriptions::is_premium(db, user_id).await?;
    Ok(Some(Quota { limit: (!premium).then_some(FREE_DAILY_CHAT_LIMIT) }))
}

impl Quota {
    /// Counts one message of `user_id` today, in the caller's transaction; 403 once the day's
    /// limit is reached. Checking and counting are one statement, so concurrent sends cannot
    /// slip past the limit.
    pub(super) async fn count(&self, db: &mut impl Executor, user_id: i64) -> ApiResult<()> {
        if chats::count_message(db, user_id, today(), self.limit).await? {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "무료 플랜은 하루 {FREE_DAILY_CHAT_LIMIT}개의 메시지만 보낼 수 있습니다. 프리미엄으로 업그레이드하면 무제한으로 대화할 수 있습니다."
        )))
    }
}
