//! One-time e-mail tokens (verification and password reset): issued at most once a minute per
//! account and purpose, mailed as a link, stored only as a SHA-256 hash, used once.

use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};

use crate::{
    api::state::AppState,
    data::sessions,
    platform::{
        db::Executor,
        error::{ApiError, ApiResult},
        random,
    },
};

#[derive(Clone, Copy)]
pub enum Purpose {
    Verify,
    Reset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }

    fn lifetime(self) -> Duration {
        match self {
            Self::Verify => Duration::hours(24),
            Self::Reset => Duration::hours(1),
        }
    }

    fn too_soon(self) -> ApiError {
        ApiError::too_many(match self {
            Self::Verify => "Please wait before requesting another verification email",
            Self::Reset => "Please wait before requesting another password reset email",
        })
    }

    /// The mail's subject and the frontend page its link opens.
    fn mail(self) -> (&'static str, &'static str) {
        match self {
            Self::Verify => ("[DearMe] 이메일 인증", "verify-email"),
            Self::Reset => ("[DearMe] 비밀번호 재설정", "reset-password"),
        }
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Issues a one-time token and mails its link; at most one per minute per account and purpose.
#[tracing::instrument(level = "debug", skip_all, fields(user_id = user_id))]
pub async fn send(
    state: &AppState,
    db: &mut impl Executor,
    user_id: i64,
    email: &str,
    purpose: Purpose,
) -> ApiResult<()> {
    if sessions::token_sent_recently(db, user_id, purpose.as_str()).await? {
        return Err(purpose.too_soon());
    }
    let token = random::token(32);
    let expires_at = Utc::now() + purpose.lifetime();
    sessions::insert_token(db, &token_hash(&token), user_id, purpose.as_str(), expires_at).await?;
    let base = state.settings.frontend_url.trim_end_matches('/');
    let (subject, path) = purpose.mail();
    let link = format!("{base}/{path}?token={token}");
    let body = format!("아래 링크를 열어 계속하세요:\n\n{link}\n");
    state.mailer.send(email, subject, &body, &link).await.map_err(ApiError::Internal)
}

/// Issues and mails a token in the background, for the endpoints that must answer the same
/// whether or not the account exists (forgot-password, resend-verification): the answer never
/// waits on SMTP, and neither a mail failure nor "too soon" reaches the caller. A token asked for
/// within a minute of the last one is simply not sent.
pub fn send_detached(state: &AppState, user_id: i64, email: String, purpose: Purpose) {
    let state = state.clone();
    tokio::spawn(async move {
        let sent = async {
            let mut db = state.db.writer().await?;
            send(&state, &mut db, user_id, &email, purpose).await?;
            state.writes.committed(&mut db, user_id, &[]).await?;
            ApiResult::Ok(())
        };
        match sent.await {
            Ok(()) => {}
            Err(ApiError::TooManyRequests(_)) => tracing::debug!(user_id, "e-mail token asked for too soon; not sent"),
            Err(err) => tracing::warn!(user_id, error = %err, "e-mail token not sent"),
        }
    });
}

/// Whether a token is known, unused and unexpired (without using it).
pub async fn is_valid(db: &mut impl Executor, token: &str, purpose: Purpose) -> ApiResult<bool> {
    Ok(sessions::token_is_valid(db, &token_hash(token), purpose.as_str()).await?)
}

/// Marks a valid token used and returns its account; `None` if unknown, used or expired.
pub async fn consume(db: &mut impl Executor, token: &str, purpose: Purpose) -> ApiResult<Option<i64>> {
    Ok(sessions::consume_token(db, &token_hash(token), purpose.as_str()).await?)
}
