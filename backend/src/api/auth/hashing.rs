//! Argon2id password hashing, run on the blocking pool (a hash takes tens of milliseconds of CPU).

use argon2::{Argon2, PasswordHasher, PasswordVerifier, password_hash::phc::PasswordHash};

pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing: {e}"))
    })
    .await?
}

/// Verifies `password` against a stored PHC string. With no stored hash (unknown e-mail) a dummy
/// hash is checked anyway, so a login for a missing account takes as long as a wrong password.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$yqL3/2MQD8bXg6ePjFbP9aeaL6d3xJ5Y4xQz2bIhK1c";
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY.to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && known)
    })
    .await?
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
}
