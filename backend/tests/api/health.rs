//! Health, readiness, metrics and the OpenAPI document.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, json_of};

#[tokio::test]
async fn health_keeps_the_original_shape() {
    let app = TestApp::spawn().await;
    assert_eq!(json_of(app.get("/health", None).await, StatusCode::OK).await, json!({ "status": "healthy" }));
    assert_eq!(json_of(app.get("/health/live", None).await, StatusCode::OK).await, json!({ "status": "healthy" }));
}

#[tokio::test]
async fn ready_reports_primary_replica_and_redis() {
    let app = TestApp::spawn().await;
    let ready = json_of(app.get("/health/ready", None).await, StatusCode::OK).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["primary"], "up");
    assert_eq!(ready["checks"]["replica"]["status"], "up");
    assert_eq!(ready["checks"]["redis"], "up");
}

#[tokio::test]
async fn metrics_expose_requests_by_route_pools_by_role_and_replica_lag() {
    let app = TestApp::spawn().await;
    let token = app.user("minji").await;
    app.get("/api/v1/diaries/7", Some(&token)).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/v1/diaries/{diary_id}",status="404"}"#),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains(r#"db_pool_connections{role="primary",state="idle"}"#));
    assert!(text.contains(r#"db_pool_connections{role="replica",state="in_use"}"#));
    assert!(text.contains("db_replica_lag_bytes"));
    assert!(
        text.lines().any(|l| l.starts_with(r#"db_replica_up{replica="127.0.0.1:"#) && l.ends_with(" 1")),
        "the replica, labelled by its address, is up: {text}"
    );
}

/// Every app metric the dashboards and alerts use (monitoring/app-metrics.txt) is exported once
/// the API and the worker have done their usual work.
#[tokio::test]
async fn every_metric_the_dashboards_and_alerts_use_is_exported() {
    let app = TestApp::builder().worker().spawn().await;
    let token = app.user("minji").await;
    crate::personas::seven_diaries(&app, &token).await;
    json_of(app.post("/api/v1/personas/generate", Some(&token), json!({})).await, StatusCode::OK).await;
    let persona = json_of(app.get("/api/v1/personas/me", Some(&token)).await, StatusCode::OK).await;
    let chat = json_of(
        app.post("/api/v1/chats", Some(&token), json!({ "persona_id": persona["id"] })).await,
        StatusCode::CREATED,
    )
    .await;
    json_of(
        app.post(&format!("/api/v1/chats/{}/messages", chat["id"]), Some(&token), json!({ "content": "안녕" })).await,
        StatusCode::OK,
    )
    .await;
    json_of(app.get("/api/v1/diaries/stats", Some(&token)).await, StatusCode::OK).await;
    app.wait_for_jobs().await;
    // The worker's gauges refresh every few seconds.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let wanted =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../monitoring/app-metrics.txt")).unwrap();
    let missing: Vec<&str> = wanted
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|name| {
            !text.lines().any(|l| {
                l.starts_with(&format!("{name}{{"))
                    || l.starts_with(&format!("{name} "))
                    || l.starts_with(&format!("{name}_bucket"))
            })
        })
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}");
}

/// The LLM in use is visible: in readiness, and as `llm_provider_info` (the tests' is the dev LLM).
#[tokio::test]
async fn ready_and_the_metrics_name_the_llm_provider() {
    let app = TestApp::spawn().await;
    let ready = json_of(app.get("/health/ready", None).await, StatusCode::OK).await;
    assert_eq!(ready["llm_provider"], "dev", "{ready}");
    assert_eq!(ready["checks"]["primary"], "up", "the other fields stay: {ready}");
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(text.contains(r#"llm_provider_info{provider="dev",model="dev-model"} 1"#), "{text}");
}
