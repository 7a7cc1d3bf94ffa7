//! Prometheus metrics through the `metrics` facade (the registry apalis's own metrics use too, so
//! HTTP, database, job and business metrics share one exporter). The recorder is process-global
//! and installed once; `/metrics` renders it after refreshing the pool gauges.

use std::sync::OnceLock;

use axum::{http::header, response::IntoResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::platform::{
    db::{Db, Role},
    settings::LlmSettings,
};

pub mod hot;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether the recorder is installed (a handle taken before would record nowhere).
fn installed() -> bool {
    HANDLE.get().is_some()
}

/// Installs the recorder on first call (idempotent, so every test app can call it), with the
/// per-job series of `job_kinds` at zero.
pub fn install(job_kinds: &[&str]) -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        // Every `*_seconds` histogram: from a millisecond (HTTP, Redis) to five minutes (jobs,
        // LLM calls, queue waits).
        let buckets =
            [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
            .expect("valid buckets")
            .install_recorder()
            .expect("the metrics recorder is installed once");
        register_zero(job_kinds);
        handle
    })
}

/// Counters that alerts take `rate()` of exist from the start at zero: a series that appears
/// with its first increment loses that increment to `rate()`.
fn register_zero(job_kinds: &[&str]) {
    metrics::counter!("redis_errors_total").absolute(0);
    for endpoint in ["register", "login", "resend-verification", "forgot-password", "reset-password"] {
        metrics::counter!("http_rate_limited_total", "endpoint" => endpoint).absolute(0);
    }
    for cache in crate::platform::cache::Cache::ALL {
        for result in ["hit", "miss", "error"] {
            metrics::counter!("cache_requests_total", "cache" => cache.name(), "result" => result).absolute(0);
        }
        for result in ["hit", "miss", "bypass"] {
            metrics::counter!("cache_local_requests_total", "cache" => cache.name(), "result" => result).absolute(0);
        }
        // Registered, so its panels have series before the first miss recomputes a value.
        let _ = metrics::histogram!("cache_recompute_duration_seconds", "cache" => cache.name());
    }
    for &job in job_kinds {
        metrics::counter!("jobs_enqueued_total", "job" => job.to_owned()).absolute(0);
        for outcome in ["done", "failed"] {
            metrics::counter!("jobs_completed_total", "job" => job.to_owned(), "outcome" => outcome).absolute(0);
        }
    }
    for name in ["users_registered_total", "diaries_created_total", "personas_generated_total", "chat_messages_total"] {
        metrics::counter!(name).absolute(0);
    }
}

/// The LLM series of a worker's model, at zero (the model is known only from settings).
pub fn register_llm_zero(model: &str) {
    for op in ["persona", "quiz_persona", "analysis", "report", "weekly_summary", "prompt_suggestions", "chat"] {
        metrics::counter!("llm_requests_total", "operation" => op, "model" => model.to_owned()).absolute(0);
        for kind in ["rate_limited", "server", "timeout", "invalid_output", "other"] {
            metrics::counter!("llm_errors_total", "kind" => kind, "operation" => op, "model" => model.to_owned())
                .absolute(0);
        }
    }
}

/// `llm_provider_info{provider, model} 1`: which LLM this process's settings call (the API's and
/// the worker's alike), so a dashboard or an alert sees the development double in use.
pub fn register_llm_provider(llm: &LlmSettings) {
    let labels = [("provider", llm.provider.as_str().to_owned()), ("model", llm.model.clone())];
    metrics::gauge!("llm_provider_info", &labels).set(1.0);
}

/// The exposition, after refreshing the pool and replica gauges of `db`.
pub fn render(db: &Db) -> impl IntoResponse + use<> {
    // The replica pools add up under role="replica" (what the dashboards and alerts read).
    let mut totals = [[0usize; 4]; 2];
    let roles = std::iter::once(Role::Primary).chain((0..db.replicas().len()).map(Role::Replica));
    for role in roles {
        let status = db.pool(role).status();
        let total = &mut totals[usize::from(role != Role::Primary)];
        total[0] += status.size.saturating_sub(status.available);
        total[1] += status.available;
        total[2] += status.max_size;
        total[3] += status.waiting;
    }
    for (role, [in_use, idle, max, waiting]) in ["primary", "replica"].into_iter().zip(totals) {
        metrics::gauge!("db_pool_connections", "role" => role, "state" => "in_use").set(in_use as f64);
        metrics::gauge!("db_pool_connections", "role" => role, "state" => "idle").set(idle as f64);
        metrics::gauge!("db_pool_max_connections", "role" => role).set(max as f64);
        metrics::gauge!("db_pool_waiting", "role" => role).set(waiting as f64);
    }
    for replica in db.replicas() {
        let label = [("replica", replica.name)];
        metrics::gauge!("db_replica_up", &label).set(if replica.health.is_reachable() { 1.0 } else { 0.0 });
        metrics::gauge!("db_replica_in_use", &label).set(if replica.health.is_usable() { 1.0 } else { 0.0 });
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], exposition())
}

/// The exposition of every series, as installed (empty before [`install`]).
pub fn exposition() -> String {
    HANDLE.get().map(PrometheusHandle::render).unwrap_or_default()
}
