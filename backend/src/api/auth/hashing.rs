//! Argon2id password hashing, run on the blocking pool (a hash takes tens of milliseconds of CPU
//! and 19 MiB of memory). At most [`MAX_CONCURRENT`] run at once per process: a burst of logins
//! from many addresses waits for a slot, up to [`WAIT`], then gets a 503 with `Retry-After`,
//! rather than taking the instance out of memory.

use std::{sync::LazyLock, time::Duration};

use argon2::{Argon2, PasswordHasher, PasswordVerifier, password_hash::phc::PasswordHash};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::platform::error::{ApiError, ApiResult};

/// Hashes in flight per process (about 76 MiB at most).
pub const MAX_CONCURRENT: usize = 4;
/// How long a request waits for a free slot.
const WAIT: Duration = Duration::from_secs(2);

static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(MAX_CONCURRENT));

async fn slot() -> ApiResult<SemaphorePermit<'static>> {
    match tokio::time::timeout(WAIT, SLOTS.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            metrics::counter!("password_hash_rejected_total").increment(1);
            Err(ApiError::Unavailable("every password-hashing slot is busy".into()))
        }
    }
}

pub async fn hash(password: String) -> ApiResult<String> {
    let _slot = slot().await?;
    let hashed = tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string())
    })
    .await
    .map_err(anyhow::Error::from)?;
    Ok(hashed.map_err(|e| anyhow::anyhow!("hashing: {e}"))?)
}

/// Verifies `password` against a stored PHC string. With no stored hash (unknown e-mail) a dummy
/// hash is checked anyway, so a login for a missing account takes as long as a wrong password.
pub async fn verify(password: String, stored: Option<String>) -> ApiResult<bool> {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yqL3/2MQD8bXg6ePjFbP9aeaL6d3xJ5Y4xQz2bIhK1c";
    let _slot = slot().await?;
    let verified = tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY.to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        anyhow::Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known)
    })
    .await
    .map_err(anyhow::Error::from)?;
    Ok(verified?)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = super::hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse".into(), Some(h.clone())).await.unwrap());
        assert!(!super::verify("wrong".into(), Some(h)).await.unwrap());
        assert!(!super::verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn with_every_slot_taken_a_hash_is_refused_after_the_wait() {
        let _taken = super::SLOTS.acquire_many(super::MAX_CONCURRENT as u32).await.unwrap();
        let started = std::time::Instant::now();
        let refused = super::hash("password123".into()).await;
        assert!(matches!(refused, Err(crate::platform::error::ApiError::Unavailable(_))));
        assert!(started.elapsed() >= super::WAIT);
    }
}
