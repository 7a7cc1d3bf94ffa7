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
    assert!(text.contains("db_replica_up 1"));
}
