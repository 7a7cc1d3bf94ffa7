//! The one cheap-to-clone application state handed to every handler.

use std::{ops::Deref, sync::Arc};

use crate::{
    api::{
        auth::{jwt::JwtKey, ratelimit::RateLimiter, revoked::Revoked},
        chats::streams::OpenStreams,
    },
    platform::{
        cache::CacheStore,
        db::{Db, IdBlock},
        mail::Mailer,
        redis::Redis,
        settings::Settings,
        writes::Writes,
    },
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub db: Db,
    pub redis: Redis,
    pub cache: CacheStore,
    /// Every write path reports its commit here (read-your-writes and invalidation).
    pub writes: Writes,
    pub mailer: Mailer,
    pub rate_limiter: RateLimiter,
    /// New diaries' ids, reserved ahead (see `data::diaries::id_block`).
    pub diary_ids: IdBlock,
    /// Reply streams open per user on this instance (capped).
    pub open_streams: OpenStreams,
    /// Revocations whose Redis tombstone is still being written.
    pub revoked: Revoked,
    /// Signs and checks the session tokens.
    pub jwt: JwtKey,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
