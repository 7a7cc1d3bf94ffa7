//! The one cheap-to-clone application state handed to every handler.

use std::{ops::Deref, sync::Arc};

use crate::{
    auth::ratelimit::RateLimiter,
    cache::SingleFlight,
    db::{Db, IdBlock, RecentWrites},
    mail::Mailer,
    redis::Redis,
    settings::Settings,
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub db: Db,
    pub redis: Redis,
    pub mailer: Mailer,
    pub rate_limiter: RateLimiter,
    pub recent_writes: RecentWrites,
    pub single_flight: SingleFlight,
    /// New diaries' ids, reserved ahead (see `diaries::create_diary`).
    pub diary_ids: IdBlock,
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
