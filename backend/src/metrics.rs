//! Prometheus metrics through the `metrics` facade (the registry apalis's own metrics use too, so
//! HTTP, database, job and business metrics share one exporter). The recorder is process-global
//! and installed once; `/metrics` renders it after refreshing the pool gauges.

use std::sync::OnceLock;

use axum::{extract::State, http::header, response::IntoResponse};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{db::Role, state::AppState};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder on first call (idempotent, so every test app can call it).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), &buckets)
            .expect("valid buckets")
            .install_recorder()
            .expect("the metrics recorder is installed once")
    })
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    for role in [Role::Primary, Role::Replica] {
        let status = state.db.pool(role).status();
        let in_use = status.size.saturating_sub(status.available);
        metrics::gauge!("db_pool_connections", "role" => role.as_str(), "state" => "in_use").set(in_use as f64);
        metrics::gauge!("db_pool_connections", "role" => role.as_str(), "state" => "idle").set(status.available as f64);
        metrics::gauge!("db_pool_max_connections", "role" => role.as_str()).set(status.max_size as f64);
        metrics::gauge!("db_pool_waiting", "role" => role.as_str()).set(status.waiting as f64);
    }
    let replica = state.db.replica();
    metrics::gauge!("db_replica_up").set(if replica.is_reachable() { 1.0 } else { 0.0 });
    metrics::gauge!("db_replica_in_use").set(if replica.is_usable() { 1.0 } else { 0.0 });
    let body = install().render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}
