//! Platform: the plumbing every feature stands on (settings, Postgres, Redis, the cache, HTTP
//! extractors and middleware, the error type, metrics, telemetry, mail, time). It imports no
//! resource, no job and no handler.

pub mod activity;
pub mod cache;
pub mod core;
pub mod db;
pub mod error;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod pubsub;
pub mod random;
pub mod redis;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod writes;
